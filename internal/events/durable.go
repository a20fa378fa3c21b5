package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/script"
)

// Streams and the consumer of durable events.
const (
	// EventsStream records every enqueued event on sb.events.<solution>.<topic>; its
	// Nats-Msg-Id is the event id, so an event sent again within DedupWindow is stored once.
	EventsStream = "SB_EVENTS"
	// WorkStream holds one work item per (event, handler) on sb.work.<solution>.<handler>,
	// removed once acknowledged. One item per handler is what lets a retry run only the
	// handler that failed.
	WorkStream = "SB_WORK"
	// DLQStream holds the work items that failed MaxDeliver times, on
	// sb.dlq.<solution>.<handler>, as DeadLetter records.
	DLQStream = "SB_DLQ"
	// ConsumerName is the durable pull consumer of WorkStream every instance shares.
	ConsumerName = "sb-events"

	// DedupWindow is how long an event id is remembered.
	DedupWindow = 2 * time.Minute
	// eventsMaxAge and dlqMaxAge bound how long events and dead letters are kept.
	eventsMaxAge = 24 * time.Hour
	dlqMaxAge    = 30 * 24 * time.Hour

	// ackWait is how long a delivery may go without word before it is sent again; a run
	// in progress reports every ackWait/3, so only a vanished instance lets it expire.
	ackWait = 30 * time.Second
	// notYetKnownWait is how long a work item waits for this instance to learn of its
	// handler, deployed elsewhere just before the event came.
	notYetKnownWait = 250 * time.Millisecond
	// workers bounds the handler runs one instance does at once.
	workers = 16
)

// workItem is the body of a WorkStream message: the handler to run and the event, whole, so
// the item needs nothing else to run.
type workItem struct {
	Handler string          `json:"handler"`
	Event   json.RawMessage `json:"event"`
	// Replays counts the times the item came back from the dead-letter stream.
	Replays int `json:"replays,omitempty"`
}

// DeadLetter is the body of a DLQStream message.
type DeadLetter struct {
	Handler  string          `json:"handler"`
	Event    json.RawMessage `json:"event"`
	Error    string          `json:"error"`
	Kind     string          `json:"kind,omitempty"` // as HandlerError.Kind
	Attempts uint64          `json:"attempts"`
	FailedAt time.Time       `json:"failed_at"`
	Replays  int             `json:"replays,omitempty"` // as workItem.Replays
}

// Enqueue stores e durably, with one work item per handler subscribed to its topic now, and
// returns once they are stored; the handlers run later, on whichever instance has started.
// No handler is ErrNoHandler (wrapped), and nothing is stored. Sending the same event id
// again within DedupWindow stores nothing new, but completes an earlier call that failed
// half-way.
func (d *Dispatcher) Enqueue(ctx context.Context, e Event) error {
	e, err := prepare(ctx, e)
	if err != nil {
		return err
	}
	if _, ok := d.o.Limits(e.Solution); !ok {
		return fmt.Errorf("solution %s does not exist: %w", e.Solution, ErrNoHandler)
	}
	bs := d.o.Store.subscribed(e.Solution, e.Topic)
	if len(bs) == 0 {
		return fmt.Errorf("topic %s of solution %s: %w", e.Topic, e.Solution, ErrNoHandler)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("event %s: data is not JSON: %w", e.ID, err)
	}
	if err := d.setup(ctx); err != nil {
		return err
	}
	js := d.o.Bus.JetStream()
	// Deduplication is stream-wide, so the message ids name the solution and topic: the same
	// event id from another solution or service is another event.
	key := dedupKey(e)
	if _, err := js.Publish(ctx, "sb.events."+e.Solution+"."+e.Topic, data, jetstream.WithMsgID(key)); err != nil {
		return fmt.Errorf("store event %s: %w", e.ID, err)
	}
	for _, b := range bs {
		// Recorded before the item exists, so the runner's first word comes after it.
		if err := d.recordPending(ctx, e, b.h.Name); err != nil {
			return err
		}
		item, _ := json.Marshal(workItem{Handler: b.h.Name, Event: data})
		if _, err := js.Publish(ctx, workSubject(e.Solution, b.h.Name), item, jetstream.WithMsgID(key+"/"+b.h.Name)); err != nil {
			return fmt.Errorf("store event %s for handler %s: %w", e.ID, b.h.Name, err)
		}
	}
	return nil
}

