package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// FlowInstance is a service instance of a flow: a version of a hosted service run on a node
// (by name, or "hub") or on every node with a tag.
type FlowInstance struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	// Version pins the version: "" the newest, "1" the newest of major 1, "1.2" exactly.
	Version string         `json:"version,omitempty"`
	Node    string         `json:"node,omitempty"`
	Tag     string         `json:"tag,omitempty"`
	Static  map[string]any `json:"static,omitempty"`
	// Security values are shown as "(set)"; sent back as "(set)" they keep the stored value.
	Security map[string]string `json:"security,omitempty"`
	Upstream string            `json:"upstream,omitempty"`
	Disabled bool              `json:"disabled,omitempty"`
}

// Flow is a solution's flow.
type Flow struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Instances   []FlowInstance `json:"instances"`
	CreatedAt   time.Time      `json:"created_at,omitzero"`
	UpdatedAt   time.Time      `json:"updated_at,omitzero"`
}

// ReportedInstance is an instance as a node's runtime last reported it.
type ReportedInstance struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Version string `json:"version"`
	State   string `json:"state"`
}

// Node is a node of a solution with its state; the hub is one.
type Node struct {
	Name         string             `json:"name"`
	Tags         []string           `json:"tags"`
	Disabled     bool               `json:"disabled"`
	Generation   uint64             `json:"generation"`
	CreatedAt    time.Time          `json:"created_at"`
	Hub          bool               `json:"hub,omitempty"`
	Online       bool               `json:"online"`
	Provisioning bool               `json:"provisioning"`
	SignedIn     bool               `json:"signed_in"`
	LastSeen     time.Time          `json:"last_seen"`
	AgentVersion string             `json:"agent_version,omitempty"`
	Instances    []ReportedInstance `json:"instances"`
	// Token is the provisioning token, set only when one was just issued.
	Token string `json:"token,omitempty"`
}

// NodeChange is the body of PATCH …/nodes/{name}: what is nil stays.
type NodeChange struct {
	Tags     *[]string `json:"tags,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`
}

// Assigned is an instance a node is to run; security values read "(set)".
type Assigned struct {
	Flow       string            `json:"flow"`
	Instance   string            `json:"instance"`
	Service    string            `json:"service"`
	Kind       string            `json:"kind"`
	Version    string            `json:"version"`
	CodeSHA256 string            `json:"code_sha256"`
	Static     map[string]any    `json:"static"`
	Security   map[string]string `json:"security"`
	Upstream   string            `json:"upstream,omitempty"`
	Hash       string            `json:"hash"`
}

func namedPath(solution, collection, name string, elems ...string) (string, error) {
	if name == "" {
		return "", errors.New("apiclient: empty " + collection + " name")
	}
	return solutionPath(solution, append([]string{collection, url.PathEscape(name)}, elems...)...)
}

// CreateFlow creates a flow; a bad instance is Status 400 with Field naming it
// (instances[0].static.pin).
func (c *Client) CreateFlow(ctx context.Context, solution string, f Flow) (Flow, error) {
	var out Flow
	p, err := solutionPath(solution, "flows")
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, p, f, &out)
	return out, err
}

// UpdateFlow replaces the flow f.Name.
func (c *Client) UpdateFlow(ctx context.Context, solution string, f Flow) (Flow, error) {
	var out Flow
	p, err := namedPath(solution, "flows", f.Name)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPut, p, f, &out)
	return out, err
}

// ListFlows lists a solution's flows.
func (c *Client) ListFlows(ctx context.Context, solution string) ([]Flow, error) {
	p, err := solutionPath(solution, "flows")
	if err != nil {
		return nil, err
	}
	return getList[Flow](ctx, c, p)
}

// GetFlow returns one flow; Status 404 if there is none.
func (c *Client) GetFlow(ctx context.Context, solution, name string) (Flow, error) {
	var out Flow
	p, err := namedPath(solution, "flows", name)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// DeleteFlow removes a flow; its instances stop.
func (c *Client) DeleteFlow(ctx context.Context, solution, name string) error {
	p, err := namedPath(solution, "flows", name)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}

// CreateNode registers a node; the answer's Token is its provisioning token, shown this once.
func (c *Client) CreateNode(ctx context.Context, solution, name string, tags []string) (Node, error) {
	var out Node
	p, err := solutionPath(solution, "nodes")
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, p, map[string]any{"name": name, "tags": tags}, &out)
	return out, err
}

// ListNodes lists a solution's nodes with their state, the hub among them.
func (c *Client) ListNodes(ctx context.Context, solution string) ([]Node, error) {
	p, err := solutionPath(solution, "nodes")
	if err != nil {
		return nil, err
	}
	return getList[Node](ctx, c, p)
}

// GetNode returns one node with its state.
func (c *Client) GetNode(ctx context.Context, solution, name string) (Node, error) {
	return c.nodeCall(ctx, http.MethodGet, solution, name, nil)
}

// UpdateNode changes a node's tags or whether it is disabled.
func (c *Client) UpdateNode(ctx context.Context, solution, name string, change NodeChange) (Node, error) {
	return c.nodeCall(ctx, http.MethodPatch, solution, name, change)
}

// RestartNode restarts every instance on a node (its generation goes up).
func (c *Client) RestartNode(ctx context.Context, solution, name string) (Node, error) {
	return c.nodeCall(ctx, http.MethodPost, solution, name, nil, "restart")
}

// NodeToken issues a new provisioning token (the answer's Token), revoking the credential.
func (c *Client) NodeToken(ctx context.Context, solution, name string) (Node, error) {
	return c.nodeCall(ctx, http.MethodPost, solution, name, nil, "token")
}

func (c *Client) nodeCall(ctx context.Context, method, solution, name string, body any, elems ...string) (Node, error) {
	var out Node
	p, err := namedPath(solution, "nodes", name, elems...)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, method, p, body, &out)
	return out, err
}

// DeleteNode removes a node; one a flow names is Status 409.
func (c *Client) DeleteNode(ctx context.Context, solution, name string) error {
	p, err := namedPath(solution, "nodes", name)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}

// NodeAssignment lists what a node is to run.
func (c *Client) NodeAssignment(ctx context.Context, solution, name string) ([]Assigned, error) {
	p, err := namedPath(solution, "nodes", name, "assignment")
	if err != nil {
		return nil, err
	}
	return getList[Assigned](ctx, c, p)
}
