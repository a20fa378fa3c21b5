// Package orchestrator runs a node's hosted service instances: each Lua instance is an actor
// (one goroutine, a bounded inbox, callbacks processed one at a time) with its own Lua session.
// Apply brings the running set to a list of specs, restarting only what changed; the services
// talk to each other through SubmitAction and to the outside through the Host.
// docs/hosted-runtime.md describes what a service sees.
package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/script"
)

// Defaults of Options' zero fields.
const (
	DefaultInbox           = 64
	DefaultStopDeadline    = 5 * time.Second
	DefaultMaxTimers       = 16
	DefaultMinPeriod       = 10 * time.Millisecond
	DefaultMaxInstances    = 256
	DefaultMaxMessageBytes = 256 << 10
)

// killGrace is how long a killed instance's goroutine is waited for: a Lua call ends within a
// few milliseconds of its context, and the host's Submit must return when its context ends.
const killGrace = 2 * time.Second

// Options configure an Orchestrator.
type Options struct {
	Engine *script.Engine
	Host   Host
	// Limits bound each callback (time, steps, call depth, coroutines); Limits.Memory bounds
	// what an instance holds in all (script defaults when zero).
	Limits script.Limits
	// Inbox is how many actions an instance's inbox holds; a sender to a full one waits.
	Inbox int
	// StopDeadline is how long Stop (and the callback in progress) may take before the
	// instance is killed.
	StopDeadline time.Duration
	MaxTimers    int           // timers alive per instance
	MinPeriod    time.Duration // the shortest timer period
	MaxInstances int           // specs one Apply may have
	// MaxMessageBytes bounds one SubmitAction or SubmitMessage message (its Go size).
	MaxMessageBytes int64
	// Forward, when set, takes a SubmitAction to instances the orchestrator does not run
	// (others of the node, run otherwise): called for a destination it does not know (known
	// false: none such either), and for "*" (broadcast) after its own instances got it.
	Forward func(ctx context.Context, destination, action string, message any, broadcast bool) (known bool, err error)
}

func (o Options) withDefaults() Options {
	if o.Inbox <= 0 {
		o.Inbox = DefaultInbox
	}
	if o.StopDeadline <= 0 {
		o.StopDeadline = DefaultStopDeadline
	}
	if o.MaxTimers <= 0 {
		o.MaxTimers = DefaultMaxTimers
	}
	if o.MinPeriod <= 0 {
		o.MinPeriod = DefaultMinPeriod
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = DefaultMaxInstances
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	o.Limits = o.Limits.WithDefaults()
	return o
}

// Orchestrator runs one node's instances. Its methods are safe for concurrent use.
type Orchestrator struct {
	opt Options

	applyMu sync.Mutex // one Apply or Close at a time
	closed  bool

	mu    sync.RWMutex
	insts map[string]*instance // by Spec.Name: what the last Apply asked for
}

// New returns an orchestrator running nothing yet.
func New(o Options) *Orchestrator {
	return &Orchestrator{opt: o.withDefaults(), insts: map[string]*instance{}}
}

// ErrClosed is an Apply after Close.
var ErrClosed = errors.New("orchestrator closed")

// Apply makes specs the node's instances. By Name: an instance no longer in specs, or whose
// Hash changed, gets Stop (and is killed when that takes longer than the stop deadline);
// then each new or changed one is set up and gets Start, on its own goroutine (Apply does not
// wait for Start). Unchanged instances are not touched. Specs that cannot run (no name, a name
// twice, more than MaxInstances) are left out, logged, and named in the error; the others are
// applied all the same. ctx bounds the wait for stops: when it ends, those still stopping are
// killed.
func (o *Orchestrator) Apply(ctx context.Context, specs []Spec) error {
	o.applyMu.Lock()
	defer o.applyMu.Unlock()
	if o.closed {
		return ErrClosed
	}
	if len(specs) > o.opt.MaxInstances {
		return fmt.Errorf("%d instances; a node runs at most %d", len(specs), o.opt.MaxInstances)
	}
	var errs []error
	want := make(map[string]Spec, len(specs))
	order := make([]Spec, 0, len(specs))
	for i, s := range specs {
		switch _, dup := want[s.Name]; {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("instance %d: no name", i))
		case dup:
			errs = append(errs, fmt.Errorf("instance %s: the name is given twice; the first is run", s.Name))
			o.opt.Host.Log(s, slog.LevelError, "instance not run: its name is another instance's on this node", nil)
		default:
			want[s.Name] = s
			order = append(order, s)
		}
	}

	var stopping []*instance
	o.mu.Lock()
	for name, in := range o.insts {
		if s, ok := want[name]; !ok || s.Hash != in.spec.Hash {
			stopping = append(stopping, in)
			delete(o.insts, name)
		}
	}
	o.mu.Unlock()
	o.stopAll(ctx, stopping)

	var starting []*instance
	o.mu.Lock()
	for _, s := range order {
		if _, ok := o.insts[s.Name]; ok {
			continue
		}
		in := newInstance(o, s)
		o.insts[s.Name] = in
		starting = append(starting, in)
	}
	o.mu.Unlock()
	// Every new instance is a destination before any Start runs, so a Start may address the
	// others (its actions wait in their inboxes until their own Start is done).
	for _, in := range starting {
		in.launch()
	}
	return errors.Join(errs...)
}

