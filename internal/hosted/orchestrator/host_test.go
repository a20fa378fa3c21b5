package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/script"
)

// record is one thing the fake host was given.
type record struct {
	kind     string // "log", "alert", "submit"
	instance string
	level    slog.Level
	msg      string
	fields   map[string]any
	code     string
	desc     string
	body     any
	at       time.Time
}

func (r record) String() string {
	return fmt.Sprintf("%s %s %v %q %v %q %q %v", r.kind, r.instance, r.level, r.msg, r.fields, r.code, r.desc, r.body)
}

// fakeHost records what the orchestrator gives it; waitFor blocks on a channel signalled at
// each record, not on a poll.
type fakeHost struct {
	mu      sync.Mutex
	records []record
	changed chan struct{}
	// gate, when set, is waited on by Submit (until ctx ends).
	gate chan struct{}
	fail error
}

func newFakeHost() *fakeHost { return &fakeHost{changed: make(chan struct{}, 1)} }

func (h *fakeHost) add(r record) {
	r.at = time.Now()
	h.mu.Lock()
	h.records = append(h.records, r)
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

func (h *fakeHost) Log(s Spec, level slog.Level, msg string, fields map[string]any) {
	h.add(record{kind: "log", instance: s.Name, level: level, msg: msg, fields: fields})
}

func (h *fakeHost) Alert(s Spec, message, code, desc string) {
	h.add(record{kind: "alert", instance: s.Name, level: slog.LevelError, msg: message, code: code, desc: desc})
}

func (h *fakeHost) Submit(ctx context.Context, s Spec, message any) error {
	h.mu.Lock()
	gate, fail := h.gate, h.fail
	h.mu.Unlock()
	if gate != nil {
		h.add(record{kind: "submit-wait", instance: s.Name, body: message})
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	h.add(record{kind: "submit", instance: s.Name, body: message})
	return nil
}

func (h *fakeHost) all() []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]record(nil), h.records...)
}

// matching are the records of kind (any when "") for instance (any when "") whose message
// contains sub.
func (h *fakeHost) matching(kind, instance, sub string) []record {
	var out []record
	for _, r := range h.all() {
		if (kind == "" || r.kind == kind) && (instance == "" || r.instance == instance) && strings.Contains(r.msg, sub) {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until ok holds of the records, failing the test after d.
func (h *fakeHost) waitFor(t *testing.T, d time.Duration, what string, ok func([]record) bool) []record {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		recs := h.all()
		if ok(recs) {
			return recs
		}
		select {
		case <-h.changed:
		case <-deadline.C:
			t.Fatalf("after %v, still waiting for %s; records:\n%s", d, what, dump(recs))
			return nil
		}
	}
}

// waitCount waits for n records of kind for instance whose message contains sub.
func (h *fakeHost) waitCount(t *testing.T, n int, kind, instance, sub string) []record {
	t.Helper()
	var got []record
	h.waitFor(t, 10*time.Second, fmt.Sprintf("%d %s records of %s with %q", n, kind, instance, sub), func([]record) bool {
		got = h.matching(kind, instance, sub)
		return len(got) >= n
	})
	return got
}

func dump(recs []record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString("  " + r.String() + "\n")
	}
	return b.String()
}

// setup is an engine, a fake host and an orchestrator, closed when the test ends (and checked
// to have closed every session).
func setup(t *testing.T, o Options) (*Orchestrator, *fakeHost, *script.Engine) {
	t.Helper()
	e := script.NewEngine(script.Options{HeapLimit: -1})
	h := newFakeHost()
	o.Engine, o.Host = e, h
	if o.Limits == (script.Limits{}) {
		o.Limits = script.Limits{Timeout: 2 * time.Second, Memory: 4 << 20}
	}
	orc := New(o)
	t.Cleanup(func() {
		orc.Close(context.Background())
		if n := e.Sessions(); n != 0 {
			t.Errorf("%d sessions still open after Close", n)
		}
		e.Close()
	})
	return orc, h, e
}

// luaSpec is a lua instance spec whose hash is its code's.
func luaSpec(name, code string) Spec {
	return Spec{Name: name, Service: "Svc_" + name, Kind: hosted.KindLua, Version: "1.0", Code: code,
		Hash: fmt.Sprintf("%x", len(code)) + name, Upstream: "up." + name,
		Settings: Settings{NodeName: "node1", Tags: []string{"edge"}, Solution: "sol", Flow: "f"}}
}
