package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/apiclient"
	"github.com/switchboardhq/switchboard/internal/hub"
)

// fakeToken is the only token the fake API accepts.
const fakeToken = "fake-admin-token-0123456789"

// fakeAPI is a small in-memory stand-in for the management API. A script "compiles" unless a
// line contains "syntax error".
type fakeAPI struct {
	mu         sync.Mutex
	solutions  map[string]apiclient.Solution
	endpoints  map[string]map[string]apiclient.Endpoint      // solution → "METHOD path"
	catalog    map[string]apiclient.Service                  // name → service, with its document
	added      map[string]map[string]apiclient.ServiceConfig // solution → service
	handlers   map[string]map[string]apiclient.Handler       // solution → name
	requests   []string                                      // "METHOD /escaped/path", in order
	failing    bool                                          // answer 500 to everything
	failWrite  bool                                          // answer 500 to all but GET requests
	connectors *fakeConnectors
}

func newFakeAPI(t *testing.T) (*fakeAPI, string) {
	f := &fakeAPI{
		solutions: map[string]apiclient.Solution{}, endpoints: map[string]map[string]apiclient.Endpoint{},
		catalog: map[string]apiclient.Service{}, added: map[string]map[string]apiclient.ServiceConfig{},
		handlers: map[string]map[string]apiclient.Handler{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/solutions", f.createSolution)
	mux.HandleFunc("GET /api/v1/solutions", f.listSolutions)
	mux.HandleFunc("/api/v1/solutions/{solution}", f.solution)
	mux.HandleFunc("POST /api/v1/solutions/{solution}/endpoints", f.deployEndpoint)
	mux.HandleFunc("POST /api/v1/solutions/{solution}/check/endpoint", f.deployEndpoint)
	mux.HandleFunc("POST /api/v1/solutions/{solution}/check/handler", f.deployHandler)
	mux.HandleFunc("GET /api/v1/solutions/{solution}/endpoints", f.listEndpoints)
	mux.HandleFunc("/api/v1/solutions/{solution}/endpoints/{method}/{path...}", f.endpoint)
	mux.HandleFunc("GET /api/v1/services", f.listServices)
	mux.HandleFunc("/api/v1/services/{name}", f.service)
	mux.HandleFunc("POST /api/v1/solutions/{solution}/services", f.addService)
	mux.HandleFunc("GET /api/v1/solutions/{solution}/services", f.listSolutionServices)
	mux.HandleFunc("/api/v1/solutions/{solution}/services/{service}", f.solutionService)
	mux.HandleFunc("POST /api/v1/solutions/{solution}/handlers", f.deployHandler)
	mux.HandleFunc("GET /api/v1/solutions/{solution}/handlers", f.listHandlers)
	mux.HandleFunc("/api/v1/solutions/{solution}/handlers/{name}", f.handler)
	f.handleConnectors(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, r.Method+" "+r.URL.EscapedPath())
		switch {
		case f.failing, f.failWrite && r.Method != "GET":
			reply(w, 500, map[string]any{"error": "internal error: engine down"})
		case r.Header.Get("Authorization") != "Bearer "+fakeToken:
			reply(w, 401, map[string]any{"error": "unknown token"})
		default:
			mux.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

func (f *fakeAPI) createSolution(w http.ResponseWriter, r *http.Request) {
	var in apiclient.SolutionCreate
	json.NewDecoder(r.Body).Decode(&in)
	if _, ok := f.solutions[in.ID]; ok {
		reply(w, 409, map[string]any{"error": "already exists", "field": "id"})
		return
	}
	s := apiclient.Solution{ID: in.ID, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Limits: in.Limits, Debug: in.Debug}
	f.solutions[in.ID] = s
	f.endpoints[in.ID] = map[string]apiclient.Endpoint{}
	reply(w, 201, apiclient.SolutionCreated{Solution: s, Token: "sbs_" + in.ID})
}

func (f *fakeAPI) listSolutions(w http.ResponseWriter, _ *http.Request) {
	items := []apiclient.Solution{}
	for _, s := range f.solutions {
		items = append(items, s)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	reply(w, 200, map[string]any{"items": items})
}

func (f *fakeAPI) solution(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("solution")
	s, ok := f.solutions[id]
	if !ok {
		reply(w, 404, map[string]any{"error": fmt.Sprintf("no solution %q", id), "field": "solution"})
		return
	}
	switch r.Method {
	case "GET":
		reply(w, 200, s)
	case "PATCH":
		var in apiclient.SolutionUpdate
		json.NewDecoder(r.Body).Decode(&in)
		if in.Limits != nil {
			s.Limits = *in.Limits // the limits are replaced as a whole, as the real API does
		}
		if in.Debug != nil {
			s.Debug = *in.Debug
		}
		f.solutions[id] = s
		reply(w, 200, s)
	case "DELETE":
		delete(f.solutions, id)
		delete(f.endpoints, id)
		delete(f.added, id)
		delete(f.handlers, id)
		reply(w, 204, nil)
	}
}

func (f *fakeAPI) owned(w http.ResponseWriter, r *http.Request) (map[string]apiclient.Endpoint, bool) {
	eps, ok := f.endpoints[r.PathValue("solution")]
	if !ok {
		reply(w, 404, map[string]any{"error": fmt.Sprintf("no solution %q", r.PathValue("solution")), "field": "solution"})
	}
	return eps, ok
}

func (f *fakeAPI) deployEndpoint(w http.ResponseWriter, r *http.Request) {
	eps, ok := f.owned(w, r)
	if !ok {
		return
	}
	var in apiclient.Endpoint
	json.NewDecoder(r.Body).Decode(&in)
	if !slices.Contains(methods, in.Method) {
		reply(w, 400, map[string]any{"error": "method: not allowed", "field": "method"})
		return
	}
	if in.Path == "/docs" {
		reply(w, 400, map[string]any{"error": "path: /docs is reserved", "field": "path"})
		return
	}
	for i, line := range strings.Split(in.Script, "\n") {
		if strings.Contains(line, "syntax error") {
			reply(w, 400, map[string]any{"error": fmt.Sprintf("script: line %d: syntax error near 'error'", i+1), "field": "script", "line": i + 1})
			return
		}
	}
	if checkOnly(w, r) {
		return
	}
	key := in.Method + " " + in.Path
	old, exists := eps[key]
	in.Version, in.UpdatedAt = old.Version+1, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	eps[key] = in
	status := 201
	if exists {
		status = 200
	}
	reply(w, status, in)
}

func (f *fakeAPI) listEndpoints(w http.ResponseWriter, r *http.Request) {
	eps, ok := f.owned(w, r)
	if !ok {
		return
	}
	items := []apiclient.Endpoint{}
	for _, ep := range eps {
		items = append(items, ep)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Path+items[i].Method < items[j].Path+items[j].Method })
	reply(w, 200, map[string]any{"items": items})
}

func (f *fakeAPI) endpoint(w http.ResponseWriter, r *http.Request) {
	eps, ok := f.owned(w, r)
	if !ok {
		return
	}
	key := r.PathValue("method") + " /" + r.PathValue("path")
	ep, ok := eps[key]
	switch {
	case !ok:
		reply(w, 404, map[string]any{"error": "no endpoint " + key})
	case r.Method == "GET":
		reply(w, 200, ep)
	case r.Method == "DELETE":
		delete(eps, key)
		reply(w, 204, nil)
	}
}

// fakeTime is the time the fake API stamps on everything it stores.
var fakeTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeSecret is the parameter name the fake API treats as secret: stored, never returned.
const fakeSecret = "password"

func (f *fakeAPI) listServices(w http.ResponseWriter, _ *http.Request) {
	items := []apiclient.Service{}
	for _, s := range f.catalog {
		s.Document = nil
		items = append(items, s)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	reply(w, 200, map[string]any{"items": items})
}

func (f *fakeAPI) service(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s, ok := f.catalog[name]
	switch {
	case !ok:
		reply(w, 404, map[string]any{"error": fmt.Sprintf("no service %q", name), "field": "service"})
	case r.Method == "GET":
		reply(w, 200, s)
	case r.Method == "DELETE":
		delete(f.catalog, name)
		reply(w, 204, nil)
	}
}

// shown is a solution's service as the API returns it: without its secret parameter.
func shown(c apiclient.ServiceConfig) apiclient.ServiceConfig {
	params := map[string]any{}
	for k, v := range c.Parameters {
		if k != fakeSecret {
			params[k] = v
		}
	}
	c.Parameters = params
	return c
}

func (f *fakeAPI) addService(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.owned(w, r); !ok {
		return
	}
	sol := r.PathValue("solution")
	var in struct {
		Service    string         `json:"service"`
		Parameters map[string]any `json:"parameters"`
	}
	json.NewDecoder(r.Body).Decode(&in)
	if _, ok := f.catalog[in.Service]; !ok {
		reply(w, 404, map[string]any{"error": fmt.Sprintf("no service %q", in.Service), "field": "service"})
		return
	}
	if f.added[sol] == nil {
		f.added[sol] = map[string]apiclient.ServiceConfig{}
	}
	old, exists := f.added[sol][in.Service]
	c := apiclient.ServiceConfig{Service: in.Service, Parameters: in.Parameters, AddedAt: fakeTime, UpdatedAt: fakeTime}
	if exists {
		c.AddedAt = old.AddedAt
	}
	f.added[sol][in.Service] = c
	status := 201
	if exists {
		status = 200
	}
	reply(w, status, shown(c))
}

func (f *fakeAPI) listSolutionServices(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.owned(w, r); !ok {
		return
	}
	items := []apiclient.ServiceConfig{}
	for _, c := range f.added[r.PathValue("solution")] {
		items = append(items, shown(c))
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Service < items[j].Service })
	reply(w, 200, map[string]any{"items": items})
}

func (f *fakeAPI) solutionService(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.owned(w, r); !ok {
		return
	}
	sol, name := r.PathValue("solution"), r.PathValue("service")
	c, ok := f.added[sol][name]
	switch {
	case !ok:
		reply(w, 404, map[string]any{"error": fmt.Sprintf("solution %s has not added service %q", sol, name), "field": "service"})
	case r.Method == "GET":
		reply(w, 200, shown(c))
	case r.Method == "PUT":
		var in struct {
			Parameters map[string]any `json:"parameters"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		c.Parameters, c.UpdatedAt = in.Parameters, fakeTime.Add(time.Hour)
		f.added[sol][name] = c
		reply(w, 200, shown(c))
	case r.Method == "DELETE":
		delete(f.added[sol], name)
		reply(w, 204, nil)
	}
}

func (f *fakeAPI) deployHandler(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.owned(w, r); !ok {
		return
	}
	sol := r.PathValue("solution")
	var in apiclient.Handler
	json.NewDecoder(r.Body).Decode(&in)
	if !handlerNamePattern.MatchString(in.Name) {
		reply(w, 400, map[string]any{"error": "name: must be lower-case letters, digits, '_' and '-'", "field": "name"})
		return
	}
	if len(in.Topics) == 0 {
		svc, event, ok := strings.Cut(in.Name, "_")
		if !ok {
			reply(w, 400, map[string]any{"error": "topics: required: give at least one topic, or name the handler <service>_<event>", "field": "topics"})
			return
		}
		in.Topics = []string{svc + "." + event}
	}
	for i, line := range strings.Split(in.Script, "\n") {
		if strings.Contains(line, "syntax error") {
			reply(w, 400, map[string]any{"error": fmt.Sprintf("script: line %d: syntax error near 'error'", i+1), "field": "script", "line": i + 1})
			return
		}
	}
	if checkOnly(w, r) {
		return
	}
	if f.handlers[sol] == nil {
		f.handlers[sol] = map[string]apiclient.Handler{}
	}
	old, exists := f.handlers[sol][in.Name]
	in.Version, in.UpdatedAt = old.Version+1, fakeTime
	f.handlers[sol][in.Name] = in
	status := 201
	if exists {
		status = 200
	}
	reply(w, status, in)
}

// checkOnly answers a deploy check that found nothing wrong.
func checkOnly(w http.ResponseWriter, r *http.Request) bool {
	if !strings.Contains(r.URL.Path, "/check/") {
		return false
	}
	reply(w, 200, map[string]any{"ok": true})
	return true
}

func (f *fakeAPI) listHandlers(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.owned(w, r); !ok {
		return
	}
	items := []apiclient.Handler{}
	for _, h := range f.handlers[r.PathValue("solution")] {
		items = append(items, h)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	reply(w, 200, map[string]any{"items": items})
}

func (f *fakeAPI) handler(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.owned(w, r); !ok {
		return
	}
	sol, name := r.PathValue("solution"), r.PathValue("name")
	h, ok := f.handlers[sol][name]
	switch {
	case !ok:
		reply(w, 404, map[string]any{"error": "no handler " + name})
	case r.Method == "GET":
		reply(w, 200, h)
	case r.Method == "DELETE":
		delete(f.handlers[sol], name)
		reply(w, 204, nil)
	}
}

// putService stores a service in the catalog directly.
func (f *fakeAPI) putService(s apiclient.Service) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.catalog[s.Name] = s
}

// putHandler stores a handler directly; empty topics are the Murano topic of its name.
func (f *fakeAPI) putHandler(sol, name, script string, topics ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ensureSolution(sol)
	if len(topics) == 0 {
		svc, event, _ := strings.Cut(name, "_")
		topics = []string{svc + "." + event}
	}
	if f.handlers[sol] == nil {
		f.handlers[sol] = map[string]apiclient.Handler{}
	}
	f.handlers[sol][name] = apiclient.Handler{Name: name, Topics: topics, Script: script, Version: 1}
}

// handlerScripts returns a solution's handlers as "name topic,topic" → script.
func (f *fakeAPI) handlerScripts(sol string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for name, h := range f.handlers[sol] {
		out[name+" "+strings.Join(h.Topics, ",")] = h.Script
	}
	return out
}

// serviceParams returns the parameters a solution's service is stored with, secret included.
func (f *fakeAPI) serviceParams(sol, service string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.added[sol][service].Parameters
}

// ensureSolution creates the solution sol if there is none; f.mu must be held.
func (f *fakeAPI) ensureSolution(sol string) {
	if _, ok := f.solutions[sol]; !ok {
		f.solutions[sol] = apiclient.Solution{ID: sol}
		f.endpoints[sol] = map[string]apiclient.Endpoint{}
	}
}

// put stores an endpoint directly.
func (f *fakeAPI) put(sol, method, path, script string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ensureSolution(sol)
	f.endpoints[sol][method+" "+path] = apiclient.Endpoint{Method: method, Path: path, Script: script, Version: 1}
}

// scripts returns a solution's endpoints as "METHOD path" → script.
func (f *fakeAPI) scripts(sol string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, ep := range f.endpoints[sol] {
		out[k] = ep.Script
	}
	return out
}

// takeRequests returns the requests made so far and forgets them.
func (f *fakeAPI) takeRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests
	f.requests = nil
	return r
}

func (f *fakeAPI) setFailing(all, writes bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing, f.failWrite = all, writes
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command with args, the environment env (nothing else) and stdin.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		serve: func(context.Context, hub.Config) error {
			t.Error("serve called")
			return nil
		},
	}
	code := a.run(context.Background(), args)
	return result{code, out.String(), errOut.String()}
}

// clientEnv is the environment for talking to the fake API at url as admin, with a data folder
// that holds no token.
func clientEnv(t *testing.T, url string, extra ...string) map[string]string {
	env := map[string]string{
		"SWITCHBOARD_SERVER": url,
		"SWITCHBOARD_TOKEN":  fakeToken,
		"SWITCHBOARD_DATA":   t.TempDir(),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

// check reports a result that does not have code, or lacks one of the substrings of stdout
// (wantOut) or stderr (wantErr).
func (r result) check(t *testing.T, code int, wantOut, wantErr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, w := range wantOut {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	for _, w := range wantErr {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if code == 0 && r.stderr != "" && len(wantErr) == 0 {
		t.Errorf("stderr not empty on success:\n%s", r.stderr)
	}
	if code != 0 && !strings.HasPrefix(r.stderr, "switchboard: ") {
		t.Errorf("stderr does not start with \"switchboard: \":\n%s", r.stderr)
	}
}