func workSubject(sol, handler string) string { return "sb.work." + sol + "." + handler }

// dedupKey is an event's message id: its id within its solution and topic.
func dedupKey(e Event) string { return e.Solution + "/" + e.Topic + "/" + e.ID }

// setup creates the streams when missing.
func (d *Dispatcher) setup(ctx context.Context) error {
	d.setupMu.Lock()
	defer d.setupMu.Unlock()
	if d.ready {
		return nil
	}
	if d.o.Bus == nil {
		return errors.New("events: durable events need a bus")
	}
	r := d.o.Bus.Replicas()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: EventsStream, Description: "Switchboard events", Subjects: []string{"sb.events.>"},
			Storage: jetstream.FileStorage, Replicas: r, Duplicates: DedupWindow, MaxAge: eventsMaxAge},
		{Name: WorkStream, Description: "Switchboard event handler runs to do", Subjects: []string{"sb.work.>"},
			Storage: jetstream.FileStorage, Replicas: r, Duplicates: DedupWindow, Retention: jetstream.WorkQueuePolicy},
		{Name: DLQStream, Description: "Switchboard event handler runs that kept failing", Subjects: []string{"sb.dlq.>"},
			Storage: jetstream.FileStorage, Replicas: r, Duplicates: DedupWindow, MaxAge: dlqMaxAge},
	} {
		if err := ensureStream(ctx, d.o.Bus.JetStream(), cfg); err != nil {
			return err
		}
	}
	if err := d.openDeliveries(ctx); err != nil {
		return err
	}
	d.ready = true
	return nil
}

// ensureStream creates a stream unless it exists; an existing one is left as it is, so
// instances of different versions do not fight over its settings.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	_, err := js.Stream(ctx, cfg.Name)
	if err == nil {
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

// Start begins running durable events' handlers, sharing the work with every other started
// instance, and returns. It stops when ctx ends or at Close.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cc != nil || d.stopped {
		return errors.New("events: dispatcher already started or closed")
	}
	if err := d.setup(ctx); err != nil {
		return err
	}
	cons, err := d.o.Bus.JetStream().CreateOrUpdateConsumer(ctx, WorkStream, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "Switchboard event handler runs",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		FilterSubject: "sb.work.>",
		// Retries are counted here (MaxDeliver) rather than by the server, so an item is
		// always either done or parked, never left behind in the stream.
		MaxDeliver: -1,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", ConsumerName, err)
	}
	runCtx := context.WithoutCancel(ctx) // runs in flight finish; their limits bound them
	sem := make(chan struct{}, workers)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if d.isStopped() {
			// Handed back at once, so another instance takes it now rather than after ackWait.
			m.Nak() //nolint:errcheck // redelivered after ackWait anyway
			return
		}
		sem <- struct{}{}
		d.mu.Lock()
		if d.stopped {
			d.mu.Unlock()
			<-sem
			m.Nak() //nolint:errcheck // redelivered after ackWait anyway
			return
		}
		d.wg.Add(1)
		d.mu.Unlock()
		go func() {
			defer d.wg.Done()
			defer func() { <-sem }()
			d.handle(runCtx, m)
		}()
	},
		jetstream.PullMaxMessages(workers),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			d.log.Warn("event consumer", "err", err)
		}),
	)
	if err != nil {
		return fmt.Errorf("consume %s: %w", ConsumerName, err)
	}
	d.cc = cc
	sctx, cancel := context.WithCancel(ctx)
	d.stopCtx = cancel
	go func() {
		<-sctx.Done()
		d.stop()
	}()
	return nil
}

