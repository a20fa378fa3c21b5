package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/followers"
)

// Tail slot errors.
var (
	ErrTooManyTails = errors.New("this solution's events have as many live tails as allowed; stop one, or try again later")
	ErrTailsFull    = errors.New("the server has as many live event tails as it allows; try again later")
)

// TakeTail takes one of the live tail slots for sol; release gives it back. ErrTooManyTails
// or ErrTailsFull when none is free.
func (d *Dispatcher) TakeTail(sol string) (release func(), err error) {
	return d.tails.Take(sol)
}

// EndTails ends every live tail (the server is stopping: they would hold its shutdown).
func (d *Dispatcher) EndTails() { d.tails.End() }

// Tail calls send with each event of sol stored from now on (published for durable
// delivery, on any instance) whose topic matches pattern, a topic or a subscription with
// wildcards ("" = every topic), until ctx ends, EndTails, or send fails. ready is called
// once, when every event stored after it will be sent, and before any is; an error before
// ready means the tail never started. idle is called when nothing arrived for heartbeat, and
// may fail to end the tail. The caller holds a tail slot (TakeTail).
func (d *Dispatcher) Tail(ctx context.Context, sol, pattern string, heartbeat time.Duration, ready func() error, send func(Event) error, idle func() error) error {
	filter := ">"
	if pattern != "" {
		if err := ValidateSubscription(pattern); err != nil {
			return err
		}
		filter = pattern
	}
	if err := d.setup(ctx); err != nil {
		return err
	}
	// An ordered consumer is ephemeral and starts at the next message: it reads the stream
	// without touching the work every instance shares, and goes away with the tail.
	c, err := d.o.Bus.JetStream().OrderedConsumer(ctx, EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"sb.events." + sol + "." + filter},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("tail events of %s: %w", sol, err)
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("tail events of %s: %w", sol, err)
	}
	defer it.Stop()
	if err := ready(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan Event, 16)
	go func() {
		defer close(got)
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				return
			}
			var e Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				d.log.Warn("stored event not readable", "subject", m.Subject(), "err", err)
				continue
			}
			select {
			case got <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := followers.Pump(ctx, d.tails, heartbeat, got, send, idle); err != nil || ctx.Err() != nil {
		return err
	}
	select {
	case <-d.tails.Ending():
		return nil
	default:
		return fmt.Errorf("tail events of %s: the stream ended", sol)
	}
}
