package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRetrySettling: the answers a stream gives while it settles are asked again; any other
// answer, and "not found" for a stream not known to exist, are returned at once.
func TestRetrySettling(t *testing.T) {
	denied := errors.New("permissions violation")
	for _, tc := range []struct {
		name    string
		exists  bool
		answers []error // one per attempt; nil ends it
		want    error
		tries   int
	}{
		{"answered at once", false, []error{nil}, nil, 1},
		{"no responders, then answered", false, []error{nats.ErrNoResponders, nats.ErrNoResponders, nil}, nil, 3},
		{"attempt timed out, then answered", false, []error{context.DeadlineExceeded, nil}, nil, 2},
		{"not found, not known to exist", false, []error{jetstream.ErrStreamNotFound}, jetstream.ErrStreamNotFound, 1},
		{"not found, just created", true, []error{jetstream.ErrStreamNotFound, jetstream.ErrBucketNotFound, nil}, nil, 3},
		{"another error", true, []error{denied}, denied, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tries := 0
			_, err := retrySettling(context.Background(), tc.exists, func(context.Context) (int, error) {
				err := tc.answers[tries]
				tries++
				return tries, err
			})
			if tries != tc.tries {
				t.Errorf("%d attempts, want %d", tries, tc.tries)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("gives up with its context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := retrySettling(ctx, false, func(context.Context) (int, error) { return 0, nats.ErrNoResponders })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the context's deadline", err)
		}
		if want := nats.ErrNoResponders.Error(); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say the last answer %q", err, want)
		}
	})
}