// stop ends fetching work; it does not wait for runs in flight. Items already fetched are
// drained through the callback, which hands them back, rather than dropped: a dropped item
// waits out ackWait before any other instance may run it.
func (d *Dispatcher) stop() {
	d.mu.Lock()
	d.stopped = true
	cc := d.cc
	d.mu.Unlock()
	if cc != nil {
		cc.Drain()
	}
}

func (d *Dispatcher) isStopped() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopped
}

// Close stops durable processing and waits for the runs in flight.
func (d *Dispatcher) Close() {
	d.stop()
	d.mu.Lock()
	cc, cancel := d.cc, d.stopCtx
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if cc != nil {
		<-cc.Closed()
	}
	d.wg.Wait()
}

// handle runs one work item: ack on success, a delayed redelivery on failure, and after
// MaxDeliver failures a dead letter.
func (d *Dispatcher) handle(ctx context.Context, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		d.log.Error("event work item without metadata", "subject", m.Subject(), "err", err)
		m.Term() //nolint:errcheck // cannot be handled at all
		return
	}
	attempt := md.NumDelivered
	var w workItem
	if err := json.Unmarshal(m.Data(), &w); err != nil {
		d.park(ctx, m, w, "", fmt.Errorf("unreadable work item: %w", err), attempt)
		return
	}
	// The data stays raw until the handler reads event.data (see script.Body).
	var re struct {
		Event
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(w.Event, &re); err != nil {
		d.park(ctx, m, w, "", fmt.Errorf("unreadable event: %w", err), attempt)
		return
	}
	e := re.Event
	if len(re.Data) > 0 && string(re.Data) != "null" {
		e.Data = script.Body{Data: string(re.Data), JSON: true}
	}
	log := d.log.With("solution", e.Solution, "event", e.ID, "topic", e.Topic, "handler", w.Handler)
	lim, ok := d.o.Limits(e.Solution)
	b, found := d.o.Store.handler(e.Solution, w.Handler)
	if (!ok || !found) && d.o.Store.stored(ctx, e.Solution, w.Handler) {
		// This instance has not yet seen what another wrote (a handler deployed, or a
		// solution created, just before the event came): not gone, so run it once the view
		// catches up rather than drop it.
		log.Info("event handler not known here yet; will retry")
		if err := m.NakWithDelay(notYetKnownWait); err != nil {
			log.Warn("event retry not scheduled; redelivered after the ack wait", "err", err)
		}
		return
	}
	if !ok || !found || !b.h.subscribes(e.Topic) {
		// The solution or handler went away, or stopped listening, since the event came.
		log.Info("event dropped: its handler is gone")
		d.record(ctx, e, Delivery{Handler: w.Handler, State: StateDropped, Attempts: attempt - 1})
		d.ack(ctx, m, log)
		return
	}
	attempts, wait := d.retryPlan(b.h)
	if attempt > uint64(attempts) {
		// Delivered again after its last attempt without an outcome: the instance running it
		// stopped, perhaps because of this very item.
		err := fmt.Errorf("no outcome after %d deliveries", attempt-1)
		d.record(ctx, e, Delivery{Handler: w.Handler, State: StateDeadLettered, Attempts: attempt - 1, LastError: err.Error()})
		d.park(ctx, m, w, dedupKey(e), err, attempt)
		return
	}
	d.record(ctx, e, Delivery{Handler: w.Handler, State: StateRunning, Attempts: attempt})
	done := make(chan struct{})
	go func() { // keeps a long run from being redelivered to another instance meanwhile
		t := time.NewTicker(ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				m.InProgress() //nolint:errcheck // at worst the item runs again
			}
		}
	}()
	start := time.Now()
	res, err := d.run(ctx, e, b, lim)
	took := time.Since(start)
	close(done)
	after, asked := retryAfter(res)
	if err == nil && asked {
		err = fmt.Errorf("handler %s asked to retry after %s", w.Handler, after)
	}
	dl := Delivery{Handler: w.Handler, Attempts: attempt, Duration: Duration(took)}
	if err != nil {
		dl.LastError = err.Error()
		var he *HandlerError
		if errors.As(err, &he) {
			dl.ErrorID = he.ErrorID
		}
	}
	switch {
	case err == nil:
		dl.State = StateSucceeded
		d.record(ctx, e, dl)
		d.ack(ctx, m, log)
	case attempt >= uint64(attempts):
		log.Warn("event handler failed for the last time", "attempt", attempt, "err", err)
		dl.State = StateDeadLettered
		d.record(ctx, e, dl)
		d.park(ctx, m, w, dedupKey(e), err, attempt)
	default:
		delay := wait(int(attempt), after)
		next := time.Now().Add(delay).UTC()
		dl.State, dl.NextAttemptAt = StateRetrying, &next
		d.record(ctx, e, dl)
		log.Info("event handler failed; will retry", "attempt", attempt, "retry_in", delay, "err", err)
		if d.o.Metrics != nil {
			d.o.Metrics.HandlerRetries.WithLabelValues(e.Solution, w.Handler).Inc()
		}
		if err := m.NakWithDelay(delay); err != nil {
			log.Warn("event retry not scheduled; redelivered after the ack wait", "err", err)
		}
	}
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

