package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/edge"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
)

// edgeNodes is the hub's side of the solutions' agents: their leaf logins, a link to each
// node (its outbox flowing into the hub, its assignment written into the node), and what
// the nodes send, turned into events, log entries and state.
type edgeNodes struct {
	log    *slog.Logger
	hosted atomic.Pointer[hosted.Store] // nil until open: logins are refused meanwhile
	bus    *bus.Bus
	events interface {
		Enqueue(context.Context, events.Event) error
	}
	logs     *solutionlog.Log
	solution func() []solution.Solution

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}

	mu    sync.Mutex
	links map[string]*edgeLink // by solution.node
}

// edgeLink is one node's link, with what was last written into it.
type edgeLink struct {
	sol, node, domain string
	link              *edge.Link
	// wanted counts the times the node's assignment may have changed; written is the count
	// its last written assignment was read at: written < wanted is due.
	wanted, written uint64
}

// Bounds of the agents' leaf logins.
const (
	maxEdgeConnections = 1024
	// edgeRetry is how often assignments a node did not take (it was away) are tried again.
	edgeRetry = 3 * time.Second
	// maxNodeLine bounds a node's log line as the solution's log keeps it.
	maxNodeLine = 8 << 10
)

// leafBusConfig is the embedded server's leaf listener for agents, when --leaf-listen asks
// for one.
func (h *Hub) leafBusConfig() *bus.LeafConfig {
	if h.cfg.LeafListen == "" {
		return nil
	}
	h.edges = newEdgeNodes(h.log)
	// With --tls-cert, agents connect over TLS too, to the same certificate.
	return &bus.LeafConfig{Listen: h.cfg.LeafListen, Login: h.edges.login, MaxConnections: maxEdgeConnections,
		MaxConnectionsPerSolution: hosted.MaxNodes, Logger: h.log, TLS: h.tlsConfig}
}

func newEdgeNodes(log *slog.Logger) *edgeNodes {
	return &edgeNodes{log: log, kick: make(chan struct{}, 1), links: map[string]*edgeLink{}}
}

// leafUser is how a node logs in to the leaf listener: <solution>.<node>.
func leafUser(sol, node string) string { return sol + "." + node }

// login decides a node's leaf login: its credential, from its sign-in.
func (e *edgeNodes) login(user, password string) bus.LeafGrant {
	st := e.hosted.Load()
	sol, node, ok := strings.Cut(user, ".")
	if st == nil || !ok || node == hosted.HubNode || !st.Authenticate(sol, node, password) {
		return bus.LeafGrant{}
	}
	pub, sub, err := edge.Grant(edge.Domain(sol, node))
	if err != nil {
		return bus.LeafGrant{}
	}
	// Once the node is connected, its assignment can be written: try now.
	e.markUnpushed(sol, node)
	return bus.LeafGrant{Solution: sol, Publish: pub, Subscribe: sub}
}

// LeafURL is where agents connect: advertise (--leaf-advertise) where it is set, else the
// leaf listener's port on the host clients reach the hub at (--public-url).
func leafURL(public, leafAddr, advertise string, secure bool) string {
	_, port, err := net.SplitHostPort(leafAddr)
	if err != nil || leafAddr == "" {
		return ""
	}
	host := "127.0.0.1"
	if u, err := url.Parse(public); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	addr := net.JoinHostPort(host, port)
	if advertise != "" {
		addr = advertise
	}
	if secure {
		return "tls://" + addr
	}
	return "nats-leaf://" + addr
}

// start links every node there is and follows the changes.
func (e *edgeNodes) start(st *hosted.Store) {
	e.ctx, e.cancel = context.WithCancel(context.Background())
	st.OnChange(func(sol string) { e.sync(sol) })
	for _, s := range e.solution() {
		e.sync(s.ID)
	}
	e.wg.Add(1)
	go e.retry()
}

// sync makes sol's links follow its nodes, and writes each node's assignment when it changed.
func (e *edgeNodes) sync(sol string) {
	st := e.hosted.Load()
	if st == nil || e.ctx == nil || e.ctx.Err() != nil {
		return
	}
	want := map[string]bool{}
	for _, n := range st.Nodes(sol) {
		want[sol+"."+n.Name] = true
	}
	e.mu.Lock()
	var gone []*edgeLink
	for key, l := range e.links {
		if l.sol == sol && !want[key] {
			gone = append(gone, l)
			delete(e.links, key)
		}
	}
	var fresh []string
	for key := range want {
		if l, ok := e.links[key]; ok {
			l.wanted++ // the solution changed: its assignment may have
			continue
		}
		fresh = append(fresh, key)
	}
	e.mu.Unlock()
	for _, l := range gone {
		l.link.Close()
	}
	for _, key := range fresh {
		_, node, _ := strings.Cut(key, ".")
		if err := e.open(sol, node); err != nil {
			e.log.Error("node link not opened", "solution", sol, "node", node, "err", err)
		}
	}
	e.kickRetry()
}

