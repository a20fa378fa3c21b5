// Package testkit holds what tests of several packages need and that depends on nothing of
// Switchboard's, so that any package's tests may use it.
package testkit

import (
	"net"
	"testing"
	"time"
)

// Eventually waits up to 10s for cond, polling; for what arrives asynchronously (a KV watch
// feeding another instance), never as a stand-in for a synchronisation the code should give.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FreeAddr is a loopback address (127.0.0.1:port) nothing listens on at the moment, for a
// listener a test must know before it starts, or start again on the same address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
