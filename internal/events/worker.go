package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/script"
)

const (
	// reconcileEvery is how often an instance checks that it consumes for every handler it
	// knows, besides whenever a handler changes.
	reconcileEvery = 30 * time.Second
	// runningAfter is how long a run goes before its delivery record says running: shorter
	// runs go from pending to their outcome without the extra write.
	runningAfter = 100 * time.Millisecond
)

// worker consumes one handler's events on this instance.
type worker struct {
	d    *Dispatcher
	h    Handler
	spec string
	wide bool // its filter is wider than its topics
	sem  chan struct{}
	ccs  []jetstream.ConsumeContext // of its topics, and of its direct subject
	ord  *ordered                   // nil unless the handler orders its events

	mu       sync.Mutex
	stopping bool
}

// spec is what, when it changes, needs a handler's consumption restarted.
func spec(h Handler, feat features) string {
	f, _ := h.filters(feat)
	return strings.Join(f, ",") + "|" + strconv.Itoa(h.inFlight()) + "|" + h.OrderBy
}

// Start begins running durable events' handlers, sharing each handler's work with every
// other started instance, and returns. It stops when ctx ends or at Close.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	if d.started || d.stopped {
		d.mu.Unlock()
		return errors.New("events: dispatcher already started or closed")
	}
	d.mu.Unlock()
	if err := d.setup(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	d.started = true
	d.runCtx = context.WithoutCancel(ctx) // runs in flight finish; their limits bound them
	sctx, cancel := context.WithCancel(ctx)
	d.stopCtx = cancel
	d.mu.Unlock()
	d.reconcile(sctx)
	d.loopDone = make(chan struct{})
	go func() {
		defer close(d.loopDone)
		t := time.NewTicker(reconcileEvery)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				d.stop()
				return
			case <-d.o.Store.changed:
			case <-t.C:
			}
			d.reconcile(sctx)
		}
	}()
	return nil
}

// reconcile consumes for every handler in the view, with its current settings, and stops
// consuming for those gone.
func (d *Dispatcher) reconcile(ctx context.Context) {
	want := d.o.Store.bindings("", nil)
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	keep := make(map[string]bool, len(want))
	var start []Handler
	for _, b := range want {
		name := ConsumerName(b.h.Solution, b.h.Name)
		keep[name] = true
		w := d.workers[name]
		if w != nil && w.spec == spec(b.h, d.feat) {
			continue
		}
		if w != nil {
			w.stop()
			delete(d.workers, name)
		}
		start = append(start, b.h)
	}
	for name, w := range d.workers {
		if !keep[name] {
			w.stop()
			delete(d.workers, name)
		}
	}
	d.mu.Unlock()
	for _, h := range start {
		w, err := d.startWorker(ctx, h)
		if err != nil {
			d.log.Warn("handler not consumed here yet; will try again", "solution", h.Solution, "handler", h.Name, "err", err)
			continue
		}
		if w == nil {
			continue
		}
		d.mu.Lock()
		if d.stopped {
			w.stop()
		} else {
			d.workers[ConsumerName(h.Solution, h.Name)] = w
		}
		d.mu.Unlock()
	}
}

// startWorker starts consuming h's events; nil without error when h is no longer stored.
func (d *Dispatcher) startWorker(ctx context.Context, h Handler) (*worker, error) {
	js := d.o.Bus.JetStream()
	topics, direct := consumerConfigs(h, d.feat)
	var cons []jetstream.Consumer
	for _, name := range []string{topics.Durable, direct.Durable} {
		c, err := js.Consumer(ctx, EventsStream, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Stored by a version without consumers per handler, or lost: made again,
			// unless the handler went away meanwhile.
			if !d.o.Store.stored(ctx, h.Solution, h.Name) {
				return nil, nil
			}
			if err := ensureConsumers(ctx, js, d.o.Bus.Replicas(), d.feat, h); err != nil {
				return nil, err
			}
			c, err = js.Consumer(ctx, EventsStream, name)
		}
		if err != nil {
			return nil, err
		}
		cons = append(cons, c)
	}
	_, wide := h.filters(d.feat)
	w := &worker{d: d, h: h, spec: spec(h, d.feat), wide: wide, sem: make(chan struct{}, h.inFlight())}
	log := d.log.With("solution", h.Solution, "handler", h.Name)
	opts := []jetstream.PullConsumeOpt{
		jetstream.PullMaxMessages(h.inFlight()),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				return // the handler is going away; reconcile stops this
			}
			log.Warn("event consumer", "err", err)
		}),
	}
	receive := w.receive
	if h.OrderBy != "" {
		w.ord = newOrdered(w)
		receive = w.ord.receive
	}
	for i, c := range cons {
		o := opts
		if i == 0 && h.OrderBy != "" {
			o = append(o, jetstream.PullPriorityGroup(priorityGroup), jetstream.PullMaxMessages(w.ord.maxHeld))
		}
		cc, err := c.Consume(receive, o...)
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("consume: %w", err)
		}
		w.ccs = append(w.ccs, cc)
	}
	return w, nil
}

