package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/switchboardhq/switchboard/internal/connector"
)

// Connectors keeps solutions' connectors and knows how each is doing; the hub's is the
// connector store with its manager's status.
type Connectors interface {
	Get(sol, name string) (connector.Connector, bool)
	List(sol string) []connector.Connector
	// Put creates or replaces a connector after connector.Check; created reports a new one.
	Put(ctx context.Context, c connector.Connector) (connector.Connector, bool, error)
	// Create stores a new one; an existing name is connector.ErrExists, even when written
	// by another instance an instant before.
	Create(ctx context.Context, c connector.Connector) (connector.Connector, error)
	SetPaused(ctx context.Context, sol, name string, paused bool) (connector.Connector, error)
	Delete(ctx context.Context, sol, name string) error
	Status(ctx context.Context, c connector.Connector) connector.Status
}

func (s *Server) handleConnectors() {
	s.handle("GET /api/v1/connector-types", s.authed(s.connectorTypes))
	s.handle("GET /api/v1/solutions/{solution}/connectors", s.owner(s.listConnectors))
	s.handle("POST /api/v1/solutions/{solution}/connectors", s.owner(s.createConnector))
	s.handle("GET /api/v1/solutions/{solution}/connectors/{name}", s.owner(s.getConnector))
	s.handle("PUT /api/v1/solutions/{solution}/connectors/{name}", s.owner(s.updateConnector))
	s.handle("DELETE /api/v1/solutions/{solution}/connectors/{name}", s.owner(s.deleteConnector))
	s.handle("POST /api/v1/solutions/{solution}/connectors/{name}/pause", s.owner(s.pauseConnector(true)))
	s.handle("POST /api/v1/solutions/{solution}/connectors/{name}/resume", s.owner(s.pauseConnector(false)))
}

// connectorType is a connector type as the API shows it.
type connectorType struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Secrets     []string        `json:"secrets"`
	Inbound     bool            `json:"inbound"`
	// OutOnly types only publish: direction out is the only one they take.
	OutOnly bool `json:"out_only,omitempty"`
	// Outbound is what the type does as an outbound connector; absent when it cannot publish.
	Outbound *outboundType `json:"outbound,omitempty"`
}

// outboundType is what a connector type does as an outbound connector (direction out).
type outboundType struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Secrets     []string        `json:"secrets"`
	// Arguments are those of Outbound.publish it takes.
	Arguments []string `json:"arguments"`
}

// connectorView is a connector as the API shows it: its secrets replaced, with its status.
type connectorView struct {
	connector.Connector
	Status connector.Status `json:"status"`
}

// connectorBody is what creating (with its name) or replacing a connector sends.
type connectorBody struct {
	Name      *string         `json:"name"`
	Type      *string         `json:"type"`
	Direction *string         `json:"direction"`
	Topic     *string         `json:"topic"`
	Config    json.RawMessage `json:"config"`
	// MaxPending is 0 (the server's bound) when absent.
	MaxPending int `json:"max_pending"`
}

// connectorOf is the connector body names; name is the name in the path ("" on create), and
// dir the direction of the connector replaced ("" on create), kept when the body gives none.
func connectorOf(sol, name, dir string, body connectorBody) (connector.Connector, *Error) {
	if name == "" {
		if body.Name == nil {
			return connector.Connector{}, errorf(http.StatusBadRequest, "name", "name: required")
		}
		name = *body.Name
	} else if body.Name != nil && *body.Name != name {
		return connector.Connector{}, errorf(http.StatusBadRequest, "name", "name: %q differs from the connector's name in the path, %q; a connector cannot be renamed", *body.Name, name)
	}
	if body.Type == nil {
		return connector.Connector{}, errorf(http.StatusBadRequest, "type", "type: required; want one of %s", connectorTypeNames())
	}
	if body.Direction != nil {
		dir = *body.Direction
		if dir != connector.DirectionIn && dir != connector.DirectionOut {
			return connector.Connector{}, errorf(http.StatusBadRequest, "direction", "direction: %q: want in (a source's messages become events on topic) or out (scripts publish through it with Outbound.publish)", dir)
		}
	}
	if err := connector.CheckDirection(*body.Type, dir); err != nil {
		return connector.Connector{}, toAPIError(err)
	}
	if dir == connector.DirectionOut {
		if body.Topic != nil && *body.Topic != "" {
			return connector.Connector{}, errorf(http.StatusBadRequest, "topic", "topic: an outbound connector (direction out) has none: scripts say where each message goes")
		}
		return connector.Connector{Solution: sol, Name: name, Type: *body.Type, Direction: dir, Config: body.Config}, nil
	}
	if body.Topic == nil {
		return connector.Connector{}, errorf(http.StatusBadRequest, "topic", "topic: required (the topic its events are published on, such as ticks.second)")
	}
	return connector.Connector{Solution: sol, Name: name, Type: *body.Type, Direction: dir, Topic: *body.Topic, Config: body.Config, MaxPending: body.MaxPending}, nil
}

func connectorTypeNames() string {
	var names []string
	for _, k := range connector.Kinds() {
		names = append(names, k.Type)
	}
	return strings.Join(names, ", ")
}

