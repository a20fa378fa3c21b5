package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
)

// Buckets of running connectors.
const (
	// leasesBucket holds, per running connector, which instance runs it and how it is
	// doing; an entry expires leaseTTL after its last heartbeat, and another instance then
	// takes the connector over.
	leasesBucket = "sb_connector_leases"
	// marksBucket holds connectors' checkpoints.
	marksBucket = "sb_connector_marks"

	leaseTTL  = 15 * time.Second
	heartbeat = leaseTTL / 3
	// reconcileEvery is how often an instance looks for connectors nobody runs.
	reconcileEvery = 5 * time.Second
	// Back-off after a failed run: doubling from minBackoff up to maxBackoff, with jitter.
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// States of a connector.
const (
	StateConnecting = "connecting"
	StateRunning    = "running"
	StateBackingOff = "backing-off"
	StatePaused     = "paused"
	StateFailed     = "failed"  // its config is refused by its type; it waits for a new one
	StatePending    = "pending" // no instance runs it yet
)

// Status is how a connector is doing, as the instance running it last said.
type Status struct {
	State     string    `json:"state"`
	Instance  string    `json:"instance,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Version   uint64    `json:"version,omitempty"` // of the connector it runs
	Received  uint64    `json:"received"`
	Published uint64    `json:"published"`
	Rejected  uint64    `json:"rejected"`
	// Dropped counts messages the source lost before handing them over (core NATS drops
	// what a subscriber too slow to take them cannot hold).
	Dropped uint64 `json:"dropped,omitempty"`
	// Held is true while the connector takes nothing from its source because its handlers
	// are behind (its state stays running); HeldReason says by how much.
	Held       bool   `json:"held,omitempty"`
	HeldReason string `json:"held_reason,omitempty"`
	// Pending is how many events of its topic wait for handlers, as last counted; MaxPending
	// is the bound it waits at.
	Pending    *uint64 `json:"pending,omitempty"`
	MaxPending uint64  `json:"max_pending,omitempty"`
	// Lag is how many messages the source holds that the connector has not taken yet, for
	// types whose source can tell (see Lagger).
	Lag *uint64 `json:"lag,omitempty"`
	// Failed counts, for an outbound connector, the publishes that failed on this instance.
	Failed uint64 `json:"failed,omitempty"`
}

// Publisher stores events; *events.Dispatcher is one (see NewSink).
type Publisher = eventPublisher

// Manager runs, on this instance, the connectors whose lease it holds.
type Manager struct {
	store    *Store
	leases   jetstream.KeyValue
	marks    jetstream.KeyValue
	pub      Publisher
	instance string
	log      *slog.Logger
	guard    Guard    // where sources may connect; nil dials anywhere
	listener Listener // the hub's own MQTT listener; nil without one
	gateway  Gateway  // takes applications' events from the listener; nil without one
	bounds   Bounds
	stored   *tally // by the connectors running here

	mu      sync.Mutex
	running map[string]*runner // by <solution>.<name>
	closed  bool
	kick    chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewManager opens the buckets connectors run with.
func NewManager(ctx context.Context, b *bus.Bus, store *Store, pub Publisher, instance string, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	leases, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: leasesBucket, Description: "Switchboard connector leases", TTL: leaseTTL, History: 1})
	if err != nil {
		return nil, err
	}
	marks, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: marksBucket, Description: "Switchboard connector checkpoints", History: 1})
	if err != nil {
		return nil, err
	}
	m := &Manager{store: store, leases: leases, marks: marks, pub: pub, instance: instance, log: log,
		running: map[string]*runner{}, kick: make(chan struct{}, 1), stored: newTally()}
	store.OnChange(func() {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	})
	return m, nil
}

// UseGuard makes every source run by m connect through g (see WithGuard); call it before
// Start.
func (m *Manager) UseGuard(g Guard) { m.guard = g }

// UseBounds makes every connector run by m wait while its handlers are behind by the bounds
// of b (see Bounds); call it before Start. Without it nothing is held back.
func (m *Manager) UseBounds(b Bounds) { m.bounds = b }

// Start runs connectors until Close.
func (m *Manager) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Go(func() {
		t := time.NewTicker(reconcileEvery)
		defer t.Stop()
		for {
			m.reconcile(ctx)
			select {
			case <-ctx.Done():
				return
			case <-m.kick:
			case <-t.C:
			}
		}
	})
}

// Close stops every connector running here and gives up their leases, so that another
// instance takes them over at once.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	rs := m.running
	m.running = map[string]*runner{}
	m.mu.Unlock()
	if m.cancel != nil {
		m.cancel()
	}
	for _, r := range rs {
		r.stop(true)
	}
	m.wg.Wait()
}

// Status is how a connector is doing, from its lease (any instance's).
func (m *Manager) Status(ctx context.Context, c Connector) Status {
	if c.Paused {
		return Status{State: StatePaused}
	}
	if k, ok := KindOf(c.Type); ok && k.Inbound {
		return Status{State: StateRunning, Version: c.Version} // served by every instance
	}
	m.mu.Lock()
	r := m.running[c.Solution+"."+c.Name]
	m.mu.Unlock()
	if r != nil { // run here: its counts as they are now
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.status
	}
	// Run elsewhere: as its instance last said, at most a heartbeat ago.
	e, err := m.leases.Get(ctx, c.Solution+"."+c.Name)
	if err != nil {
		return Status{State: StatePending}
	}
	var st Status
	if json.Unmarshal(e.Value(), &st) != nil {
		return Status{State: StatePending}
	}
	return st
}

// RunningLag is the lag of a connector running on this instance.
type RunningLag struct {
	Solution, Name string
	Lag            uint64
}

// Lags are the lags of the connectors running on this instance whose source told one, as
// last asked for.
func (m *Manager) Lags() []RunningLag {
	m.mu.Lock()
	rs := make([]*runner, 0, len(m.running))
	for _, r := range m.running {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	var out []RunningLag
	for _, r := range rs {
		r.mu.Lock()
		if r.status.State == StateRunning && r.status.Lag != nil {
			out = append(out, RunningLag{Solution: r.c.Solution, Name: r.c.Name, Lag: *r.status.Lag})
		}
		r.mu.Unlock()
	}
	return out
}

// reconcile stops what should not run here and takes the leases of what nobody runs.
func (m *Manager) reconcile(ctx context.Context) {
	want := map[string]Connector{}
	for _, c := range m.store.List("") {
		if k, ok := KindOf(c.Type); ok && !k.Inbound && !c.Paused && c.Direction != DirectionOut {
			want[c.Solution+"."+c.Name] = c
		}
	}
	m.mu.Lock()
	for key, r := range m.running {
		if c, ok := want[key]; !ok || c.Version != r.c.Version || r.lost() {
			delete(m.running, key)
			go r.stop(true)
		}
	}
	var free []Connector
	for key, c := range want {
		if _, ok := m.running[key]; !ok {
			free = append(free, c)
		}
	}
	runs := map[string]bool{}
	for _, r := range m.running {
		runs[r.c.Solution] = true
	}
	m.mu.Unlock()
	// What the connectors of a solution no longer running here stored is counted by now.
	m.stored.keep(func(sol string) bool { return runs[sol] })
	for _, c := range free {
		r, err := m.take(ctx, c)
		if err != nil || r == nil {
			continue
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			r.stop(true)
			return
		}
		m.running[c.Solution+"."+c.Name] = r
		m.mu.Unlock()
		r.start()
	}
}

// take tries for c's lease; nil when another instance holds it.
func (m *Manager) take(ctx context.Context, c Connector) (*runner, error) {
	st := Status{State: StateConnecting, Instance: m.instance, Since: time.Now().UTC(), Version: c.Version}
	data, _ := json.Marshal(st)
	key := c.Solution + "." + c.Name
	rev, err := m.leases.Create(ctx, key, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, nil
	}
	if err != nil {
		m.log.Warn("connector lease not taken", "solution", c.Solution, "connector", c.Name, "err", err)
		return nil, err
	}
	r := &runner{m: m, c: c, key: key, rev: rev, status: st, done: make(chan struct{}), gauge: newGauge(m.bounds, c, m.stored)}
	if r.gauge != nil {
		r.status.MaxPending = r.gauge.limit()
	}
	return r, nil
}

// runner runs one connector while this instance holds its lease.
type runner struct {
	m   *Manager
	c   Connector
	key string
	// gauge counts its pending events; nil holds nothing back.
	gauge *gauge

	mu       sync.Mutex
	rev      uint64 // of the lease
	status   Status
	lostBeat bool
	cancel   context.CancelFunc
	done     chan struct{}
}

func (r *runner) lost() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lostBeat
}

func (r *runner) set(f func(*Status)) {
	r.mu.Lock()
	f(&r.status)
	r.mu.Unlock()
}

func (r *runner) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	log := r.m.log.With("solution", r.c.Solution, "connector", r.c.Name, "type", r.c.Type)
	go func() {
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !r.beat(ctx) {
					log.Warn("connector lease lost; another instance may run it")
					r.mu.Lock()
					r.lostBeat = true
					r.mu.Unlock()
					cancel()
					select {
					case r.m.kick <- struct{}{}:
					default:
					}
					return
				}
			}
		}
	}()
	go func() {
		defer close(r.done)
		k, _ := KindOf(r.c.Type)
		src, err := k.New(r.c.Config)
		if err != nil {
			// Checked when stored; a type that changed its mind since waits for a new config.
			r.set(func(s *Status) { s.State, s.LastError, s.Since = StateFailed, err.Error(), time.Now().UTC() })
			r.beat(ctx)
			<-ctx.Done()
			return
		}
		if l, ok := src.(Lagger); ok || r.gauge != nil {
			var watching sync.WaitGroup
			defer watching.Wait()
			watching.Go(func() { r.watch(ctx, l) })
		}
		sink := &sink{r: r, pub: r.m.pub, app: applicationOf(r.c)}
		cp := &checkpoint{kv: r.m.marks, key: r.key}
		wait := minBackoff
		for {
			// Connecting until the source says it is connected and subscribed (sink.Ready).
			r.set(func(s *Status) { s.State, s.Since = StateConnecting, time.Now().UTC() })
			r.beat(ctx)
			began := time.Now()
			err := src.Run(withListener(WithGuard(ctx, r.m.guard), r.m.listener, r.c.Solution), sink, cp)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = errors.New("stopped without an error")
			}
			if time.Since(began) > maxBackoff {
				wait = minBackoff // it ran a good while: a new failure starts the back-off anew
			}
			d := time.Duration(float64(wait) * (0.5 + rand.Float64()))
			log.Warn("connector failed; will run again", "err", err, "in", d)
			r.set(func(s *Status) {
				s.State, s.LastError, s.Since = StateBackingOff, err.Error(), time.Now().UTC()
				s.Held, s.HeldReason, s.Lag = false, "", nil
			})
			r.beat(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			wait = min(2*wait, maxBackoff)
		}
	}()
}

// beat renews the lease with the current status; false when the lease is no longer ours.
func (r *runner) beat(ctx context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, _ := json.Marshal(r.status)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), heartbeat)
	defer cancel()
	rev, err := r.m.leases.Update(ctx, r.key, data, r.rev)
	if err != nil {
		return !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyNotFound)
	}
	r.rev = rev
	return true
}

// stop ends the run and, when release, gives the lease up.
func (r *runner) stop(release bool) {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	if !release || r.lost() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.mu.Lock()
	rev := r.rev
	r.mu.Unlock()
	if err := r.m.leases.Delete(ctx, r.key, jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		r.m.log.Debug("connector lease not given up; it expires", "connector", r.c.Name, "err", err)
	}
}

// checkpoint is a Checkpoint in the marks bucket.
type checkpoint struct {
	kv  jetstream.KeyValue
	key string
}

func (c *checkpoint) Load(ctx context.Context) ([]byte, error) {
	e, err := c.kv.Get(ctx, c.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	return e.Value(), nil
}

func (c *checkpoint) Save(ctx context.Context, v []byte) error {
	if _, err := c.kv.Put(ctx, c.key, v); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}
