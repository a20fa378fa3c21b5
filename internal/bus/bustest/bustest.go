// Package bustest gives tests a bus of their own: an embedded NATS server with JetStream in
// the test's temporary directory, closed when the test ends.
package bustest

import (
	"context"
	"testing"

	"github.com/switchboardhq/switchboard/internal/bus"
)

// Open starts a bus for t.
func Open(t testing.TB) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Name: "test"})
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
