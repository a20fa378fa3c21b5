package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/internal/edge"
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/hosted/orchestrator"
	"github.com/switchboardhq/switchboard/internal/hosted/proc"
)

// inboxSize bounds the actions waiting for one instance: SubmitAction waits while it is full.
const inboxSize = 64

// runner runs the node's instances, each as the kind of service says: lua ones in the
// orchestrator's sandbox, python and process ones as child processes.
type runner struct {
	node *edge.Node
	cfg  Config
	id   identity
	lua  *orchestrator.Orchestrator

	mu       sync.Mutex
	insts    map[string]*instance         // by instance name
	luaSpecs map[string]orchestrator.Spec // the lua instances last applied, by name

	fullSaid atomic.Int64 // when the agent's log last said the outbox was full (unix seconds)
}

// instance is one running instance and the actions queued for it.
type instance struct {
	spec  hosted.NodeInstance
	p     *proc.Process
	inbox chan action
	done  chan struct{} // closed when its actions stop being delivered
	r     *runner
}

type action struct {
	name    string
	message any
}

func newRunner(node *edge.Node, cfg Config, id identity) *runner {
	r := &runner{node: node, cfg: cfg, id: id, insts: map[string]*instance{}}
	r.lua = orchestrator.New(orchestrator.Options{Engine: cfg.Engine, Host: luaHost{r}, StopDeadline: cfg.StopDeadline, Forward: r.toProcesses})
	return r
}

// apply makes the running instances those of a: an instance whose hash changed is stopped
// and started anew, one no longer assigned stopped, a new one started; the others are left
// alone.
func (r *runner) apply(ctx context.Context, a hosted.NodeAssignment) {
	want := map[string]hosted.NodeInstance{}
	var lua []orchestrator.Spec
	if !a.Disabled {
		for _, in := range a.Instances {
			if in.Kind != hosted.KindLua {
				want[in.Instance] = in
				continue
			}
			code, err := r.node.Assignment(ctx, hosted.CodeKeyPrefix+in.CodeSHA256)
			if err != nil {
				r.up(hosted.UpLog, in, hosted.Up{Level: "error", Message: "not started: " + err.Error()})
				continue
			}
			lua = append(lua, orchestrator.Spec{Name: in.Instance, Service: in.Service, Kind: in.Kind, Version: in.Version, Code: string(code),
				Static: in.Static, Security: in.Security, Upstream: in.Upstream, Hash: in.Hash,
				Settings: orchestrator.Settings{NodeName: a.Node, Tags: a.Tags, Solution: a.Solution, Flow: in.Flow}})
		}
	}
	if err := r.lua.Apply(ctx, lua); err != nil {
		r.cfg.Logger.Error("lua instances not all applied", "err", err)
	}
	r.mu.Lock()
	r.luaSpecs = map[string]orchestrator.Spec{}
	for _, s := range lua {
		r.luaSpecs[s.Name] = s
	}
	r.mu.Unlock()
	r.mu.Lock()
	var stop []*instance
	for name, cur := range r.insts {
		if w, ok := want[name]; !ok || w.Hash != cur.spec.Hash {
			stop = append(stop, cur)
			delete(r.insts, name)
		}
	}
	r.mu.Unlock()
	for _, in := range stop {
		r.stop(in)
	}
	for name, w := range want {
		r.mu.Lock()
		_, running := r.insts[name]
		r.mu.Unlock()
		if running {
			continue
		}
		in, err := r.start(ctx, a, w)
		if err != nil {
			r.up(hosted.UpLog, w, hosted.Up{Level: "error", Message: "not started: " + err.Error()})
			continue
		}
		r.mu.Lock()
		r.insts[name] = in
		r.mu.Unlock()
	}
}

// start launches an instance and calls its Start.
func (r *runner) start(ctx context.Context, a hosted.NodeAssignment, spec hosted.NodeInstance) (*instance, error) {
	code, err := r.node.Assignment(ctx, hosted.CodeKeyPrefix+spec.CodeSHA256)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(r.cfg.DataDir, "instances", spec.Instance)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	in := &instance{spec: spec, inbox: make(chan action, inboxSize), done: make(chan struct{}), r: r}
	p, err := proc.Launch(ctx, proc.Config{Dir: dir, Kind: spec.Kind, Class: spec.Service, Code: string(code), ID: spec.Instance,
		Settings: map[string]any{"nodeName": a.Node, "tags": a.Tags, "solution": a.Solution, "flow": spec.Flow},
		Static:   spec.Static, Security: spec.Security, Python: r.cfg.Python, Handler: in})
	if err != nil {
		return nil, err
	}
	in.p = p
	go in.deliver()
	if err := p.Start(); err != nil {
		in.halt(r.cfg.StopDeadline)
		return nil, err
	}
	r.up(hosted.UpLog, spec, hosted.Up{Level: "info", Message: fmt.Sprintf("started %s %s", spec.Service, spec.Version)})
	return in, nil
}