// stop ends fetching; runs in flight go on (Close waits for them). Events already fetched
// are handed back rather than dropped: a dropped one waits out ackWait before any other
// instance may run it.
func (w *worker) stop() {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
	for _, cc := range w.ccs {
		cc.Drain()
	}
	if w.ord != nil {
		w.ord.handBack()
		// Unpinned now, the next puller (this instance's new worker, or another instance)
		// takes the handler's events at once instead of after pinnedTTL.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, err := w.d.o.Bus.JetStream().Stream(ctx, EventsStream)
			if err == nil {
				err = st.UnpinConsumer(ctx, OrderedConsumerName(w.h.Solution, w.h.Name), priorityGroup)
			}
			if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				w.d.log.Debug("ordered handler not unpinned; another instance takes over after the pin expires",
					"solution", w.h.Solution, "handler", w.h.Name, "err", err)
			}
		}()
	}
}

func (w *worker) isStopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}

// receive takes one delivery of an unordered handler: it waits for one of the handler's
// run slots here, so the handler's consumer slows to its pace and no other's does.
func (w *worker) receive(m jetstream.Msg) {
	if w.isStopping() {
		m.Nak() //nolint:errcheck // redelivered after ackWait anyway
		return
	}
	w.sem <- struct{}{}
	if !w.d.track() {
		<-w.sem
		m.Nak() //nolint:errcheck // redelivered after ackWait anyway
		return
	}
	go func() {
		defer w.d.wg.Done()
		defer func() { <-w.sem }()
		w.d.handle(w.d.runCtx, w, m, false)
	}()
}

// track counts a run about to start, unless the dispatcher is closing.
func (d *Dispatcher) track() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return false
	}
	d.wg.Add(1)
	return true
}