// open links node of sol: the hub's copy of its outbox, handed to deliver.
func (e *edgeNodes) open(sol, node string) error {
	domain := edge.Domain(sol, node)
	link, err := edge.OpenLink(e.bus.Connect, domain)
	if err != nil {
		return err
	}
	if err := link.Receive(e.ctx, func(ctx context.Context, d edge.Delivery) error { return e.deliver(ctx, sol, node, domain, d) }); err != nil {
		link.Close()
		return err
	}
	e.mu.Lock()
	if _, ok := e.links[sol+"."+node]; ok { // opened meanwhile by another sync
		e.mu.Unlock()
		link.Close()
		return nil
	}
	e.links[sol+"."+node] = &edgeLink{sol: sol, node: node, domain: domain, link: link, wanted: 1}
	e.mu.Unlock()
	return nil
}

func (e *edgeNodes) markUnpushed(sol, node string) {
	e.mu.Lock()
	if l, ok := e.links[sol+"."+node]; ok {
		l.wanted++
	}
	e.mu.Unlock()
	e.kickRetry()
}

func (e *edgeNodes) kickRetry() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// retry writes the assignments not written yet: at once when kicked, and every edgeRetry for
// nodes that were away.
func (e *edgeNodes) retry() {
	defer e.wg.Done()
	t := time.NewTicker(edgeRetry)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.kick:
		case <-t.C:
		}
		e.mu.Lock()
		var due []*edgeLink
		var at []uint64
		for _, l := range e.links {
			if l.written < l.wanted {
				due = append(due, l)
				at = append(at, l.wanted)
			}
		}
		e.mu.Unlock()
		for i, l := range due {
			// Read at count at[i]: a change meanwhile leaves it due, to be written again.
			if err := e.push(l); err != nil {
				e.log.Debug("node assignment not written; tried again later", "solution", l.sol, "node", l.node, "err", err)
				continue
			}
			e.mu.Lock()
			l.written = max(l.written, at[i])
			e.mu.Unlock()
		}
	}
}