// stop calls an instance's Stop; past the deadline it is killed, and that is said.
func (r *runner) stop(in *instance) {
	if err := in.halt(r.cfg.StopDeadline); errors.Is(err, proc.ErrKilled) {
		r.up(hosted.UpLog, in.spec, hosted.Up{Level: "error", Message: fmt.Sprintf("did not stop within %s and was killed", r.cfg.StopDeadline)})
		return
	}
	r.up(hosted.UpLog, in.spec, hosted.Up{Level: "info", Message: "stopped"})
}

func (r *runner) stopAll() {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StopDeadline+5*time.Second)
	r.lua.Close(ctx)
	cancel()
	r.mu.Lock()
	all := make([]*instance, 0, len(r.insts))
	for name, in := range r.insts {
		all = append(all, in)
		delete(r.insts, name)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Go(func() { r.stop(in) })
	}
	wg.Wait()
}

// halt stops delivering actions and stops the process.
func (in *instance) halt(deadline time.Duration) error {
	err := in.p.Stop(deadline)
	<-in.done
	return err
}

// deliver hands the queued actions to the instance, one at a time, until it ends.
func (in *instance) deliver() {
	defer close(in.done)
	for {
		select {
		case <-in.p.Exited():
			return
		case a := <-in.inbox:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := in.p.Action(ctx, a.name, a.message); err != nil {
				in.Log(slog.LevelWarn, fmt.Sprintf("action %s: %v", a.name, err))
			}
			cancel()
		}
	}
}

// report sends what the node runs.
func (r *runner) report(ctx context.Context) {
	lua := r.lua.States()
	r.mu.Lock()
	st := hosted.NodeState{AgentVersion: r.cfg.Version, Instances: []hosted.ReportedInstance{}}
	for name, s := range r.luaSpecs {
		state := lua[name]
		if state == "" {
			state = "stopped" // not run (its log says why)
		}
		st.Instances = append(st.Instances, hosted.ReportedInstance{Name: name, Service: s.Service, Version: s.Version, State: state})
	}
	for _, in := range r.insts {
		state := "running"
		select {
		case <-in.p.Exited():
			state = "exited"
		default:
		}
		st.Instances = append(st.Instances, hosted.ReportedInstance{Name: in.spec.Instance, Service: in.spec.Service, Version: in.spec.Version, State: state})
	}
	r.mu.Unlock()
	sort.Slice(st.Instances, func(i, j int) bool { return st.Instances[i].Name < st.Instances[j].Name })
	r.send(ctx, hosted.UpState, hosted.Up{Time: time.Now().UTC(), State: &st})
}

// up sends a message of an instance through the outbox.
func (r *runner) up(kind string, spec hosted.NodeInstance, u hosted.Up) {
	u.Time, u.Instance, u.Service, u.Version = time.Now().UTC(), spec.Instance, spec.Service, spec.Version
	r.send(context.Background(), kind, u)
}

func (r *runner) send(ctx context.Context, kind string, u hosted.Up) {
	if err := r.publish(ctx, kind, u); err != nil {
		r.cfg.Logger.Error("not kept for the hub", "kind", kind, "instance", u.Instance, "err", err)
	}
}

func (r *runner) publish(ctx context.Context, kind string, u hosted.Up) error {
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	_, err = r.node.Publish(ctx, kind, raw, "")
	if errors.Is(err, edge.ErrOutboxFull) {
		// Dropped and counted; the hub is told how many with the next message the outbox
		// takes. The service goes on: what it sends later is what the hub would miss.
		if now := time.Now().Unix(); now-r.fullSaid.Load() >= 60 {
			r.fullSaid.Store(now)
			r.cfg.Logger.Warn("the outbox is full (the hub has not taken what it holds): new messages are dropped and counted", "dropped", r.node.Dropped())
		}
		return nil
	}
	return err
}

