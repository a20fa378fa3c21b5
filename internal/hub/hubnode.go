package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/hosted/orchestrator"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
)

// hubNodes runs, for each solution, the Lua instances its flows assign to the node hub: an
// orchestrator per solution, following its flows, services and nodes. With several hub
// instances on one NATS, one runs a solution's: the one holding its lease, which another takes
// over when it lapses.
type hubNodes struct {
	log    *slog.Logger
	st     *hosted.Store
	engine *script.Engine
	events interface {
		Enqueue(context.Context, events.Event) error
	}
	logs     *solutionlog.Log
	leases   jetstream.KeyValue
	instance string

	syncMu  sync.Mutex // one sync at a time
	mu      sync.Mutex
	started bool // the beat runs
	closed  bool
	held    map[string]*hubLease // by solution: what runs here
	stop    chan struct{}
	done    chan struct{}
}

// hubLease is a solution's lease held here, and its orchestrator.
type hubLease struct {
	rev     uint64
	renewed time.Time // when the request that took or last renewed the lease was sent
	orch    *orchestrator.Orchestrator

	mu       sync.Mutex
	specs    []orchestrator.Spec // applied last, for the node's state
	reported string              // the instances' states written last: a beat that changes nothing writes nothing
}

// Leases of the hub node's instances: an instance holds a solution's while it beats; another
// takes it over hubLeaseTTL after the last beat.
const (
	hubLeaseBucket = "sb_hub_node_leases"
	hubLeaseTTL    = 15 * time.Second
	hubLeaseBeat   = hubLeaseTTL / 3
)

func newHubNodes(ctx context.Context, b *bus.Bus, instance string, log *slog.Logger, st *hosted.Store, engine *script.Engine, ev interface {
	Enqueue(context.Context, events.Event) error
}, logs *solutionlog.Log) (*hubNodes, error) {
	leases, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: hubLeaseBucket, Description: "Switchboard: which instance runs each solution's hub node", TTL: hubLeaseTTL, History: 1})
	if err != nil {
		return nil, fmt.Errorf("hub node leases: %w", err)
	}
	return &hubNodes{log: log, st: st, engine: engine, events: ev, logs: logs, leases: leases, instance: instance,
		held: map[string]*hubLease{}, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// start runs what every solution assigns the hub (where this instance gets the lease), and
// follows the changes.
func (n *hubNodes) start(solutions func() []string) {
	n.st.OnChange(func(sol string) { go n.sync(sol) })
	for _, sol := range solutions() {
		n.sync(sol)
	}
	n.mu.Lock()
	n.started = true
	n.mu.Unlock()
	go n.beat(solutions)
}

// beat renews the leases held here, drops those lost, and takes those nobody holds.
func (n *hubNodes) beat(solutions func() []string) {
	defer close(n.done)
	t := time.NewTicker(hubLeaseBeat)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), hubLeaseBeat)
		n.mu.Lock()
		held := maps.Clone(n.held)
		n.mu.Unlock()
		for sol, l := range held {
			n.mu.Lock()
			prev, renewed := l.rev, l.renewed
			n.mu.Unlock()
			asked := time.Now()
			rev, err := n.leases.Update(ctx, sol, []byte(n.instance), prev)
			if err != nil {
				if stillHeld(err, time.Since(renewed)) {
					n.log.Warn("hub node lease not renewed; its services keep running while it cannot lapse", "solution", sol, "err", err)
					continue
				}
				n.log.Warn("hub node lease lost; another instance may run its services", "solution", sol, "err", err)
				n.drop(ctx, sol, false)
				continue
			}
			n.mu.Lock()
			l.rev, l.renewed = rev, asked
			n.mu.Unlock()
			n.report(ctx, sol, l) // what stopped since, stopped; and the hub node seen by all
		}
		cancel()
		for _, sol := range solutions() {
			if _, ok := held[sol]; !ok {
				n.sync(sol) // takes the lease if it lapsed
			}
		}
	}
}

// stillHeld reports whether a lease whose renewal failed with err, since renewed ago its last
// renewal, is still this instance's. Only a revision mismatch says it is gone (lapsed, or
// taken by another). Any other failure (NATS electing a leader, a node lost, a timeout) leaves
// it held for as long as no one else can take it: until it would lapse, less a beat in which
// to stop its services.
func stillHeld(err error, renewed time.Duration) bool {
	return !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && renewed < hubLeaseTTL-hubLeaseBeat
}