// push writes l's node's assignment, and the code of each instance, into the node.
func (e *edgeNodes) push(l *edgeLink) error {
	st := e.hosted.Load()
	n, ok := st.GetNode(l.sol, l.node)
	if !ok {
		return fmt.Errorf("node %s: %w", l.node, hosted.ErrNodeNotFound)
	}
	assigned, err := st.Assignment(l.sol, l.node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	doc := hosted.NodeAssignment{Solution: l.sol, Node: l.node, Tags: n.Tags, Disabled: n.Disabled, Generation: n.Generation, Instances: []hosted.NodeInstance{}}
	codes := map[string]bool{}
	for _, a := range assigned {
		doc.Instances = append(doc.Instances, hosted.NodeInstance{Flow: a.Flow, Instance: a.Instance, Service: a.Service, Kind: a.Kind, Version: a.Version,
			CodeSHA256: a.CodeSHA256, Static: a.Static, Security: a.Security, Upstream: a.Upstream, Hash: a.Hash})
		if codes[a.CodeSHA256] {
			continue
		}
		code, err := st.Code(ctx, l.sol, a.Service, a.Version)
		if err != nil {
			return err
		}
		// The code first: a node reading the assignment finds every code it names.
		if _, err := l.link.Assign(ctx, hosted.CodeKeyPrefix+a.CodeSHA256, []byte(code)); err != nil {
			return err
		}
		codes[a.CodeSHA256] = true
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if _, err := l.link.Assign(ctx, hosted.AssignmentKey, raw); err != nil {
		return err
	}
	// The code of versions the node no longer runs goes: its bucket is bounded.
	if err := l.link.Prune(ctx, hosted.CodeKeyPrefix, func(k string) bool { return codes[strings.TrimPrefix(k, hosted.CodeKeyPrefix)] }); err != nil {
		e.log.Warn("old code not removed from the node", "solution", l.sol, "node", l.node, "err", err)
	}
	return nil
}

// deliver handles one message of node of sol, in the order the node sent them. An error has
// it offered again; what can never be handled is logged and let go.
func (e *edgeNodes) deliver(ctx context.Context, sol, node, domain string, d edge.Delivery) error {
	if d.Lost > 0 {
		e.write(sol, node, "", "warn", fmt.Sprintf("%d messages of node %s were dropped on the node before the hub got them: its outbox was full", d.Lost, node), nil)
	}
	if d.Subject == edge.LostSubject {
		return nil
	}
	var up hosted.Up
	if err := json.Unmarshal(d.Data, &up); err != nil {
		e.log.Warn("node message not readable; let go", "solution", sol, "node", node, "seq", d.NodeSeq, "err", err)
		return nil
	}
	id := domain + "-" + strconv.FormatUint(d.NodeSeq, 10) // stored once, however often handed
	switch d.Subject {
	case hosted.UpMessage:
		err := e.events.Enqueue(ctx, events.Event{ID: id, Solution: sol, Topic: up.Topic, Data: up.Message, Time: up.Time,
			Source: "/nodes/" + node + "/" + up.Instance})
		return e.stored(sol, node, up, err)
	case hosted.UpLog:
		e.writeAt(up.Time, sol, node, up.Instance, up.Level, text(up.Message), nil)
	case hosted.UpAlert:
		msg := text(up.Message)
		e.writeAt(up.Time, sol, node, up.Instance, "error", msg, map[string]any{"fault_code": up.FaultCode, "fault_description": up.FaultDescription})
		topic := "alerts." + node + "." + strings.ToLower(up.Service)
		err := e.events.Enqueue(ctx, events.Event{ID: id, Solution: sol, Topic: topic, Time: up.Time, Source: "/nodes/" + node + "/" + up.Instance,
			Data: map[string]any{"node": node, "service": up.Service, "instance": up.Instance, "message": msg, "fault_code": up.FaultCode, "fault_description": up.FaultDescription}})
		up.Topic = topic
		return e.stored(sol, node, up, err)
	case hosted.UpState:
		if up.State != nil {
			if err := e.hosted.Load().ReportState(ctx, sol, node, *up.State); err != nil && !errors.Is(err, hosted.ErrNodeNotFound) {
				e.log.Warn("node state not kept", "solution", sol, "node", node, "err", err)
			}
		}
	default:
		e.log.Warn("node message of an unknown kind; let go", "solution", sol, "node", node, "kind", d.Subject)
	}
	return nil
}

// stored is the outcome of storing a node's event: nobody subscribed, or a bad topic, is said
// in the solution's log and let go; a failure to store is tried again.
func (e *edgeNodes) stored(sol, node string, up hosted.Up, err error) error {
	var fe *solution.FieldError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, events.ErrNoHandler):
		e.write(sol, node, up.Instance, "warn", "no handler subscribes to topic "+up.Topic+"; the message of "+up.Instance+" is not kept", nil)
		return nil
	case errors.As(err, &fe):
		e.write(sol, node, up.Instance, "error", "the message of "+up.Instance+" was refused: "+fe.Error(), nil)
		return nil
	}
	return err
}

// write puts a line about a node into its solution's log, at the hub's time.
func (e *edgeNodes) write(sol, node, instance, level, msg string, fields map[string]any) {
	e.writeAt(time.Time{}, sol, node, instance, level, msg, fields)
}

// writeAt puts a node's line into its solution's log at the time the node wrote it (what
// was kept on the node while the hub was away says when it happened, not when it arrived).
func (e *edgeNodes) writeAt(at time.Time, sol, node, instance, level, msg string, fields map[string]any) {
	switch level {
	case "debug", "info", "warn", "error":
	case "warning":
		level = "warn"
	default:
		level = "info"
	}
	writeNodeLog(e.logs, at, sol, node, instance, level, msg, fields)
}

// writeNodeLog puts a line of a node's (or of one of its instances) into its solution's log.
// at is when the node wrote it; zero, or a node clock ahead of the hub's, is now. A line
// that arrives late says when it was received.
func writeNodeLog(logs *solutionlog.Log, at time.Time, sol, node, instance, level, msg string, fields map[string]any) {
	src := "node " + node
	if instance != "" {
		src += " service " + instance
	}
	if len(msg) > maxNodeLine {
		msg = msg[:maxNodeLine] + "…"
	}
	now := time.Now().UTC()
	switch {
	case at.IsZero() || at.After(now):
		at = now
	case now.Sub(at) > lateNodeLine:
		if fields == nil {
			fields = map[string]any{}
		}
		fields["received"] = now.Format(time.RFC3339Nano)
	}
	var raw json.RawMessage
	if len(fields) > 0 {
		raw, _ = json.Marshal(fields)
	}
	logs.Write(solutionlog.Entry{Time: at.UTC(), Level: level, Solution: sol, Source: src, Message: msg, Fields: raw})
}

// lateNodeLine is how much later than written a node's line may arrive before its entry says
// when it was received.
const lateNodeLine = 5 * time.Second

func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// close stops following the nodes and closes their links.
func (e *edgeNodes) close() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, l := range e.links {
		l.link.Close()
		delete(e.links, key)
	}
}
