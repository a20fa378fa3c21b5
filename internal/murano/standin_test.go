package murano_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// recorded is one request a stand-in service received.
type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

func (r recorded) String() string {
	q := ""
	if r.RawQuery != "" {
		q = "?" + r.RawQuery
	}
	return fmt.Sprintf("%s %s%s (Content-Type %q) %q", r.Method, r.Path, q, r.Header.Get("Content-Type"), r.Body)
}

// answer is what a stand-in answers a request with.
type answer struct {
	status int
	body   string
	// hold keeps the request open until the hub gives up on it.
	hold bool
}

// standIn is a service's host: it answers its health path, and records every other request in
// the order received, answering {"ok":true} unless told otherwise.
type standIn struct {
	srv *httptest.Server

	mu      sync.Mutex
	seen    []recorded
	answers map[string]answer // by "METHOD /path"
}

func newStandIn(t *testing.T, health string) *standIn {
	t.Helper()
	s := &standIn{answers: map[string]answer{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == health {
			w.WriteHeader(http.StatusOK)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("stand-in: read %s %s: %v", r.Method, r.URL.Path, err)
		}
		s.mu.Lock()
		s.seen = append(s.seen, recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		a, ok := s.answers[r.Method+" "+r.URL.Path]
		s.mu.Unlock()
		if !ok {
			a = answer{status: http.StatusOK, body: `{"ok":true}`}
		}
		if a.hold {
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body) //nolint:errcheck // the hub reading it is what the test checks
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// answer sets what the stand-in answers to method and path.
func (s *standIn) answer(method, path string, a answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[method+" "+path] = a
}

// host is the stand-in's host:port.
func (s *standIn) host() string { return strings.TrimPrefix(s.srv.URL, "http://") }

// take returns the requests received since the last take.
func (s *standIn) take() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.seen
	s.seen = nil
	return out
}

// count is how many requests wait to be taken.
func (s *standIn) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// one takes the requests received and fails unless there is exactly one.
func (s *standIn) one(t *testing.T, what string) recorded {
	t.Helper()
	got := s.take()
	if len(got) != 1 {
		t.Fatalf("%s: the service received %d requests, want 1: %v", what, len(got), got)
	}
	return got[0]
}

// none fails if the stand-in received anything since the last take.
func (s *standIn) none(t *testing.T, what string) {
	t.Helper()
	if got := s.take(); len(got) > 0 {
		t.Errorf("%s: the service received %v, want nothing", what, got)
	}
}

var (
	hostLine    = regexp.MustCompile(`(?m)^host:.*$`)
	schemesLine = regexp.MustCompile(`(?m)^schemes:.*$`)
)

// document reads testdata/file and points its host and schemes at host over plain HTTP,
// changing nothing else.
func document(t *testing.T, file, host string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	if len(hostLine.FindAllString(doc, -1)) != 1 || len(schemesLine.FindAllString(doc, -1)) != 1 {
		t.Fatalf("%s must have one host: line and one schemes: line", file)
	}
	doc = hostLine.ReplaceAllLiteralString(doc, "host: "+host)
	return schemesLine.ReplaceAllLiteralString(doc, "schemes: [http]")
}

// register posts a registration of testdata/file as name, pointed at host.
func register(t *testing.T, s *hubtest.Server, name, file, host string) hubtest.Response {
	t.Helper()
	return s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(),
		map[string]any{"name": name, "swagger": document(t, file, host)})
}

// murano is a hub with one Murano-style service registered against a stand-in, and a solution
// "demo" to add it to.
type murano struct {
	hub     *hubtest.Server
	svc     *standIn
	name    string
	solTok  string
	scripts atomic.Int64
}

// appsDomain is the hub's apps domain in the suite: a solution's domain is demo.<appsDomain>.
const appsDomain = "apps.example.test"

// start runs a hub, registers testdata/file as name against a stand-in answering health on
// healthPath, and creates solution "demo". A refused registration fails the test: it is the
// first thing Murano compatibility needs.
func start(t *testing.T, name, file, healthPath string) *murano {
	t.Helper()
	m := &murano{hub: hubtest.Start(t, func(c *hub.Config) { c.AppsDomain = appsDomain }), svc: newStandIn(t, healthPath), name: name}
	if r := register(t, m.hub, name, file, m.svc.host()); r.Status != http.StatusCreated {
		t.Fatalf("%s, valid for Murano, was refused: %d %s", file, r.Status, r.Body)
	}
	m.svc.take()
	m.solTok = m.hub.CreateSolution(t, "demo")
	return m
}

// add adds the service to demo with params.
func (m *murano) add(t *testing.T, params map[string]any) hubtest.Response {
	t.Helper()
	body := map[string]any{"service": m.name}
	if params != nil {
		body["parameters"] = params
	}
	return m.hub.Do(t, "POST", "/api/v1/solutions/demo/services", m.hub.AdminToken, body)
}

// mustAdd adds the service and fails unless the hub answers 201.
func (m *murano) mustAdd(t *testing.T, params map[string]any) {
	t.Helper()
	if r := m.add(t, params); r.Status != http.StatusCreated {
		t.Fatalf("add %s with %v: %d %s", m.name, params, r.Status, r.Body)
	}
}

// run deploys script as a new endpoint of demo and calls it.
func (m *murano) run(t *testing.T, script string) hubtest.Response {
	t.Helper()
	path := fmt.Sprintf("/compat%d", m.scripts.Add(1))
	m.hub.Deploy(t, "demo", "GET", path, script)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", m.hub.URL+"/apps/demo"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.hub.Send(t, req)
}

// call runs script, which calls the service once, and returns what the service received.
func (m *murano) call(t *testing.T, script string) recorded {
	t.Helper()
	r := m.run(t, script)
	if m.svc.count() != 1 {
		t.Fatalf("script %s answered %d %s; the service received %v, want one request", script, r.Status, r.Body, m.svc.take())
	}
	return m.svc.one(t, script)
}

// wantJSONBody checks a request's body is JSON equal to want and says so in its Content-Type.
func wantJSONBody(t *testing.T, r recorded, want string) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", r, ct)
	}
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("%s: body is not JSON: %v", r, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s: body %s, want %s", r, r.Body, want)
	}
}

// wantRequest checks method, path and raw query (sorted query compared as parsed values).
func wantRequest(t *testing.T, r recorded, method, path string, query map[string][]string) {
	t.Helper()
	if r.Method != method || r.Path != path {
		t.Errorf("request %s, want %s %s", r, method, path)
	}
	got := map[string][]string{}
	for k, v := range mustQuery(t, r.RawQuery) {
		got[k] = v
	}
	if query == nil {
		query = map[string][]string{}
	}
	if !reflect.DeepEqual(got, query) {
		t.Errorf("request %s: query %v, want %v", r, got, query)
	}
}

// mustQuery parses a raw query.
func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("query %q: %v", raw, err)
	}
	return v
}
