package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Streams of durable events.
const (
	// EventsStream holds every durable event: on sb.events.<solution>.<topic> as published,
	// and on sb.to.<solution>.<handler> when meant for one handler alone (a replayed dead
	// letter, an async OpenFaaS call). Every handler reads it through its own consumer
	// (ConsumerName); with interest retention an event is kept until each consumer it
	// reached has acknowledged it. Its Nats-Msg-Id is the event id, so an event sent again
	// within DedupWindow is stored once.
	EventsStream = "SB_EVENTS"
	// DLQStream holds the events a handler failed on for the last time, on
	// sb.dlq.<solution>.<handler>, as DeadLetter records.
	DLQStream = "SB_DLQ"

	// DedupWindow is how long an event id is remembered.
	DedupWindow = 2 * time.Minute
	// EventsMaxAge is how long an event waits for a handler that does not take it (stopped
	// everywhere, or failing with long back-off) before it expires; dlqMaxAge bounds how long
	// dead letters are kept.
	EventsMaxAge = 7 * 24 * time.Hour
	dlqMaxAge    = 30 * 24 * time.Hour

	// ackWait is how long a delivery may go without word before it is sent again; a run
	// in progress, and an ordered event waiting its turn, report every ackWait/3, so only a
	// vanished instance lets it expire.
	ackWait = 30 * time.Second
	// notYetKnownWait is how long an event waits for this instance to learn of its handler's
	// solution, created elsewhere just before the event came.
	notYetKnownWait = 250 * time.Millisecond

	// replaysHeader counts the times an event came back from the dead-letter stream.
	replaysHeader = "Sb-Replays"
)

// DeadLetter is the body of a DLQStream message.
type DeadLetter struct {
	Handler  string          `json:"handler"`
	Event    json.RawMessage `json:"event"`
	Error    string          `json:"error"`
	Kind     string          `json:"kind,omitempty"` // as HandlerError.Kind
	Attempts uint64          `json:"attempts"`
	FailedAt time.Time       `json:"failed_at"`
	Replays  int             `json:"replays,omitempty"` // times it came back from here before
}

// ErrNotStored is matched (errors.Is) by the error of an event JetStream did not store: no
// answer in time, no quorum, the connection lost. Nothing was refused: the event may be sent
// again with the same id, and is stored once.
var ErrNotStored = errors.New("event not stored")

// notStored is a storage failure, reading as "store event: <cause>" and matching both its
// cause and ErrNotStored.
type notStored struct{ err error }

func (e notStored) Error() string   { return "store event: " + e.err.Error() }
func (e notStored) Unwrap() []error { return []error{e.err, ErrNotStored} }

// Enqueue stores e durably and returns once it is stored; every handler subscribed to its
// topic runs it later, on whichever instance has started. No handler is ErrNoHandler
// (wrapped), and nothing is stored. Sending the same event id again within DedupWindow
// stores nothing new.
func (d *Dispatcher) Enqueue(ctx context.Context, e Event) error {
	return d.EnqueueBatch(ctx, []Event{e})[0]
}

// EnqueueBatch is Enqueue of many events at once, stored together in one round trip to
// JetStream rather than one each. The result holds each one's error, in order. Should any
// event be refused (invalid, or no handler), none is stored; otherwise each one's error is
// nil once it is stored (sending a batch again is safe: ids already stored are stored once).
func (d *Dispatcher) EnqueueBatch(ctx context.Context, es []Event) []error {
	errs := make([]error, len(es))
	pubs := make([]pending, 0, 2*len(es))
	refused := false
	for i, e := range es {
		e, err := prepare(ctx, d.o.Tracer, e)
		if err == nil {
			var p []pending
			p, err = d.toStore(e)
			for _, m := range p {
				m.event = i
				pubs = append(pubs, m)
			}
		}
		errs[i] = err
		refused = refused || err != nil
	}
	if refused || len(pubs) == 0 {
		return errs
	}
	if err := d.setup(ctx); err != nil {
		for _, p := range pubs {
			errs[p.event] = notStored{err}
		}
		return errs
	}
	d.store(ctx, pubs, errs)
	return errs
}

