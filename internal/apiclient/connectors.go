package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// ConnectorType is a kind of connector the server runs (GET /api/v1/connector-types).
type ConnectorType struct {
	// Type names it in a connector ("cron").
	Type        string `json:"type"`
	Description string `json:"description"`
	// Schema is the JSON Schema (draft 2020-12) of its config.
	Schema json.RawMessage `json:"schema"`
	// Secrets are the config fields never shown back: answers show "(set)" in their place.
	Secrets []string `json:"secrets"`
	// Inbound types receive on the server's own listeners (webhooks), on every instance.
	Inbound bool `json:"inbound"`
	// OutOnly types only publish: direction out is the only one they take.
	OutOnly bool `json:"out_only,omitempty"`
	// Outbound is what the type does as an outbound connector; nil when it cannot publish.
	Outbound *OutboundType `json:"outbound,omitempty"`
}

// OutboundType is what a connector type does as an outbound connector (direction "out"),
// which scripts publish through with Outbound.publish.
type OutboundType struct {
	Description string `json:"description"`
	// Schema is the JSON Schema (draft 2020-12) of an outbound connector's config.
	Schema  json.RawMessage `json:"schema"`
	Secrets []string        `json:"secrets"`
	// Arguments are those of Outbound.publish it takes.
	Arguments []string `json:"arguments"`
}

// ConnectorSpec is what creating or replacing a connector sends.
type ConnectorSpec struct {
	// Name is the connector's name in its solution; sent on create only.
	Name string `json:"name,omitempty"`
	// Type is one of the server's ConnectorTypes.
	Type string `json:"type"`
	// Direction is "in" (a source's messages become events on Topic) or "out" (scripts
	// publish through it); "" is "in" on create, the connector's own on update.
	Direction string `json:"direction,omitempty"`
	// Topic is the topic its events are published on (direction in only).
	Topic string `json:"topic,omitempty"`
	// Config is the type's config (nil: {}), checked against the type's schema.
	Config json.RawMessage `json:"config,omitempty"`
	// MaxPending is how many events of the topic may wait for handlers before the connector
	// stops taking messages from its source (1 to 1,000,000); 0 is the server's bound.
	MaxPending int `json:"max_pending,omitempty"`
}

