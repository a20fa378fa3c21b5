package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/connector"
)

func init() {
	// A type with a secret, to see it is never shown back. Inbound: it runs no source.
	connector.Register(connector.Kind{
		Type:        "apitest",
		Description: "A type of the API's tests.",
		Schema:      `{"type":"object","additionalProperties":false,"properties":{"user":{"type":"string"},"password":{"type":"string"}}}`,
		Secrets:     []string{"password"},
		Inbound:     true,
	})
}

// fakeConnectors keeps connectors in memory, checking them as the store does.
type fakeConnectors struct {
	mu sync.Mutex
	m  map[string]connector.Connector
}

func newFakeConnectors() *fakeConnectors {
	return &fakeConnectors{m: map[string]connector.Connector{}}
}

func (f *fakeConnectors) Get(sol, name string) (connector.Connector, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.m[sol+"."+name]
	return c, ok
}

func (f *fakeConnectors) List(sol string) []connector.Connector {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []connector.Connector
	for _, c := range f.m {
		if c.Solution == sol {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeConnectors) Put(_ context.Context, c connector.Connector) (connector.Connector, bool, error) {
	c, err := connector.Check(c)
	if err != nil {
		return connector.Connector{}, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prev, ok := f.m[c.Solution+"."+c.Name]
	c.Version = prev.Version + 1
	c.Paused = prev.Paused
	f.m[c.Solution+"."+c.Name] = c
	return c, !ok, nil
}

func (f *fakeConnectors) Create(ctx context.Context, c connector.Connector) (connector.Connector, error) {
	if _, ok := f.Get(c.Solution, c.Name); ok {
		return connector.Connector{}, fmt.Errorf("connector %s: %w", c.Name, connector.ErrExists)
	}
	c, _, err := f.Put(ctx, c)
	return c, err
}

func (f *fakeConnectors) SetPaused(_ context.Context, sol, name string, paused bool) (connector.Connector, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.m[sol+"."+name]
	if !ok {
		return c, fmt.Errorf("connector %s: %w", name, connector.ErrNotFound)
	}
	c.Paused = paused
	c.Version++
	f.m[sol+"."+name] = c
	return c, nil
}

func (f *fakeConnectors) Delete(_ context.Context, sol, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[sol+"."+name]; !ok {
		return fmt.Errorf("connector %s: %w", name, connector.ErrNotFound)
	}
	delete(f.m, sol+"."+name)
	return nil
}

func (f *fakeConnectors) Status(_ context.Context, c connector.Connector) connector.Status {
	if c.Paused {
		return connector.Status{State: connector.StatePaused}
	}
	return connector.Status{State: connector.StateRunning, Received: 3, Published: 2, Rejected: 1}
}

// TestConnectorTypes: every registered type is listed with its schema as a JSON object.
func TestConnectorTypes(t *testing.T) {
	s := New(Options{AdminToken: "admin-token-0123456789", Connectors: newFakeConnectors()})
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/api/v1/connector-types", nil)
	s.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	r.Header.Set("Authorization", "Bearer admin-token-0123456789")
	s.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("connector-types: %d %s", w.Code, w.Body)
	}
	var out struct {
		Items []struct {
			Type        string         `json:"type"`
			Description string         `json:"description"`
			Schema      map[string]any `json:"schema"`
			Secrets     []string       `json:"secrets"`
			Inbound     bool           `json:"inbound"`
			OutOnly     bool           `json:"out_only"`
			Outbound    map[string]any `json:"outbound"`
		} `json:"items"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer %s: %v", w.Body, err)
	}
	seen := map[string]bool{}
	for _, k := range out.Items {
		seen[k.Type] = true
		if k.Description == "" || k.Schema["type"] != "object" || k.Secrets == nil {
			t.Errorf("type %s shown as %+v", k.Type, k)
		}
		switch k.Type {
		case "cron":
			if props, _ := k.Schema["properties"].(map[string]any); props["schedule"] == nil || k.Inbound {
				t.Errorf("cron shown as %+v", k)
			}
		case "apitest":
			if len(k.Secrets) != 1 || k.Secrets[0] != "password" || !k.Inbound {
				t.Errorf("apitest shown as %+v", k)
			}
		case "smtp":
			if !k.OutOnly || k.Inbound || k.Outbound == nil {
				t.Errorf("smtp shown as %+v; want it outbound only", k)
			}
		default:
			if k.OutOnly {
				t.Errorf("%s shown as outbound only", k.Type)
			}
		}
	}
	if !seen["cron"] || !seen["apitest"] || !seen["smtp"] {
		t.Errorf("types listed: %v; want cron, apitest and smtp among them", seen)
	}
}

// call runs one connector handler as the owner middleware would after letting it through.
func call(t *testing.T, s *Server, h func(http.ResponseWriter, *http.Request, principal), method, name string, body any) (int, map[string]any) {
	t.Helper()
	var rd *strings.Reader
	switch b := body.(type) {
	case nil:
		rd = strings.NewReader("")
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = strings.NewReader(string(data))
	}
	r := httptest.NewRequest(method, "/", rd)
	r.Header.Set("Content-Type", "application/json")
	r.SetPathValue("solution", "demo")
	if name != "" {
		r.SetPathValue("name", name)
	}
	w := httptest.NewRecorder()
	h(w, r, principal{solution: "demo"})
	var m map[string]any
	if w.Code != http.StatusNoContent {
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: answer %d %q is not JSON: %v", method, name, w.Code, w.Body, err)
		}
	}
	return w.Code, m
}

// TestConnectorHandlers: create, conflict, bad input naming its field, update, pause,
// resume and delete; secrets never shown back; status on every connector shown.
func TestConnectorHandlers(t *testing.T) {
	store := newFakeConnectors()
	s := New(Options{Connectors: store, MaxBody: 1 << 20, Gate: admission.New(admission.Limits{}, nil), Logger: slog.New(slog.DiscardHandler)})
	cron := map[string]any{"name": "tick", "type": "cron", "topic": "ticks.second", "config": map[string]any{"schedule": "@every 1s"}}

	code, m := call(t, s, s.createConnector, "POST", "", cron)
	if code != http.StatusCreated || m["name"] != "tick" || m["type"] != "cron" || m["topic"] != "ticks.second" {
		t.Fatalf("create: %d %v", code, m)
	}
	if st, _ := m["status"].(map[string]any); st["state"] != "running" || st["received"] != 3.0 {
		t.Errorf("created connector's status: %v", m["status"])
	}
	if code, m = call(t, s, s.createConnector, "POST", "", cron); code != http.StatusConflict || m["field"] != "name" {
		t.Errorf("create again: %d %v; want 409 naming name", code, m)
	}

	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"bad schedule", map[string]any{"name": "b", "type": "cron", "topic": "t.x", "config": map[string]any{"schedule": "nonsense"}}, "config.schedule"},
		{"unknown config field", map[string]any{"name": "b", "type": "cron", "topic": "t.x", "config": map[string]any{"schedule": "@every 1s", "nope": 1}}, "config"},
		{"config of the wrong type", map[string]any{"name": "b", "type": "cron", "topic": "t.x", "config": map[string]any{"schedule": 5}}, "config.schedule"},
		{"no config", map[string]any{"name": "b", "type": "cron", "topic": "t.x"}, "config"},
		{"unknown type", map[string]any{"name": "b", "type": "carrier-pigeon", "topic": "t.x"}, "type"},
		{"no type", map[string]any{"name": "b", "topic": "t.x"}, "type"},
		{"no name", map[string]any{"type": "cron", "topic": "t.x", "config": map[string]any{"schedule": "@every 1s"}}, "name"},
		{"bad name", map[string]any{"name": "Bad Name", "type": "cron", "topic": "t.x", "config": map[string]any{"schedule": "@every 1s"}}, "name"},
		{"no topic", map[string]any{"name": "b", "type": "cron", "config": map[string]any{"schedule": "@every 1s"}}, "topic"},
		{"bad topic", map[string]any{"name": "b", "type": "cron", "topic": "t.*", "config": map[string]any{"schedule": "@every 1s"}}, "topic"},
		{"unknown field", `{"name":"b","type":"cron","topic":"t.x","paused":true}`, "paused"},
		{"smtp inbound", map[string]any{"name": "b", "type": "smtp", "direction": "in", "topic": "t.x", "config": map[string]any{"host": "h"}}, "direction"},
		{"smtp without direction", map[string]any{"name": "b", "type": "smtp", "config": map[string]any{"host": "h"}}, "direction"},
	} {
		code, m := call(t, s, s.createConnector, "POST", "", tc.body)
		if code != http.StatusBadRequest || m["field"] != tc.field {
			t.Errorf("%s: %d %v; want 400 naming %s", tc.name, code, m, tc.field)
		}
	}
	if _, ok := store.Get("demo", "b"); ok {
		t.Error("a refused connector was stored")
	}

	if code, m = call(t, s, s.updateConnector, "PUT", "gone", map[string]any{"type": "cron", "topic": "t.x", "config": map[string]any{"schedule": "@every 1s"}}); code != http.StatusNotFound {
		t.Errorf("update a missing connector: %d %v", code, m)
	}
	if code, m = call(t, s, s.updateConnector, "PUT", "tick", map[string]any{"name": "tock", "type": "cron", "topic": "t.x", "config": map[string]any{"schedule": "@every 2s"}}); code != http.StatusBadRequest || m["field"] != "name" {
		t.Errorf("rename: %d %v; want 400 naming name", code, m)
	}
	code, m = call(t, s, s.updateConnector, "PUT", "tick", map[string]any{"type": "cron", "topic": "ticks.minute", "config": map[string]any{"schedule": "@every 1m"}})
	if code != http.StatusOK || m["topic"] != "ticks.minute" || m["version"] != 2.0 {
		t.Errorf("update: %d %v", code, m)
	}

	code, m = call(t, s, s.pauseConnector(true), "POST", "tick", nil)
	if st, _ := m["status"].(map[string]any); code != http.StatusOK || m["paused"] != true || st["state"] != "paused" {
		t.Errorf("pause: %d %v", code, m)
	}
	code, m = call(t, s, s.getConnector, "GET", "tick", nil)
	if st, _ := m["status"].(map[string]any); code != http.StatusOK || st["state"] != "paused" {
		t.Errorf("get paused: %d %v", code, m)
	}
	code, m = call(t, s, s.pauseConnector(false), "POST", "tick", nil)
	if st, _ := m["status"].(map[string]any); code != http.StatusOK || m["paused"] != false || st["state"] != "running" {
		t.Errorf("resume: %d %v", code, m)
	}
	if code, _ = call(t, s, s.pauseConnector(true), "POST", "gone", nil); code != http.StatusNotFound {
		t.Errorf("pause a missing connector: %d", code)
	}

	// Secrets are stored, never shown back.
	code, m = call(t, s, s.createConnector, "POST", "", map[string]any{"name": "hook", "type": "apitest", "topic": "hooks.in", "config": map[string]any{"user": "u", "password": "hunter2"}})
	if cfg, _ := m["config"].(map[string]any); code != http.StatusCreated || cfg["password"] != "(set)" || cfg["user"] != "u" {
		t.Errorf("create with a secret: %d %v", code, m)
	}
	if c, _ := store.Get("demo", "hook"); !strings.Contains(string(c.Config), "hunter2") {
		t.Errorf("stored config %s lost its secret", c.Config)
	}
	code, m = call(t, s, s.listConnectors, "GET", "", nil)
	items, _ := m["items"].([]any)
	if code != http.StatusOK || len(items) != 2 {
		t.Fatalf("list: %d %v", code, m)
	}
	for _, it := range items {
		c := it.(map[string]any)
		if strings.Contains(fmt.Sprint(c), "hunter2") || c["status"] == nil {
			t.Errorf("listed: %v", c)
		}
	}
	if code, m = call(t, s, s.getConnector, "GET", "hook", nil); strings.Contains(fmt.Sprint(m), "hunter2") || code != http.StatusOK {
		t.Errorf("get: %d %v", code, m)
	}

	if code, _ = call(t, s, s.deleteConnector, "DELETE", "tick", nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	if code, m = call(t, s, s.deleteConnector, "DELETE", "tick", nil); code != http.StatusNotFound {
		t.Errorf("delete again: %d %v", code, m)
	}
	if code, m = call(t, s, s.getConnector, "GET", "tick", nil); code != http.StatusNotFound || m["field"] != "name" {
		t.Errorf("get deleted: %d %v", code, m)
	}
}