// EnqueueTo stores e durably for handler alone, whatever topics it subscribes to: the
// OpenFaaS gateway's async call names a function, not a topic. A missing solution or handler
// is ErrNoHandler (wrapped).
func (d *Dispatcher) EnqueueTo(ctx context.Context, e Event, handler string) error {
	e, err := prepare(ctx, d.o.Tracer, e)
	if err != nil {
		return err
	}
	if _, ok := d.o.Limits(e.Solution); !ok {
		return fmt.Errorf("solution %s does not exist: %w", e.Solution, ErrNoHandler)
	}
	if _, ok := d.o.Store.handler(e.Solution, handler); !ok {
		return fmt.Errorf("handler %s of solution %s: %w", handler, e.Solution, ErrNoHandler)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("event %s: data is not JSON: %w", e.ID, err)
	}
	if err := d.setup(ctx); err != nil {
		return notStored{err}
	}
	// Only into a consumer that exists: with interest retention, an event nobody reads is let
	// go of at once.
	if _, err := d.o.Bus.JetStream().Consumer(ctx, EventsStream, directConsumerName(e.Solution, handler)); err != nil {
		return fmt.Errorf("event %s for handler %s: %w", e.ID, handler, err)
	}
	errs := []error{nil}
	key := dedupKey(e) + "/" + handler
	d.store(ctx, []pending{
		{subject: directSubject(e.Solution, handler), data: data, id: key},
		d.fanOut(e, []string{handler}),
	}, errs)
	return errs[0]
}

// pending is one message to store for the event at index event of a batch.
type pending struct {
	subject string
	data    []byte
	id      string // Nats-Msg-Id, "" for none
	header  nats.Header
	event   int
}

// toStore is what storing e takes: the event itself, then the record of the handlers it
// fans out to, which its delivery report starts from.
func (d *Dispatcher) toStore(e Event) ([]pending, error) {
	if _, ok := d.o.Limits(e.Solution); !ok {
		return nil, fmt.Errorf("solution %s does not exist: %w", e.Solution, ErrNoHandler)
	}
	bs := d.o.Store.subscribed(e.Solution, e.Topic)
	if len(bs) == 0 {
		return nil, fmt.Errorf("topic %s of solution %s: %w", e.Topic, e.Solution, ErrNoHandler)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("event %s: data is not JSON: %w", e.ID, err)
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.h.Name
	}
	// Deduplication is stream-wide, so the message id names the solution and topic: the same
	// event id from another solution or service is another event.
	return []pending{{subject: eventSubject(e.Solution, e.Topic), data: data, id: dedupKey(e)}, d.fanOut(e, names)}, nil
}

// store publishes every message without waiting between them, then waits for all; errs
// gets each event's first failure.
func (d *Dispatcher) store(ctx context.Context, pubs []pending, errs []error) {
	js := d.o.Bus.JetStream()
	futures := make([]jetstream.PubAckFuture, len(pubs))
	for i, p := range pubs {
		msg := &nats.Msg{Subject: p.subject, Data: p.data, Header: p.header}
		var opts []jetstream.PublishOpt
		if p.id != "" {
			opts = append(opts, jetstream.WithMsgID(p.id))
		}
		f, err := js.PublishMsgAsync(msg, opts...)
		if err != nil {
			errs[p.event] = cmp.Or(errs[p.event], error(notStored{err}))
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[pubs[i].event] = cmp.Or(errs[pubs[i].event], error(notStored{err}))
		case <-ctx.Done():
			errs[pubs[i].event] = cmp.Or(errs[pubs[i].event], error(notStored{ctx.Err()}))
		}
	}
}

// dedupKey is an event's message id: its id within its solution and topic.
func dedupKey(e Event) string { return e.Solution + "/" + e.Topic + "/" + e.ID }

// setup creates the streams and the deliveries bucket when missing.
func (d *Dispatcher) setup(ctx context.Context) error {
	d.setupMu.Lock()
	defer d.setupMu.Unlock()
	if d.ready {
		return nil
	}
	if d.o.Bus == nil {
		return errors.New("events: durable events need a bus")
	}
	if err := ensureEventStreams(ctx, d.o.Bus.JetStream(), d.o.Bus.Replicas()); err != nil {
		return err
	}
	if err := d.openDeliveries(ctx); err != nil {
		return err
	}
	d.ready = true
	return nil
}

// ensureEventStreams creates the events and dead-letter streams when missing. An events
// stream kept by an earlier version is brought to this one's subjects and retention.
func ensureEventStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	for _, cfg := range []jetstream.StreamConfig{
		{Name: EventsStream, Description: "Switchboard events, until every handler they reach has run them",
			Subjects: []string{"sb.events.>", "sb.to.>"}, Retention: jetstream.InterestPolicy,
			Storage: jetstream.FileStorage, Replicas: replicas, Duplicates: DedupWindow, MaxAge: EventsMaxAge},
		{Name: DLQStream, Description: "Switchboard event handler runs that kept failing", Subjects: []string{"sb.dlq.>"},
			Storage: jetstream.FileStorage, Replicas: replicas, Duplicates: DedupWindow, MaxAge: dlqMaxAge},
	} {
		if err := ensureStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	return nil
}