func (d *Dispatcher) ack(ctx context.Context, m jetstream.Msg, log interface{ Warn(string, ...any) }) {
	// A double ack waits for the server, so a lost ack does not run the handler again silently.
	if err := m.DoubleAck(ctx); err != nil {
		log.Warn("event work item not acknowledged; it may run again", "err", err)
	}
}

// park moves a work item to the dead-letter stream with its error. The dead letter's id
// makes a second park of the same item (after a lost ack) a no-op.
func (d *Dispatcher) park(ctx context.Context, m jetstream.Msg, w workItem, eventKey string, cause error, attempts uint64) {
	dl := DeadLetter{Handler: w.Handler, Event: w.Event, Error: cause.Error(), Attempts: attempts, FailedAt: time.Now().UTC(), Replays: w.Replays}
	var he *HandlerError
	if errors.As(cause, &he) {
		dl.Kind = he.Kind()
	}
	if len(dl.Event) == 0 || !json.Valid(dl.Event) {
		dl.Event = nil
	}
	data, _ := json.Marshal(dl)
	subject := "sb.dlq." + dlqSuffix(m.Subject())
	var opts []jetstream.PublishOpt
	if eventKey != "" {
		// A replay failing again is another dead letter, even within the dedup window.
		id := eventKey + "/" + w.Handler
		if w.Replays > 0 {
			id += "/replay" + strconv.Itoa(w.Replays)
		}
		opts = append(opts, jetstream.WithMsgID(id))
	}
	if _, err := d.o.Bus.JetStream().Publish(ctx, subject, data, opts...); err != nil {
		d.log.Error("event work item not parked; retrying later", "subject", m.Subject(), "err", err)
		m.NakWithDelay(d.o.Backoff[len(d.o.Backoff)-1]) //nolint:errcheck // redelivered after ackWait anyway
		return
	}
	if sol, handler, ok := strings.Cut(dlqSuffix(m.Subject()), "."); ok && d.o.Metrics != nil {
		d.o.Metrics.HandlerDeadLetters.WithLabelValues(sol, handler).Inc()
	}
	d.ack(ctx, m, d.log)
}

// dlqSuffix is <solution>.<handler> of a work subject.
func dlqSuffix(workSubj string) string {
	const p = "sb.work."
	if len(workSubj) > len(p) && workSubj[:len(p)] == p {
		return workSubj[len(p):]
	}
	return "unknown"
}
