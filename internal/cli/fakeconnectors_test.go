package cli

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"

	"github.com/switchboardhq/switchboard/internal/apiclient"
	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// fakeConnectors are the fake API's connectors, checked by connector.Check as the server checks
// them, with the server's types. Its handlers run with the fakeAPI's mu held.
type fakeConnectors struct {
	f     *fakeAPI
	conns map[string]map[string]connector.Connector // solution → name
	sent  []json.RawMessage                         // every config created or replaced, as sent
}

func (f *fakeAPI) handleConnectors(mux *http.ServeMux) {
	fc := &fakeConnectors{f: f, conns: map[string]map[string]connector.Connector{}}
	f.connectors = fc
	mux.HandleFunc("GET /api/v1/connector-types", fc.types)
	mux.HandleFunc("GET /api/v1/solutions/{solution}/connectors", fc.list)
	mux.HandleFunc("POST /api/v1/solutions/{solution}/connectors", fc.put)
	mux.HandleFunc("PUT /api/v1/solutions/{solution}/connectors/{name}", fc.put)
	mux.HandleFunc("DELETE /api/v1/solutions/{solution}/connectors/{name}", fc.delete)
}

func (fc *fakeConnectors) types(w http.ResponseWriter, _ *http.Request) {
	items := []apiclient.ConnectorType{}
	for _, k := range connector.Kinds() {
		items = append(items, apiclient.ConnectorType{Type: k.Type, Description: k.Description, Schema: json.RawMessage(k.Schema), Secrets: k.Secrets, Inbound: k.Inbound})
	}
	reply(w, 200, map[string]any{"items": items})
}

func (fc *fakeConnectors) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := fc.f.owned(w, r); !ok {
		return
	}
	items := []connector.Connector{}
	for _, c := range fc.conns[r.PathValue("solution")] {
		items = append(items, c.Redacted())
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	reply(w, 200, map[string]any{"items": items})
}

// put creates (POST) or replaces (PUT) a connector.
func (fc *fakeConnectors) put(w http.ResponseWriter, r *http.Request) {
	if _, ok := fc.f.owned(w, r); !ok {
		return
	}
	sol := r.PathValue("solution")
	var in apiclient.ConnectorSpec
	json.NewDecoder(r.Body).Decode(&in)
	name, create := r.PathValue("name"), r.Method == "POST"
	if create {
		name = in.Name
	}
	old, exists := fc.conns[sol][name]
	switch {
	case create && exists:
		reply(w, 409, map[string]any{"error": "connector exists", "field": "name"})
		return
	case !create && !exists:
		reply(w, 404, map[string]any{"error": "no connector " + name, "field": "name"})
		return
	}
	c, err := connector.Check(connector.Connector{Solution: sol, Name: name, Type: in.Type, Topic: in.Topic, Config: in.Config})
	var fe *solution.FieldError
	if errors.As(err, &fe) {
		reply(w, 400, map[string]any{"error": err.Error(), "field": fe.Field})
		return
	}
	fc.sent = append(fc.sent, in.Config)
	c.Version, c.Paused = old.Version+1, old.Paused
	if fc.conns[sol] == nil {
		fc.conns[sol] = map[string]connector.Connector{}
	}
	fc.conns[sol][name] = c
	status := 200
	if create {
		status = 201
	}
	reply(w, status, c.Redacted())
}

func (fc *fakeConnectors) delete(w http.ResponseWriter, r *http.Request) {
	sol, name := r.PathValue("solution"), r.PathValue("name")
	if _, ok := fc.conns[sol][name]; !ok {
		reply(w, 404, map[string]any{"error": "no connector " + name, "field": "name"})
		return
	}
	delete(fc.conns[sol], name)
	reply(w, 204, nil)
}

// putConnector stores a connector directly.
func (f *fakeAPI) putConnector(sol, name, typ, topic, config string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ensureSolution(sol)
	if f.connectors.conns[sol] == nil {
		f.connectors.conns[sol] = map[string]connector.Connector{}
	}
	f.connectors.conns[sol][name] = connector.Connector{Solution: sol, Name: name, Type: typ, Topic: topic, Config: json.RawMessage(config), Version: 1}
}

// connectorConfigs returns a solution's connectors as "name type topic" → config, secrets and
// all.
func (f *fakeAPI) connectorConfigs(sol string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for name, c := range f.connectors.conns[sol] {
		out[name+" "+c.Type+" "+c.Topic] = string(c.Config)
	}
	return out
}

// connectorVersion is the version of a solution's connector, 0 for none.
func (f *fakeAPI) connectorVersion(sol, name string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connectors.conns[sol][name].Version
}