// ConnectorStatus is how a connector is doing, as the instance running it last said.
type ConnectorStatus struct {
	// State is connecting, running, backing-off, paused, failed or pending; an outbound
	// connector is ready, failing or paused.
	State string `json:"state"`
	// Instance is the server instance running it.
	Instance  string    `json:"instance,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	// Version is the version of the connector it runs.
	Version   uint64 `json:"version,omitempty"`
	Received  uint64 `json:"received"`
	Published uint64 `json:"published"`
	Rejected  uint64 `json:"rejected"`
	// Dropped counts messages the source lost before handing them over (core NATS).
	Dropped uint64 `json:"dropped,omitempty"`
	// Held is true while the connector takes nothing from its source because its handlers
	// are behind (State stays running); HeldReason says by how much.
	Held       bool   `json:"held,omitempty"`
	HeldReason string `json:"held_reason,omitempty"`
	// Pending is how many events of its topic wait for handlers, as last counted (nil when
	// not counted); MaxPending is the bound it is held at.
	Pending    *uint64 `json:"pending,omitempty"`
	MaxPending uint64  `json:"max_pending,omitempty"`
	// Lag is how many messages its source holds that it has not taken yet; nil when the
	// source does not tell.
	Lag *uint64 `json:"lag,omitempty"`
	// Failed counts, for an outbound connector, the publishes that failed on the instance
	// answering (Published those that went out there).
	Failed uint64 `json:"failed,omitempty"`
}

// Connector is a source of events for one topic of a solution, as the API shows it: the
// secrets of its config replaced by "(set)".
type Connector struct {
	Name      string          `json:"name"`
	Type      string          `json:"type"`
	Direction string          `json:"direction"`
	Topic     string          `json:"topic,omitempty"`
	Config    json.RawMessage `json:"config"`
	// MaxPending is its own bound on pending events; 0 is the server's.
	MaxPending int             `json:"max_pending,omitempty"`
	Paused     bool            `json:"paused"`
	Version    uint64          `json:"version"`
	UpdatedAt  time.Time       `json:"updated_at,omitzero"`
	Status     ConnectorStatus `json:"status"`
}

// connectorPath is /api/v1/solutions/{solution}/connectors/{name} followed by elems.
func connectorPath(solution, name string, elems ...string) (string, error) {
	if name == "" {
		return "", errors.New("apiclient: empty connector name")
	}
	return solutionPath(solution, append([]string{"connectors", url.PathEscape(name)}, elems...)...)
}

// ConnectorTypes lists the connector types the server runs, each with the schema of its
// config (GET /api/v1/connector-types).
func (c *Client) ConnectorTypes(ctx context.Context) ([]ConnectorType, error) {
	return getList[ConnectorType](ctx, c, "/api/v1/connector-types")
}

// CreateConnector creates the connector spec.Name of a solution
// (POST /api/v1/solutions/{solution}/connectors). One of that name already there is Status
// 409; a refused field (config.schedule, type, topic) is Status 400 naming it in Field.
func (c *Client) CreateConnector(ctx context.Context, solution string, spec ConnectorSpec) (Connector, error) {
	var out Connector
	p, err := solutionPath(solution, "connectors")
	if err != nil {
		return out, err
	}
	if spec.Name == "" {
		return out, errors.New("apiclient: empty connector name")
	}
	_, err = c.do(ctx, http.MethodPost, p, spec, &out)
	return out, err
}

// ListConnectors returns a solution's connectors with their status
// (GET /api/v1/solutions/{solution}/connectors).
func (c *Client) ListConnectors(ctx context.Context, solution string) ([]Connector, error) {
	p, err := solutionPath(solution, "connectors")
	if err != nil {
		return nil, err
	}
	return getList[Connector](ctx, c, p)
}

// GetConnector returns one connector with its status
// (GET /api/v1/solutions/{solution}/connectors/{name}); Status 404 if there is none.
func (c *Client) GetConnector(ctx context.Context, solution, name string) (Connector, error) {
	var out Connector
	p, err := connectorPath(solution, name)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// UpdateConnector replaces the type, topic, config and max_pending of a connector
// (PUT /api/v1/solutions/{solution}/connectors/{name}); spec.Name is not sent. A paused
// connector stays paused. Status 404 if there is none.
func (c *Client) UpdateConnector(ctx context.Context, solution, name string, spec ConnectorSpec) (Connector, error) {
	var out Connector
	p, err := connectorPath(solution, name)
	if err != nil {
		return out, err
	}
	spec.Name = ""
	_, err = c.do(ctx, http.MethodPut, p, spec, &out)
	return out, err
}

// DeleteConnector removes a connector (DELETE /api/v1/solutions/{solution}/connectors/{name}).
func (c *Client) DeleteConnector(ctx context.Context, solution, name string) error {
	p, err := connectorPath(solution, name)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}

// PauseConnector stops a connector wherever it runs, keeping it
// (POST /api/v1/solutions/{solution}/connectors/{name}/pause).
func (c *Client) PauseConnector(ctx context.Context, solution, name string) (Connector, error) {
	return c.setPaused(ctx, solution, name, "pause")
}

// ResumeConnector runs a paused connector again
// (POST /api/v1/solutions/{solution}/connectors/{name}/resume).
func (c *Client) ResumeConnector(ctx context.Context, solution, name string) (Connector, error) {
	return c.setPaused(ctx, solution, name, "resume")
}

func (c *Client) setPaused(ctx context.Context, solution, name, verb string) (Connector, error) {
	var out Connector
	p, err := connectorPath(solution, name, verb)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, p, nil, &out)
	return out, err
}