// Close stops every instance (see Apply) and refuses later Applies.
func (o *Orchestrator) Close(ctx context.Context) {
	o.applyMu.Lock()
	defer o.applyMu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	o.mu.Lock()
	all := make([]*instance, 0, len(o.insts))
	for _, in := range o.insts {
		all = append(all, in)
	}
	clear(o.insts)
	o.mu.Unlock()
	o.stopAll(ctx, all)
}

// Running lists the instances that are running (set up, not stopped nor killed), by name with
// their hash.
func (o *Orchestrator) Running() map[string]string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := map[string]string{}
	for name, in := range o.insts {
		if in.running() {
			out[name] = in.spec.Hash
		}
	}
	return out
}

// States gives each instance's state by name: starting (being set up), running, or stopped
// (ended: by its Stop, killed, or its setup failed; its log says which).
func (o *Orchestrator) States() map[string]string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make(map[string]string, len(o.insts))
	for name, in := range o.insts {
		switch {
		case in.running():
			out[name] = "running"
		case in.ended():
			out[name] = "stopped"
		default:
			out[name] = "starting"
		}
	}
	return out
}

func (o *Orchestrator) stopAll(ctx context.Context, ins []*instance) {
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Go(func() { in.stop(ctx) })
	}
	wg.Wait()
}

// ErrUnknownDestination is a Deliver to an instance the orchestrator does not run.
var ErrUnknownDestination = errors.New("no such instance")

// Deliver puts an action from outside the orchestrator (an instance run otherwise on the node)
// into the inbox of instance destination, or of every instance for "*", waiting while an inbox
// is full as a SubmitAction does.
func (o *Orchestrator) Deliver(ctx context.Context, destination, name string, message any) error {
	if !actionPattern.MatchString(name) || reserved[name] {
		return fmt.Errorf("%q is not an action", truncate(name, 80))
	}
	a := action{name: name, body: message, broadcast: destination == "*"}
	if a.broadcast {
		var errs []error
		for _, to := range o.others(nil) {
			errs = append(errs, to.send(ctx, a))
		}
		return errors.Join(errs...)
	}
	to := o.lookup(destination)
	if to == nil {
		return fmt.Errorf("%s: %w", truncate(destination, 80), ErrUnknownDestination)
	}
	return to.send(ctx, a)
}

// lookup is the instance named name, or nil.
func (o *Orchestrator) lookup(name string) *instance {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.insts[name]
}

// others are the instances other than self, for a "*" SubmitAction.
func (o *Orchestrator) others(self *instance) []*instance {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]*instance, 0, len(o.insts))
	for _, in := range o.insts {
		if in != self && !in.ended() {
			out = append(out, in)
		}
	}
	return out
}

// isLua reports whether the orchestrator runs instances of kind.
func isLua(kind string) bool { return kind == hosted.KindLua }
