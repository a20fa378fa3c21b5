package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	wide bool          // its filter is wider than its topics
	sem  chan struct{} // run slots of topic events, unordered handlers
	// dsem are the run slots of direct events (replays, async calls) of unordered handlers:
	// their own, so that a quiet topic consumer waiting for its next event with a slot taken
	// does not keep them out, nor they it.
	dsem chan struct{}
	ord  *ordered // nil unless the handler orders its events

	ctx    context.Context // ends when the worker stops fetching
	cancel context.CancelFunc
	loops  sync.WaitGroup // the fetch loops
	dead   atomic.Bool    // a consumer went away under it: reconcile starts it again

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
	d.started = true
	d.mu.Unlock()
	if err := d.setup(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	d.mu.Lock()
	d.runCtx = context.WithoutCancel(ctx) // runs in flight finish; their limits bound them
	d.stopCtx, d.loopDone = cancel, loopDone
	d.mu.Unlock()
	d.sweepConsumers(sctx)
	d.reconcile(sctx)
	go func() {
		defer close(loopDone)
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
// consuming for those gone. Workers are stopped outside d.mu: stopping an ordered one waits
// for its runs.
func (d *Dispatcher) reconcile(ctx context.Context) {
	d.reconcileMu.Lock()
	defer d.reconcileMu.Unlock()
	want := d.o.Store.bindings("", nil)
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	keep := make(map[string]bool, len(want))
	var start []Handler
	var stop []*worker
	for _, b := range want {
		name := ConsumerName(b.h.Solution, b.h.Name)
		keep[name] = true
		w := d.workers[name]
		if w != nil && w.spec == spec(b.h, d.feat) && !w.dead.Load() {
			continue
		}
		if w != nil {
			stop = append(stop, w)
			delete(d.workers, name)
		}
		start = append(start, b.h)
	}
	for name, w := range d.workers {
		if !keep[name] {
			stop = append(stop, w)
			delete(d.workers, name)
		}
	}
	d.mu.Unlock()
	for _, w := range stop {
		w.stop()
	}
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
			d.mu.Unlock()
			w.stop()
			continue
		}
		d.workers[ConsumerName(h.Solution, h.Name)] = w
		d.mu.Unlock()
	}
}

