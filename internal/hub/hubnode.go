package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/hosted/orchestrator"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
)

// hubNodes runs, for each solution, the Lua instances its flows assign to the node hub: an
// orchestrator per solution, following its flows, services and nodes.
type hubNodes struct {
	log    *slog.Logger
	st     *hosted.Store
	engine *script.Engine
	events interface {
		Enqueue(context.Context, events.Event) error
	}
	logs *solutionlog.Log

	mu     sync.Mutex
	closed bool
	orch   map[string]*orchestrator.Orchestrator // by solution
}

func newHubNodes(log *slog.Logger, st *hosted.Store, engine *script.Engine, ev interface {
	Enqueue(context.Context, events.Event) error
}, logs *solutionlog.Log) *hubNodes {
	return &hubNodes{log: log, st: st, engine: engine, events: ev, logs: logs, orch: map[string]*orchestrator.Orchestrator{}}
}

// start runs what every solution assigns the hub, and follows the changes.
func (n *hubNodes) start(solutions []string) {
	n.st.OnChange(func(sol string) { go n.sync(sol) })
	for _, sol := range solutions {
		n.sync(sol)
	}
}

// sync applies what sol assigns the hub node now.
func (n *hubNodes) sync(sol string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	assigned, err := n.st.Assignment(sol, hosted.HubNode)
	if err != nil {
		n.log.Error("hub node assignment not read", "solution", sol, "err", err)
		return
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
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	o, ok := n.orch[sol]
	if !ok {
		if len(specs) == 0 {
			n.mu.Unlock()
			return
		}
		o = orchestrator.New(orchestrator.Options{Engine: n.engine, Host: hubHost{n}})
		n.orch[sol] = o
	}
	n.mu.Unlock()
	if err := o.Apply(ctx, specs); err != nil && !errors.Is(err, orchestrator.ErrClosed) {
		n.log.Error("hub node instances not all applied", "solution", sol, "err", err)
	}
}

// close stops every solution's instances, each within its stop deadline.
func (n *hubNodes) close(ctx context.Context) {
	n.mu.Lock()
	n.closed = true
	all := n.orch
	n.orch = map[string]*orchestrator.Orchestrator{}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, o := range all {
		wg.Go(func() { o.Close(ctx) })
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
	if len(msg) > maxNodeLine {
		msg = msg[:maxNodeLine] + "…"
	}
	var raw json.RawMessage
	if len(fields) > 0 {
		raw, _ = json.Marshal(fields)
	}
	n.logs.Write(solutionlog.Entry{Time: time.Now().UTC(), Level: level, Solution: spec.Settings.Solution,
		Source: "node " + hosted.HubNode + " service " + spec.Name, Message: msg, Fields: raw})
}