// The instance is its process's proc.Handler.

func (in *instance) Log(level slog.Level, msg string) {
	in.r.up(hosted.UpLog, in.spec, hosted.Up{Level: solutionLevel(level), Message: msg})
}

func (in *instance) Alert(message, faultCode, faultDescription string) {
	in.r.up(hosted.UpAlert, in.spec, hosted.Up{Message: message, FaultCode: faultCode, FaultDescription: faultDescription})
}

// SubmitMessage keeps message for the hub, as an event of the instance's upstream topic.
func (in *instance) SubmitMessage(ctx context.Context, message any) error {
	if in.spec.Upstream == "" {
		return fmt.Errorf("instance %s has no upstream topic: its flow gives it none", in.spec.Instance)
	}
	u := hosted.Up{Time: time.Now().UTC(), Instance: in.spec.Instance, Service: in.spec.Service, Version: in.spec.Version, Topic: in.spec.Upstream, Message: message}
	return in.r.publish(ctx, hosted.UpMessage, u)
}

// SubmitAction queues message for the method action of instance destination on this node
// ("*": every other instance), Lua or not, waiting while a queue is full.
func (in *instance) SubmitAction(ctx context.Context, destination, act string, message any) error {
	known, err := in.r.queue(ctx, in, destination, act, message)
	if destination == "*" {
		return errors.Join(err, in.r.lua.Deliver(ctx, "*", act, message))
	}
	if known {
		return err
	}
	if err := in.r.lua.Deliver(ctx, destination, act, message); !errors.Is(err, orchestrator.ErrUnknownDestination) {
		return err
	}
	in.Log(slog.LevelWarn, fmt.Sprintf("SubmitAction: no service instance %q on this node; the action %s is not delivered", destination, act))
	return fmt.Errorf("no service instance %q on this node", destination)
}

// toProcesses takes a Lua instance's SubmitAction to the process instances (Options.Forward).
func (r *runner) toProcesses(ctx context.Context, destination, act string, message any, broadcast bool) (bool, error) {
	if broadcast {
		destination = "*"
	}
	return r.queue(ctx, nil, destination, act, message)
}

// queue puts an action into the queue of the process instance destination ("*": every one but
// from); known says whether there was such an instance.
func (r *runner) queue(ctx context.Context, from *instance, destination, act string, message any) (bool, error) {
	r.mu.Lock()
	var to []*instance
	for name, other := range r.insts {
		if name == destination || (destination == "*" && other != from) {
			to = append(to, other)
		}
	}
	r.mu.Unlock()
	for _, other := range to {
		select {
		case other.inbox <- action{name: act, message: message}:
		case <-other.done:
		case <-ctx.Done():
			return true, fmt.Errorf("the queue of %s stayed full: %w", other.spec.Instance, ctx.Err())
		}
	}
	return len(to) > 0, nil
}

// luaHost is where the node's Lua instances write: its outbox, for the hub.
type luaHost struct{ r *runner }

func (h luaHost) spec(s orchestrator.Spec) hosted.NodeInstance {
	return hosted.NodeInstance{Instance: s.Name, Service: s.Service, Version: s.Version, Upstream: s.Upstream}
}

func (h luaHost) Log(s orchestrator.Spec, level slog.Level, msg string, fields map[string]any) {
	h.r.up(hosted.UpLog, h.spec(s), hosted.Up{Level: solutionLevel(level), Message: msg})
}

func (h luaHost) Alert(s orchestrator.Spec, message, faultCode, faultDescription string) {
	h.r.up(hosted.UpAlert, h.spec(s), hosted.Up{Message: message, FaultCode: faultCode, FaultDescription: faultDescription})
}

func (h luaHost) Submit(ctx context.Context, s orchestrator.Spec, message any) error {
	if s.Upstream == "" {
		return fmt.Errorf("instance %s has no upstream topic: its flow gives it none", s.Name)
	}
	return h.r.publish(ctx, hosted.UpMessage, hosted.Up{Time: time.Now().UTC(), Instance: s.Name, Service: s.Service, Version: s.Version, Topic: s.Upstream, Message: message})
}

// solutionLevel is the name a solution's log gives level.
func solutionLevel(level slog.Level) string {
	switch {
	case level >= slog.LevelError:
		return "error"
	case level >= slog.LevelWarn:
		return "warn"
	case level >= slog.LevelInfo:
		return "info"
	}
	return "debug"
}
