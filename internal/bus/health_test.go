package bus

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestHealth: Health is nil while JetStream answers and names the reason once it stops
// answering though the connection stays up.
func TestHealth(t *testing.T) {
	b, err := Open(context.Background(), Config{DataDir: t.TempDir(), Name: "health"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Health(); err != nil {
		t.Fatalf("health of a fresh bus: %v", err)
	}
	// The answer is cached: a second probe makes no call.
	b.health.mu.Lock()
	at := b.health.at
	b.health.mu.Unlock()
	if err := b.Health(); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if b.health.at != at {
		t.Fatal("a second probe within the cache time checked again")
	}

	b.health.mu.Lock()
	b.health.ttl = time.Nanosecond
	b.health.mu.Unlock()
	if err := b.server.DisableJetStream(); err != nil {
		t.Fatalf("disable JetStream: %v", err)
	}
	if !b.Ready() {
		t.Fatal("the connection went down with JetStream")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := b.Health()
		if err != nil {
			if !strings.Contains(err.Error(), "JetStream not answering") {
				t.Fatalf("health error %q does not say JetStream is not answering", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Health stayed nil with JetStream disabled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