func (s *Server) connectorView(ctx context.Context, c connector.Connector) connectorView {
	return connectorView{Connector: c.Redacted(), Status: s.opt.Connectors.Status(ctx, c)}
}

func noConnector(name string) *Error {
	return errorf(http.StatusNotFound, "name", "no connector %q", name)
}

// connectorTypes answers GET /api/v1/connector-types: every type with the schema of its config.
func (s *Server) connectorTypes(w http.ResponseWriter, _ *http.Request, _ principal) {
	out := list[connectorType]{Items: []connectorType{}}
	for _, k := range connector.Kinds() {
		secrets := k.Secrets
		if secrets == nil {
			secrets = []string{}
		}
		schema := json.RawMessage(k.Schema)
		if !json.Valid(schema) {
			schema = json.RawMessage(`{}`)
		}
		ct := connectorType{Type: k.Type, Description: k.Description, Schema: schema, Secrets: secrets, Inbound: k.Inbound, OutOnly: k.OutOnly}
		if ok, can := connector.OutKindOf(k.Type); can {
			ct.Outbound = &outboundType{Description: ok.Description, Schema: json.RawMessage(ok.Schema), Secrets: ok.Secrets, Arguments: ok.Arguments()}
			if ct.Outbound.Secrets == nil {
				ct.Outbound.Secrets = []string{}
			}
			if !json.Valid(ct.Outbound.Schema) {
				ct.Outbound.Schema = json.RawMessage(`{}`)
			}
		}
		out.Items = append(out.Items, ct)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request, _ principal) {
	out := list[connectorView]{Items: []connectorView{}}
	for _, c := range s.opt.Connectors.List(r.PathValue("solution")) {
		out.Items = append(out.Items, s.connectorView(r.Context(), c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getConnector(w http.ResponseWriter, r *http.Request, _ principal) {
	c, ok := s.opt.Connectors.Get(r.PathValue("solution"), r.PathValue("name"))
	if !ok {
		writeErr(w, noConnector(r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, s.connectorView(r.Context(), c))
}

// createConnector answers POST …/connectors: a new connector (201), never one replaced (409).
func (s *Server) createConnector(w http.ResponseWriter, r *http.Request, _ principal) {
	var body connectorBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	sol := r.PathValue("solution")
	c, aerr := connectorOf(sol, "", "", body)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	name := c.Name
	defer s.connectorLocks.lock(sol + "/" + name)()
	c, err = s.opt.Connectors.Create(r.Context(), c)
	if errors.Is(err, connector.ErrExists) {
		writeErr(w, errorf(http.StatusConflict, "name", "connector %q exists; PUT /api/v1/solutions/%s/connectors/%s replaces it", name, sol, name))
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	s.opt.Logger.Info("connector created", "solution", sol, "connector", c.Name, "type", c.Type, "direction", c.Direction, "topic", c.Topic)
	writeJSON(w, http.StatusCreated, s.connectorView(r.Context(), c))
}

// updateConnector answers PUT …/connectors/{name}: its type, topic, config and max_pending
// replaced; a paused connector stays paused.
func (s *Server) updateConnector(w http.ResponseWriter, r *http.Request, _ principal) {
	var body connectorBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	sol, name := r.PathValue("solution"), r.PathValue("name")
	defer s.connectorLocks.lock(sol + "/" + name)()
	cur, ok := s.opt.Connectors.Get(sol, name)
	if !ok {
		writeErr(w, noConnector(name))
		return
	}
	c, aerr := connectorOf(sol, name, cur.Direction, body)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	c, _, err = s.opt.Connectors.Put(r.Context(), c)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.opt.Logger.Info("connector updated", "solution", sol, "connector", c.Name, "type", c.Type, "topic", c.Topic, "version", c.Version)
	writeJSON(w, http.StatusOK, s.connectorView(r.Context(), c))
}

func (s *Server) deleteConnector(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, name := r.PathValue("solution"), r.PathValue("name")
	defer s.connectorLocks.lock(sol + "/" + name)()
	if _, ok := s.opt.Connectors.Get(sol, name); !ok {
		writeErr(w, noConnector(name))
		return
	}
	if err := s.opt.Connectors.Delete(context.WithoutCancel(r.Context()), sol, name); err != nil {
		writeErr(w, err)
		return
	}
	s.opt.Logger.Info("connector deleted", "solution", sol, "connector", name)
	w.WriteHeader(http.StatusNoContent)
}

// pauseConnector answers POST …/pause (paused) and …/resume: the connector, kept, stops or
// runs again.
func (s *Server) pauseConnector(paused bool) func(http.ResponseWriter, *http.Request, principal) {
	return func(w http.ResponseWriter, r *http.Request, _ principal) {
		sol, name := r.PathValue("solution"), r.PathValue("name")
		defer s.connectorLocks.lock(sol + "/" + name)()
		if _, ok := s.opt.Connectors.Get(sol, name); !ok {
			writeErr(w, noConnector(name))
			return
		}
		c, err := s.opt.Connectors.SetPaused(r.Context(), sol, name, paused)
		if err != nil {
			writeErr(w, err)
			return
		}
		s.opt.Logger.Info("connector "+map[bool]string{true: "paused", false: "resumed"}[paused], "solution", sol, "connector", name)
		writeJSON(w, http.StatusOK, s.connectorView(r.Context(), c))
	}
}
