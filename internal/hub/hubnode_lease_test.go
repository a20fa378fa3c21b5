package hub

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestStillHeld: a hub node lease whose renewal failed stays held (its services running) while
// no other instance can have taken it, unless the failure says it is gone.
func TestStillHeld(t *testing.T) {
	mismatch := fmt.Errorf("nats: wrong last sequence: %w", jetstream.ErrKeyRevisionMismatch)
	for _, tc := range []struct {
		name    string
		err     error
		renewed time.Duration
		want    bool
	}{
		{"timeout, renewed a beat ago", context.DeadlineExceeded, hubLeaseBeat, true},
		{"no responders, renewed a beat ago", nats.ErrNoResponders, hubLeaseBeat, true},
		{"timeout, just before it could lapse less a beat", errors.New("nats: timeout"), hubLeaseTTL - hubLeaseBeat - time.Millisecond, true},
		{"timeout, too close to lapsing", context.DeadlineExceeded, hubLeaseTTL - hubLeaseBeat, false},
		{"timeout, past the lease time", context.DeadlineExceeded, hubLeaseTTL + time.Second, false},
		{"revision mismatch: taken or lapsed", mismatch, time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stillHeld(tc.err, tc.renewed); got != tc.want {
				t.Errorf("stillHeld(%v, %v) = %v, want %v", tc.err, tc.renewed, got, tc.want)
			}
		})
	}
}