// startWorker starts consuming h's events; nil without error when h, as stored now, is not
// what this instance's view says yet (it waits for the view rather than make consumers of a
// stale copy).
func (d *Dispatcher) startWorker(ctx context.Context, h Handler) (*worker, error) {
	js := d.o.Bus.JetStream()
	topics, direct := consumerConfigs(h, d.feat)
	var cons []jetstream.Consumer
	for _, name := range []string{topics.Durable, direct.Durable} {
		c, err := js.Consumer(ctx, EventsStream, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Stored by a version without consumers per handler, or lost: made again from
			// the handler as stored, and only if this view agrees with it.
			cur, ok := d.o.Store.load(ctx, h.Solution, h.Name)
			if !ok || cur.OrderBy != h.OrderBy || !slices.Equal(cur.Topics, h.Topics) {
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
	wctx, cancel := context.WithCancel(context.Background())
	w := &worker{d: d, h: h, spec: spec(h, d.feat), wide: wide, sem: make(chan struct{}, h.inFlight()),
		dsem: make(chan struct{}, max(1, h.inFlight()/4)), ctx: wctx, cancel: cancel}
	if h.OrderBy != "" {
		w.ord = newOrdered(w)
	}
	for i, c := range cons {
		// The client fetches ahead no more than the slots can take, so events do not wait
		// in it long enough to be sent again. Short pull expiries and heartbeats bound a
		// stall seen now and then (about one run in twenty of TestSlowHandlerHoldsUpNoOther
		// under -race): the client believes a pull is outstanding that the server no longer
		// holds, until it misses two heartbeats and pulls again.
		opts := []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(max(2, h.inFlight())),
			jetstream.PullExpiry(10 * time.Second), jetstream.PullHeartbeat(2 * time.Second)}
		if i == 0 && w.ord != nil {
			opts = append(opts, jetstream.PullPriorityGroup(priorityGroup))
		}
		it, err := c.Messages(opts...)
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("consume: %w", err)
		}
		w.loops.Add(1)
		go w.fetch(it, i == 0)
	}
	return w, nil
}

// fetch takes the worker's events from one consumer: a slot first, then an event, so that no
// event waits in the worker's hands for a slot.
func (w *worker) fetch(it jetstream.MessagesContext, topics bool) {
	defer w.loops.Done()
	defer func() {
		// What the client fetched ahead is handed back, so that another instance runs it
		// now rather than after ackWait.
		it.Drain()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				it.Stop() // its consumer gone, say: what is left expires instead
				return
			}
			m.Nak() //nolint:errcheck // redelivered after ackWait anyway
		}
	}()
	slots := w.sem
	switch {
	case w.ord != nil:
		slots = w.ord.held // plenty: a quiet consumer holding one keeps no other out
	case !topics:
		slots = w.dsem
	}
	go func() {
		<-w.ctx.Done()
		it.Drain() // ends a Next waiting for an event; the rest is handed back below
	}()
	for {
		select {
		case slots <- struct{}{}:
		case <-w.ctx.Done():
			return
		}
		m, err := it.Next()
		if err != nil {
			<-slots
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				w.dead.Store(true) // reconcile starts it again, or drops it with its handler
				w.d.o.Store.signal()
				return
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || w.ctx.Err() != nil {
				return
			}
			w.d.log.Warn("event consumer", "solution", w.h.Solution, "handler", w.h.Name, "err", err)
			continue
		}
		if w.isStopping() {
			<-slots
			m.Nak() //nolint:errcheck // redelivered after ackWait anyway
			continue
		}
		if w.ord != nil {
			w.ord.push(m) // holds the slot taken until the event is done
			continue
		}
		if !w.d.track() {
			<-slots
			m.Nak() //nolint:errcheck // redelivered after ackWait anyway
			continue
		}
		go func() {
			defer w.d.wg.Done()
			defer func() { <-slots }()
			w.d.handle(w.d.runCtx, w, m, false)
		}()
	}
}

// stop ends fetching and hands back what was fetched and not started. An ordered worker
// first lets its runs end (a run waiting to retry hands its event back), then hands back the
// events behind them, in order, and unpins its consumer, so that whoever takes over runs them
// in order and at once. Runs of an unordered worker go on (Close waits for them).
func (w *worker) stop() {
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return
	}
	w.stopping = true
	w.mu.Unlock()
	w.cancel()
	w.loops.Wait()
	if w.ord == nil {
		return
	}
	w.ord.handBack()
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
}

