// Package automation plays both roles of Kaa's Automation Invocation Protocol (23/AIP): the
// executor takes AutomationInvocations off NATS and runs, durably, the handlers of topic
// automation.<type> in the solution named by their tenantId; the trigger publishes them, for
// scripts (Automation.invoke) and the API, for any executor on the bus — Switchboard's own
// or Kaa's.
package automation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/kaa"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// TopicPrefix is the first segment of an automation's topic: automation.<type>.
const TopicPrefix = "automation"

// sourcePrefix begins the source of an invocation's event: /kaa/<trigger instance>.
const sourcePrefix = "/kaa/"

// Bounds of the executor.
const (
	// maxSubjects bounds the subscriptions one configuration makes (triggers × types).
	maxSubjects = 256
	// maxBatch is how many invocations are stored at once.
	maxBatch = 256
	// maxHeldBytes bounds the invocations taken off the subscriptions and not yet stored;
	// while it is reached, what comes waits in the client, up to the pending bounds.
	maxHeldBytes = 16 << 20
	// msgOverhead is what a message holds besides its data (its subject, the *nats.Msg).
	msgOverhead = 256
	// dropsEvery is how often drops are counted while nothing else happens.
	dropsEvery = 5 * time.Second
)

// pendingMsgs and pendingBytes bound what waits in the client while invocations are being
// stored, all subjects together; beyond that core NATS drops them, and they are counted.
// Variables so that a test can make them small.
var (
	pendingMsgs  = 64 << 10
	pendingBytes = 64 << 20
)

// Publisher stores events for their handlers; *events.Dispatcher is one.
type Publisher interface {
	EnqueueBatch(ctx context.Context, es []events.Event) []error
}

// ExecutorOptions configure an Executor.
type ExecutorOptions struct {
	// Conn is the bus the invocations come on.
	Conn *nats.Conn
	// Queue is the queue group: the Kaa service instance name every Switchboard instance of
	// one deployment shares, so that each invocation runs on one of them.
	Queue string
	// Triggers are the trigger service instance names accepted; empty accepts any.
	Triggers []string
	// Types are the automation types accepted; empty accepts any.
	Types []string
	// Store keeps each invocation, as an event, before any handler runs.
	Store Publisher
	// Solutions reports whether a solution exists.
	Solutions func(id string) bool
	Metrics   *Metrics // may be nil
	Logger    *slog.Logger
	// Now is the clock expiry is judged by; nil is time.Now.
	Now func() time.Time
}

// Executor runs the handlers of the invocations it receives.
type Executor struct {
	o       ExecutorOptions
	log     *slog.Logger
	subs    []*nats.Subscription
	ch      chan *nats.Msg
	held    *semaphore.Weighted // bytes of the invocations taken, not yet stored
	stop    context.CancelFunc
	done    sync.WaitGroup
	mu      sync.Mutex
	counted int // drops already counted
}