// ensureStream creates a stream unless it exists. An existing one keeps its settings, so
// instances of different versions do not fight over them, except that subjects and
// retention it lacks are added: without them this version's events would not be stored.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	st, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		cur := st.CachedInfo().Config
		if slices.Equal(cur.Subjects, cfg.Subjects) && cur.Retention == cfg.Retention {
			return nil
		}
		cur.Subjects = cfg.Subjects
		want := cur
		want.Retention, want.MaxAge = cfg.Retention, cfg.MaxAge
		if _, err := js.UpdateStream(ctx, want); err == nil {
			return nil
		}
		// A server before 2.10 keeps a stream's retention for life: the events then stay
		// for the stream's own max age, acknowledged or not, which costs disk only.
		if _, err := js.UpdateStream(ctx, cur); err != nil {
			return fmt.Errorf("update stream %s: %w", cfg.Name, err)
		}
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("open stream %s: %w", cfg.Name, err)
	}
	_, err = js.CreateStream(ctx, cfg)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return nil
}

// retryPlan is how many times h runs for one event and the wait before each retry (after
// failed attempt n; a positive retryAfter is the wait the run asked for). A handler without a
// policy keeps the dispatcher's attempts and fixed back-off table.
func (d *Dispatcher) retryPlan(h Handler) (int, func(n int, retryAfter time.Duration) time.Duration) {
	if h.Retry == nil {
		table := d.o.Backoff
		return d.o.MaxDeliver, func(n int, retryAfter time.Duration) time.Duration {
			if retryAfter > 0 {
				return min(retryAfter, slices.Max(table))
			}
			return table[min(n-1, len(table)-1)]
		}
	}
	p := h.Retry.withDefaults(d.o.MaxDeliver)
	return p.Attempts, func(n int, retryAfter time.Duration) time.Duration { return p.Backoff(n, retryAfter, jitter) }
}

// retryAfter reads a run's request to be retried later: a returned table whose retry_after
// is a positive number of seconds.
func retryAfter(ret any) (time.Duration, bool) {
	m, ok := ret.(map[string]any)
	if !ok {
		return 0, false
	}
	secs, ok := m["retry_after"].(float64) // Lua numbers reach Go as float64
	if !ok {
		return 0, false
	}
	if math.IsNaN(secs) || secs < 0 {
		secs = 0 // asked, without a usable wait: the policy's own back-off
	}
	secs = min(secs, MaxRetryWait.Seconds())
	return time.Duration(secs * float64(time.Second)), true
}

// ack acknowledges a delivery. It does not wait for the server: an ack lost with the
// connection only runs the handler again, which at-least-once delivery allows.
func (d *Dispatcher) ack(m jetstream.Msg, log interface{ Warn(string, ...any) }) {
	if err := m.Ack(); err != nil {
		log.Warn("event not acknowledged; it may run again", "err", err)
	}
}

// parcel is a delivery as read: the handler it is for, the event as stored, and how often it
// came back from the dead-letter stream.
type parcel struct {
	sol, handler string
	raw          json.RawMessage
	replays      int
}

// park moves a delivery to the dead-letter stream with its error, and reports whether it
// did. The dead letter's id makes a second park of the same delivery (after a lost ack) a
// no-op.
func (d *Dispatcher) park(ctx context.Context, m jetstream.Msg, p parcel, eventKey string, cause error, attempts uint64) bool {
	dl := DeadLetter{Handler: p.handler, Event: p.raw, Error: cause.Error(), Attempts: attempts, FailedAt: time.Now().UTC(), Replays: p.replays}
	var he *HandlerError
	if errors.As(cause, &he) {
		dl.Kind = he.Kind()
	}
	if len(dl.Event) == 0 || !json.Valid(dl.Event) {
		dl.Event = nil
	}
	data, _ := json.Marshal(dl)
	var opts []jetstream.PublishOpt
	if eventKey != "" {
		// A replay failing again is another dead letter, even within the dedup window.
		id := eventKey + "/" + p.handler
		if p.replays > 0 {
			id += "/replay" + strconv.Itoa(p.replays)
		}
		opts = append(opts, jetstream.WithMsgID(id))
	}
	if _, err := d.o.Bus.JetStream().Publish(ctx, "sb.dlq."+p.sol+"."+p.handler, data, opts...); err != nil {
		d.log.Error("event not parked; retrying later", "solution", p.sol, "handler", p.handler, "err", err)
		m.NakWithDelay(d.o.Backoff[len(d.o.Backoff)-1]) //nolint:errcheck // redelivered after ackWait anyway
		return false
	}
	if d.o.Metrics != nil {
		d.o.Metrics.HandlerDeadLetters.WithLabelValues(p.sol, p.handler).Inc()
	}
	d.ack(m, d.log)
	return true
}