func (w *worker) isStopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
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
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(w.stop)
	}
	wg.Wait()
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
	var (
		lim   script.Limits
		b     binding
		known bool
	)
	for {
		var ok bool
		lim, ok = d.o.Limits(e.Solution)
		b, known = d.o.Store.handler(p.sol, p.handler)
		if known = known && ok; known || !d.o.Store.stored(ctx, p.sol, p.handler) {
			break
		}
		// This instance has not yet seen what another wrote (a solution created just before
		// the event came): not gone, so run it once the view catches up. An ordered handler
		// waits here, holding back the events behind it.
		log.Info("event handler not known here yet; will retry")
		if inPlace {
			if !w.wait(m, notYetKnownWait) {
				m.Nak() //nolint:errcheck // redelivered after ackWait anyway
				return
			}
			continue
		}
		if err := m.NakWithDelay(notYetKnownWait); err != nil {
			log.Warn("event retry not scheduled; redelivered after the ack wait", "err", err)
		}
		return
	}
	if !known {
		log.Info("event dropped: its handler is gone")
		d.record(ctx, e, Delivery{Handler: p.handler, State: StateDropped, Attempts: attempt - 1, Replays: p.replays})
		d.ack(m, log)
		d.finished(e, p.handler, StateDropped)
		return
	}
	attempts, wait := d.retryPlan(b.h)
	if attempt > 1 {
		// Delivered again: the server counts every delivery, runs or not (an event handed
		// back by a stopping instance, one waiting for a view to catch up); the record counts
		// the runs.
		made, state := d.attemptsMade(ctx, e, p)
		switch {
		case state == StateSucceeded || state == StateDeadLettered || state == StateExpired:
			d.ack(m, log) // its outcome stands: the ack that said so was lost
			return
		case attempt > uint64(attempts)*4+16:
			// Sent again and again without an outcome or a record: the instances running it
			// stop, perhaps because of this very event.
		default:
			attempt = made + 1
		}
	}
	for {
		if attempt > uint64(attempts) {
			// Delivered again after its last attempt without an outcome: the instance
			// running it stopped, perhaps because of this very event.
			err := fmt.Errorf("no outcome after %d deliveries", attempt-1)
			d.record(ctx, e, Delivery{Handler: p.handler, State: StateDeadLettered, Attempts: attempt - 1, LastError: err.Error(), Replays: p.replays})
			if d.park(ctx, m, p, dedupKey(e), err, attempt-1) {
				d.reply(ctx, e, p.handler, nil, err, 0)
			}
			d.finished(e, p.handler, StateDeadLettered)
			return
		}
		if e.Expires != nil && time.Now().After(*e.Expires) {
			// Too late to be of use: never begun (or begun again), as its sender asked.
			log.Info("event expired before its handler ran", "expires", e.Expires.Format(time.RFC3339Nano), "attempt", attempt)
			d.record(ctx, e, Delivery{Handler: p.handler, State: StateExpired, Attempts: attempt - 1, Replays: p.replays})
			d.ack(m, log)
			d.finished(e, p.handler, StateExpired)
			return
		}
		res, took, err := d.attempt(ctx, m, e, b, lim, attempt, p.replays)
		after, asked := retryAfter(res)
		if err == nil && asked {
			err = fmt.Errorf("handler %s asked to retry after %s", p.handler, after)
		}
		dl := Delivery{Handler: p.handler, Attempts: attempt, Duration: Duration(took), Replays: p.replays}
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
			d.finished(e, p.handler, StateSucceeded)
			return
		case final:
			log.Warn("event handler failed for the last time", "attempt", attempt, "err", err)
			dl.State = StateDeadLettered
			d.record(ctx, e, dl)
			if d.park(ctx, m, p, dedupKey(e), err, attempt) {
				d.reply(ctx, e, p.handler, nil, err, took)
			}
			d.finished(e, p.handler, StateDeadLettered)
			return
		}
		delay := wait(int(attempt), after)
		next := time.Now().Add(delay).UTC()
		dl.State, dl.NextAttemptAt = StateRetrying, &next
		// Written before the retry is scheduled: the attempt it counts is what the next
		// delivery reads.
		d.recordNow(ctx, e, dl)
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
func (d *Dispatcher) attempt(ctx context.Context, m jetstream.Msg, e Event, b binding, lim script.Limits, attempt uint64, replays int) (any, time.Duration, error) {
	// Most runs end before runningAfter: no goroutine waits on them, only a timer.
	done := make(chan struct{})
	var mu sync.Mutex // the running record is written before the outcome's, or not at all
	ended := false
	t := time.AfterFunc(runningAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		if ended {
			return
		}
		d.recordNow(ctx, e, Delivery{Handler: b.h.Name, State: StateRunning, Attempts: attempt, Replays: replays})
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
	mu.Lock()
	ended = true
	mu.Unlock()
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

// finished tells DispatcherOptions.Finished a delivery's final state.
func (d *Dispatcher) finished(e Event, handler, state string) {
	if d.o.Finished != nil {
		d.o.Finished(e, handler, state)
	}
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