// Subjects are the subjects an executor with these triggers and types subscribes to.
func Subjects(triggers, types []string) ([]string, error) {
	if len(triggers) == 0 || slices.Contains(triggers, "*") {
		triggers = []string{"*"}
	}
	if len(types) == 0 || slices.Contains(types, "*") {
		types = []string{"*"}
	}
	if len(triggers)*len(types) > maxSubjects {
		return nil, fmt.Errorf("%d trigger instances × %d automation types make more than %d subscriptions", len(triggers), len(types), maxSubjects)
	}
	var out []string
	for _, i := range triggers {
		for _, t := range types {
			s, err := kaa.ExecutorSubject(i, t)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// StartExecutor subscribes and starts storing what arrives; Close stops it.
func StartExecutor(ctx context.Context, o ExecutorOptions) (*Executor, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Queue == "" {
		return nil, errors.New("automation executor: no queue group (Kaa service instance name)")
	}
	subjects, err := Subjects(o.Triggers, o.Types)
	if err != nil {
		return nil, fmt.Errorf("automation executor: %w", err)
	}
	x := &Executor{o: o, log: o.Logger.With("component", "automation-executor"), ch: make(chan *nats.Msg, maxBatch),
		held: semaphore.NewWeighted(maxHeldBytes)}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	x.stop = cancel
	take := func(m *nats.Msg) {
		if len(m.Data) > kaa.MaxMessageBytes {
			// Refused before it is held: counted here, never queued.
			x.accept(m, time.Now())
			return
		}
		if x.held.Acquire(rctx, weight(m)) != nil {
			return // stopping
		}
		select {
		case x.ch <- m:
		case <-rctx.Done():
			x.held.Release(weight(m))
		}
	}
	for _, subj := range subjects {
		sub, err := o.Conn.QueueSubscribe(subj, o.Queue, take)
		if err == nil {
			err = sub.SetPendingLimits(max(1, pendingMsgs/len(subjects)), max(1, pendingBytes/len(subjects)))
		}
		if err != nil {
			x.Close()
			return nil, fmt.Errorf("automation executor: subscribe %s: %w", subj, err)
		}
		x.subs = append(x.subs, sub)
	}
	if err := o.Conn.Flush(); err != nil {
		x.Close()
		return nil, fmt.Errorf("automation executor: subscribe: %w", err)
	}
	x.done.Go(func() { x.run(rctx) })
	x.log.Info("automation executor subscribed", "subjects", subjects, "queue", o.Queue)
	return x, nil
}

// drainWait bounds how long Close waits for what the client holds to be handed over.
const drainWait = 5 * time.Second

// Close unsubscribes and stores what it took off the bus before it returns: the client's
// pending invocations are drained (up to drainWait), not dropped.
func (x *Executor) Close() {
	for _, s := range x.subs {
		closed := s.StatusChanged(nats.SubscriptionClosed)
		if s.Drain() != nil {
			continue // the connection is closing: nothing more comes
		}
		select {
		case <-closed:
		case <-time.After(drainWait):
		}
	}
	if x.stop != nil {
		x.stop()
	}
	x.done.Wait()
}

func (x *Executor) run(ctx context.Context) {
	t := time.NewTicker(dropsEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Stopping: what was taken is stored, as nobody else has it.
			var rest []*nats.Msg
			for len(x.ch) > 0 {
				rest = append(rest, <-x.ch)
			}
			if len(rest) > 0 {
				x.store(context.WithoutCancel(ctx), rest)
			}
			return
		case <-t.C:
			x.countDrops()
		case m := <-x.ch:
			batch := []*nats.Msg{m}
		more:
			for len(batch) < maxBatch {
				select {
				case m := <-x.ch:
					batch = append(batch, m)
				default:
					break more
				}
			}
			// Stored even when stopping: they were taken off the bus and nobody else has them.
			x.store(context.WithoutCancel(ctx), batch)
			x.countDrops()
		}
	}
}

// countDrops counts what core NATS dropped because invocations came faster than they were
// stored.
func (x *Executor) countDrops() {
	n := 0
	for _, s := range x.subs {
		if d, err := s.Dropped(); err == nil {
			n += d
		}
	}
	x.mu.Lock()
	fresh := n - x.counted
	x.counted = max(x.counted, n)
	x.mu.Unlock()
	if fresh > 0 {
		x.log.Warn("automation invocations dropped: they came faster than they could be stored", "dropped", fresh)
		if x.o.Metrics != nil {
			x.o.Metrics.Rejected.WithLabelValues(unknownTenant, unknownTenant, "dropped").Add(float64(fresh))
		}
	}
}

// invocation is one received invocation on its way to the store.
type invocation struct {
	kaa.Invocation
	trigger, typ string
	typeLabel    string
	tenantLabel  string
}

// weight is what m counts against maxHeldBytes.
func weight(m *nats.Msg) int64 { return int64(len(m.Data) + len(m.Subject) + msgOverhead) }

func (x *Executor) store(ctx context.Context, batch []*nats.Msg) {
	var w int64
	for _, m := range batch {
		w += weight(m)
	}
	defer x.held.Release(w)
	now := x.o.Now()
	es := make([]events.Event, 0, len(batch))
	invs := make([]invocation, 0, len(batch))
	for _, m := range batch {
		inv, e, ok := x.accept(m, now)
		if ok {
			es, invs = append(es, e), append(invs, inv)
		}
	}
	if len(es) == 0 {
		return
	}
	errs := x.o.Store.EnqueueBatch(ctx, es)
	if slices.ContainsFunc(errs, refused) {
		// A batch is stored whole or not at all: store the rest one by one.
		for i := range es {
			errs[i] = x.o.Store.EnqueueBatch(ctx, es[i:i+1])[0]
		}
	}
	for i, err := range errs {
		inv := invs[i]
		if err == nil {
			continue
		}
		reason := "store_failed"
		if errors.Is(err, events.ErrNoHandler) {
			reason = "no_handler"
		} else if refused(err) {
			reason = "invalid"
		}
		x.reject(inv, reason, err)
	}
}

// refused is an error storing one event that storing it again would not mend.
func refused(err error) bool {
	var fe *solution.FieldError
	return errors.Is(err, events.ErrNoHandler) || errors.As(err, &fe)
}

// accept decodes and checks m; false when it is dropped (counted and logged here).
func (x *Executor) accept(m *nats.Msg, now time.Time) (invocation, events.Event, bool) {
	trigger, typ, _ := kaa.ParseInvocationSubject(m.Subject)
	inv := invocation{trigger: trigger, typ: typ, tenantLabel: unknownTenant, typeLabel: invalidType}
	if x.o.Metrics != nil {
		inv.typeLabel = x.o.Metrics.typeLabel(typ)
	}
	decoded, err := kaa.Decode(m.Data)
	inv.Invocation = decoded
	if x.o.Solutions(inv.TenantID) {
		inv.tenantLabel = inv.TenantID
	}
	x.count(func(mt *Metrics) prometheus.Counter {
		return mt.Received.WithLabelValues(inv.typeLabel, inv.tenantLabel)
	})
	switch {
	case errors.Is(err, kaa.ErrTooLarge):
		x.reject(inv, "oversize", err)
		return inv, events.Event{}, false
	case err != nil:
		x.reject(inv, "malformed", err)
		return inv, events.Event{}, false
	case inv.Timestamp < 0 || inv.Timestamp > maxMillis || inv.Timeout < 0:
		x.reject(inv, "malformed", fmt.Errorf("timestamp %d or timeout %d out of range", inv.Timestamp, inv.Timeout))
		return inv, events.Event{}, false
	case inv.tenantLabel == unknownTenant:
		x.reject(inv, "unknown_tenant", fmt.Errorf("tenant %q is no solution here", inv.TenantID))
		return inv, events.Event{}, false
	case validType(typ) != nil:
		x.reject(inv, "invalid_type", validType(typ))
		return inv, events.Event{}, false
	case inv.Expired(now.UnixMilli()):
		x.logger(inv).Info("automation invocation expired before it could run; dropped",
			"timestamp", inv.Timestamp, "timeout_ms", inv.Timeout)
		x.count(func(mt *Metrics) prometheus.Counter {
			return mt.Expired.WithLabelValues(inv.typeLabel, inv.tenantLabel)
		})
		return inv, events.Event{}, false
	}
	return inv, EventOf(inv.Invocation, trigger, typ, now), true
}

// maxMillis is the last millisecond of year 9999, the last time an event can carry.
var maxMillis = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()

// EventOf is the event an invocation of type typ from trigger instance trigger becomes.
func EventOf(inv kaa.Invocation, trigger, typ string, now time.Time) events.Event {
	data, ct := eventData(inv.Payload)
	e := events.Event{
		ID:              eventID(inv.CorrelationID),
		Solution:        inv.TenantID,
		Topic:           TopicPrefix + "." + typ,
		Time:            time.UnixMilli(inv.Timestamp).UTC(),
		CorrelationID:   inv.CorrelationID,
		Source:          sourcePrefix + trigger,
		Subject:         typ,
		Data:            data,
		DataContentType: ct,
	}
	if inv.Timestamp <= 0 {
		e.Time = now.UTC()
	}
	if inv.Timeout > 0 && inv.Timeout <= maxMillis-inv.Timestamp {
		// Beyond maxMillis is never, as far as a time can say.
		exp := time.UnixMilli(inv.Timestamp + inv.Timeout).UTC()
		e.Expires = &exp
	}
	return e
}

// eventID is the event id of a correlation id: itself when it can be one, so that an
// invocation received twice runs once; else its hash; a fresh id when there is none.
func eventID(correlation string) string {
	if correlation == "" {
		return events.NewID()
	}
	if len(correlation) <= events.MaxIDBytes && printable(correlation) {
		return correlation
	}
	sum := sha256.Sum256([]byte(correlation))
	return "kaa:sha256:" + hex.EncodeToString(sum[:16])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validType checks that an automation type can be the last segment of a topic.
func validType(t string) error {
	if err := events.ValidateTopic(TopicPrefix + "." + t); err != nil || t == "" || strings.Contains(t, ".") {
		return fmt.Errorf("automation type %q cannot be a topic segment (lower-case letters, digits, '_' and '-', starting with a letter or digit)", t)
	}
	return nil
}

func (x *Executor) reject(inv invocation, reason string, err error) {
	lvl := slog.LevelWarn
	if reason == "store_failed" {
		lvl = slog.LevelError
	}
	x.logger(inv).Log(context.Background(), lvl, "automation invocation dropped", "reason", reason, "err", err)
	x.count(func(mt *Metrics) prometheus.Counter {
		return mt.Rejected.WithLabelValues(inv.typeLabel, inv.tenantLabel, reason)
	})
}

// logger logs with whatever is known of inv: its correlation id first.
func (x *Executor) logger(inv invocation) *slog.Logger {
	return x.log.With("correlation_id", inv.CorrelationID, "type", inv.typ, "tenant", inv.TenantID, "trigger", inv.trigger)
}

func (x *Executor) count(c func(*Metrics) prometheus.Counter) {
	if x.o.Metrics != nil {
		c(x.o.Metrics).Inc()
	}
}