// sync applies what sol assigns the hub node now, here if this instance holds (or can take)
// the solution's lease.
func (n *hubNodes) sync(sol string) {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	assigned, err := n.st.Assignment(sol, hosted.HubNode)
	if err != nil {
		n.log.Error("hub node assignment not read", "solution", sol, "err", err)
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	l, ok := n.held[sol]
	n.mu.Unlock()
	if len(assigned) == 0 {
		if ok {
			n.drop(ctx, sol, true) // nothing to run: another instance need not wait for the lease
		}
		return
	}
	if !ok {
		// The lease first: an instance that does not run them reads no code.
		asked := time.Now()
		rev, err := n.leases.Create(ctx, sol, []byte(n.instance))
		if err != nil {
			return // another instance runs them (or the bus is away: the next beat tries again)
		}
		l = &hubLease{rev: rev, renewed: asked, orch: orchestrator.New(orchestrator.Options{Engine: n.engine, Host: hubHost{n}})}
		n.mu.Lock()
		if n.closed {
			// close began while the lease was being taken and will not stop what this
			// would start: give the lease back, so that another instance need not wait for
			// it to lapse.
			n.mu.Unlock()
			_ = n.leases.Delete(ctx, sol, jetstream.LastRevision(rev))
			return
		}
		n.held[sol] = l
		n.mu.Unlock()
	}
	node, _ := n.st.GetNode(sol, hosted.HubNode)
	var specs []orchestrator.Spec
	for _, a := range assigned {
		code, err := n.st.Code(ctx, sol, a.Service, a.Version)
		if err != nil {
			n.log.Error("hosted service code not read", "solution", sol, "service", a.Service, "version", a.Version, "err", err)
			continue
		}
		specs = append(specs, orchestrator.SpecOf(a, code, orchestrator.Settings{NodeName: hosted.HubNode, Tags: node.Tags, Solution: sol}))
	}
	if err := l.orch.Apply(ctx, specs); err != nil && !errors.Is(err, orchestrator.ErrClosed) {
		n.log.Error("hub node instances not all applied", "solution", sol, "err", err)
	}
	l.mu.Lock()
	l.specs = specs
	l.mu.Unlock()
	n.report(ctx, sol, l)
}

// report keeps what the hub node runs for sol as its state, as an agent reports its node's:
// each instance applied, starting, running or stopped (see Orchestrator.States); only when it
// changed since this instance last wrote it. l nil is nothing.
func (n *hubNodes) report(ctx context.Context, sol string, l *hubLease) {
	st := hosted.NodeState{Instances: []hosted.ReportedInstance{}}
	if l != nil {
		states := l.orch.States()
		l.mu.Lock()
		for _, s := range l.specs {
			state := states[s.Name]
			if state == "" {
				state = "stopped" // not run: its log says why
			}
			st.Instances = append(st.Instances, hosted.ReportedInstance{Name: s.Name, Service: s.Service, Version: s.Version, State: state})
		}
		l.mu.Unlock()
	}
	sort.Slice(st.Instances, func(i, j int) bool { return st.Instances[i].Name < st.Instances[j].Name })
	key := fmt.Sprint(st.Instances)
	if l != nil {
		l.mu.Lock()
		same := l.reported == key
		l.mu.Unlock()
		if same {
			return
		}
	}
	if err := n.st.ReportState(ctx, sol, hosted.HubNode, st); err != nil {
		n.log.Warn("hub node state not kept", "solution", sol, "err", err)
		return
	}
	if l != nil {
		l.mu.Lock()
		l.reported = key
		l.mu.Unlock()
	}
}

// drop stops sol's instances here; release gives the lease up too.
func (n *hubNodes) drop(ctx context.Context, sol string, release bool) {
	n.mu.Lock()
	l, ok := n.held[sol]
	delete(n.held, sol)
	n.mu.Unlock()
	if !ok {
		return
	}
	l.orch.Close(ctx)
	if release {
		n.report(ctx, sol, nil) // runs nothing now
		_ = n.leases.Delete(ctx, sol, jetstream.LastRevision(l.rev))
	}
}

// close stops every solution's instances, each within its stop deadline, and gives their
// leases up.
func (n *hubNodes) close(ctx context.Context) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	sols := slices.Collect(maps.Keys(n.held))
	started := n.started
	n.mu.Unlock()
	close(n.stop)
	if started {
		<-n.done
	}
	var wg sync.WaitGroup
	for _, sol := range sols {
		wg.Go(func() { n.drop(ctx, sol, true) })
	}
	wg.Wait()
}

// hubHost is where the hub node's instances write: the solution's log and its events.
type hubHost struct{ n *hubNodes }

func (h hubHost) Log(spec orchestrator.Spec, level slog.Level, msg string, fields map[string]any) {
	h.n.write(spec, solutionlog.LevelName(level), msg, fields)
}

func (h hubHost) Alert(spec orchestrator.Spec, message, faultCode, faultDescription string) {
	h.n.write(spec, "error", message, map[string]any{"fault_code": faultCode, "fault_description": faultDescription})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic := "alerts." + hosted.HubNode + "." + strings.ToLower(spec.Service)
	err := h.n.events.Enqueue(ctx, events.Event{Solution: spec.Settings.Solution, Topic: topic, Source: "/nodes/hub/" + spec.Name,
		Data: map[string]any{"node": hosted.HubNode, "service": spec.Service, "instance": spec.Name, "message": message, "fault_code": faultCode, "fault_description": faultDescription}})
	if err != nil && !errors.Is(err, events.ErrNoHandler) {
		h.n.write(spec, "error", "the alert was not stored: "+err.Error(), nil)
	}
}

func (h hubHost) Submit(ctx context.Context, spec orchestrator.Spec, message any) error {
	err := h.n.events.Enqueue(ctx, events.Event{Solution: spec.Settings.Solution, Topic: spec.Upstream, Source: "/nodes/hub/" + spec.Name, Data: message})
	if errors.Is(err, events.ErrNoHandler) {
		return fmt.Errorf("no handler subscribes to topic %s: the message is not kept", spec.Upstream)
	}
	return err
}

func (n *hubNodes) write(spec orchestrator.Spec, level, msg string, fields map[string]any) {
	writeNodeLog(n.logs, time.Time{}, spec.Settings.Solution, hosted.HubNode, spec.Name, level, msg, fields)
}