func (d *Dispatcher) stop() {
	d.mu.Lock()
	d.stopped = true
	ws := d.workers
	d.workers = map[string]*worker{}
	d.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

// Close stops durable processing, waits for the runs in flight and writes their records.
func (d *Dispatcher) Close() {
	d.stop()
	d.mu.Lock()
	cancel, loop := d.stopCtx, d.loopDone
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if loop != nil {
		<-loop
	}
	d.wg.Wait()
	d.closeRecords()
}

// handle runs one delivery. Unordered (inPlace false), a failure is retried by a delayed
// redelivery; ordered, the retries happen here, holding back the events after it of the
// same key, and handle returns once the event succeeded or is parked.
func (d *Dispatcher) handle(ctx context.Context, w *worker, m jetstream.Msg, inPlace bool) {
	p := parcel{sol: w.h.Solution, handler: w.h.Name, raw: m.Data()}
	log := &eventLog{base: d.log, sol: p.sol, handler: p.handler}
	md, err := m.Metadata()
	if err != nil {
		log.Error("event without metadata", "subject", m.Subject(), "err", err)
		m.Term() //nolint:errcheck // cannot be handled at all
		return
	}
	attempt := md.NumDelivered
	if r := m.Headers().Get(replaysHeader); r != "" {
		p.replays, _ = strconv.Atoi(r)
	}
	// The data stays raw until the handler reads event.data (see script.Body).
	var re struct {
		Event
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(p.raw, &re); err != nil {
		d.park(ctx, m, p, "", fmt.Errorf("unreadable event: %w", err), attempt)
		return
	}
	e := re.Event
	if len(re.Data) > 0 && string(re.Data) != "null" {
		e.Data = script.Body{Data: string(re.Data), JSON: true}
	}
	log.event, log.topic = e.ID, e.Topic
	direct := strings.HasPrefix(m.Subject(), "sb.to.")
	if w.wide && !direct && !w.h.subscribes(e.Topic) {
		d.ack(m, log) // its consumer reads more than its topics; not for this handler
		return
	}
	lim, ok := d.o.Limits(e.Solution)
	b, found := d.o.Store.handler(p.sol, p.handler)
	if !ok || !found {
		if d.o.Store.stored(ctx, p.sol, p.handler) {
			// This instance has not yet seen what another wrote (a solution created just
			// before the event came): not gone, so run it once the view catches up.
			log.Info("event handler not known here yet; will retry")
			if err := m.NakWithDelay(notYetKnownWait); err != nil {
				log.Warn("event retry not scheduled; redelivered after the ack wait", "err", err)
			}
			return
		}
		log.Info("event dropped: its handler is gone")
		d.record(ctx, e, Delivery{Handler: p.handler, State: StateDropped, Attempts: attempt - 1})
		d.ack(m, log)
		return
	}
	attempts, wait := d.retryPlan(b.h)
	for {
		if attempt > uint64(attempts) {
			// Delivered again after its last attempt without an outcome: the instance
			// running it stopped, perhaps because of this very event.
			err := fmt.Errorf("no outcome after %d deliveries", attempt-1)
			d.record(ctx, e, Delivery{Handler: p.handler, State: StateDeadLettered, Attempts: attempt - 1, LastError: err.Error()})
			if d.park(ctx, m, p, dedupKey(e), err, attempt-1) {
				d.reply(ctx, e, p.handler, nil, err, 0)
			}
			return
		}
		res, took, err := d.attempt(ctx, m, e, b, lim, attempt)
		after, asked := retryAfter(res)
		if err == nil && asked {
			err = fmt.Errorf("handler %s asked to retry after %s", p.handler, after)
		}
		dl := Delivery{Handler: p.handler, Attempts: attempt, Duration: Duration(took)}
		if err != nil {
			dl.LastError = err.Error()
			var he *HandlerError
			if errors.As(err, &he) {
				dl.ErrorID = he.ErrorID
			}
		}
		final := attempt >= uint64(attempts)
		if err != nil && !asked && !final {
			var he *HandlerError
			if errors.As(err, &he) && !b.h.Retry.retries(he.Kind()) {
				final = true // a kind of failure the policy does not retry
			}
		}
		switch {
		case err == nil:
			dl.State = StateSucceeded
			d.record(ctx, e, dl)
			d.ack(m, log)
			d.reply(ctx, e, p.handler, res, nil, took)
			return
		case final:
			log.Warn("event handler failed for the last time", "attempt", attempt, "err", err)
			dl.State = StateDeadLettered
			d.record(ctx, e, dl)
			if d.park(ctx, m, p, dedupKey(e), err, attempt) {
				d.reply(ctx, e, p.handler, nil, err, took)
			}
			return
		}
		delay := wait(int(attempt), after)
		next := time.Now().Add(delay).UTC()
		dl.State, dl.NextAttemptAt = StateRetrying, &next
		d.record(ctx, e, dl)
		log.Info("event handler failed; will retry", "attempt", attempt, "retry_in", delay, "err", err)
		if d.o.Metrics != nil {
			d.o.Metrics.HandlerRetries.WithLabelValues(e.Solution, p.handler).Inc()
		}
		if !inPlace {
			if err := m.NakWithDelay(delay); err != nil {
				log.Warn("event retry not scheduled; redelivered after the ack wait", "err", err)
			}
			return
		}
		if !w.wait(m, delay) {
			// Stopping: handed back, so the next instance retries it before anything after.
			m.Nak() //nolint:errcheck // redelivered after ackWait anyway
			return
		}
		attempt++
	}
}

// attempt runs the handler once, telling the server it is in progress meanwhile so that a
// long run is not sent to another instance, and recording it as running once it lasts.
func (d *Dispatcher) attempt(ctx context.Context, m jetstream.Msg, e Event, b binding, lim script.Limits, attempt uint64) (any, time.Duration, error) {
	// Most runs end before runningAfter: no goroutine waits on them, only a timer.
	done := make(chan struct{})
	t := time.AfterFunc(runningAfter, func() {
		d.record(ctx, e, Delivery{Handler: b.h.Name, State: StateRunning, Attempts: attempt})
		go func() {
			tick := time.NewTicker(ackWait / 3)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					m.InProgress() //nolint:errcheck // at worst the event runs again
				}
			}
		}()
	})
	start := time.Now()
	res, err := d.run(ctx, e, b, lim)
	took := time.Since(start)
	t.Stop()
	close(done)
	return res, took, err
}

// wait waits out a retry's delay for an ordered handler, keeping the delivery in progress;
// false when the worker is stopping.
func (w *worker) wait(m jetstream.Msg, delay time.Duration) bool {
	t := time.NewTimer(delay)
	defer t.Stop()
	tick := time.NewTicker(ackWait / 3)
	defer tick.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-tick.C:
			if w.isStopping() {
				return false
			}
			m.InProgress() //nolint:errcheck // at worst the event runs again
		case <-w.ord.stopped:
			return false
		}
	}
}

// reply hands a finished event's outcome to whoever asked for it (an async OpenFaaS call's
// callback URL).
func (d *Dispatcher) reply(ctx context.Context, e Event, handler string, res any, err error, took time.Duration) {
	if e.Reply == nil || d.o.Reply == nil {
		return
	}
	d.o.Reply(ctx, e, handler, res, err, took)
}

// eventLog logs with the event's solution, handler, id and topic, putting them together only
// when something is logged: most deliveries log nothing.
type eventLog struct {
	base                       *slog.Logger
	sol, handler, event, topic string
}

func (l *eventLog) attrs(args []any) []any {
	out := append(make([]any, 0, 8+len(args)), "solution", l.sol, "handler", l.handler)
	if l.event != "" {
		out = append(out, "event", l.event, "topic", l.topic)
	}
	return append(out, args...)
}

func (l *eventLog) Info(msg string, args ...any)  { l.base.Info(msg, l.attrs(args)...) }
func (l *eventLog) Warn(msg string, args ...any)  { l.base.Warn(msg, l.attrs(args)...) }
func (l *eventLog) Error(msg string, args ...any) { l.base.Error(msg, l.attrs(args)...) }
