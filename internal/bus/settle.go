package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// askTimeout bounds the first attempt of a JetStream API request about a stream that may have
// just been created; each further attempt gets twice as long, up to maxAskTimeout, so a server
// that is merely slow still answers. On a cluster a new replicated stream answers nothing at
// all until its replicas have elected a leader (the request is dropped, and the caller would
// wait out its whole deadline), and for a moment after that servers that have not applied the
// assignment yet say it does not exist. Short attempts, repeated, turn that window into a
// short wait. A caller without a deadline gets settleLimit.
const (
	askTimeout    = 200 * time.Millisecond
	maxAskTimeout = 3 * time.Second
	settleLimit   = 30 * time.Second
)

// settling reports whether err is one of the answers a stream gives while it settles.
func settling(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// retrySettling runs ask until it succeeds, fails with an error other than a settling one (or,
// when exists is set, other than "not found": the stream was just created, so not found only
// means this server has not heard yet), or ctx ends.
func retrySettling[T any](ctx context.Context, exists bool, ask func(context.Context) (T, error)) (T, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, settleLimit)
		defer cancel()
	}
	wait, limit := 20*time.Millisecond, askTimeout
	for {
		actx, cancel := context.WithTimeout(ctx, limit)
		v, err := ask(actx)
		cancel()
		if err == nil {
			return v, nil
		}
		notYet := exists && (errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound))
		if !notYet && !settling(ctx, err) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (the stream had not settled: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait, limit = min(2*wait, 250*time.Millisecond), min(2*limit, maxAskTimeout)
	}
}

// Stream looks up a stream, waiting while it settles (see askTimeout). A stream that does not
// exist is jetstream.ErrStreamNotFound at once, unless exists says it was just created.
func (b *Bus) Stream(ctx context.Context, name string, exists bool) (jetstream.Stream, error) {
	return retrySettling(ctx, exists, func(ctx context.Context) (jetstream.Stream, error) {
		return b.js.Stream(ctx, name)
	})
}
