package apiclient

import (
	"context"
	"net/http"
	"net/url"
)

// endpointDeploy is the body of POST /api/v1/solutions/{solution}/endpoints.
type endpointDeploy struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Script string `json:"script"`
}

// DeployEndpoint creates or replaces the endpoint ep.Method ep.Path of a solution with
// ep.Script (POST /api/v1/solutions/{solution}/endpoints; ep.Version and ep.UpdatedAt are not
// sent). created is true if the endpoint is new (201) and false if it replaced one (200). A
// script that does not compile fails with Status 400, Field "script" and the script's Line.
// The method is sent as given; the API expects it in upper case.
func (c *Client) DeployEndpoint(ctx context.Context, solution string, ep Endpoint) (out Endpoint, created bool, err error) {
	p, err := solutionPath(solution, "endpoints")
	if err != nil {
		return out, false, err
	}
	status, err := c.do(ctx, http.MethodPost, p, endpointDeploy{Method: ep.Method, Path: ep.Path, Script: ep.Script}, &out)
	return out, status == http.StatusCreated, err
}

// ListEndpoints returns a solution's endpoints, scripts included
// (GET /api/v1/solutions/{solution}/endpoints).
func (c *Client) ListEndpoints(ctx context.Context, solution string) ([]Endpoint, error) {
	p, err := solutionPath(solution, "endpoints")
	if err != nil {
		return nil, err
	}
	return getList[Endpoint](ctx, c, p)
}

// GetEndpoint returns one endpoint of a solution; Status 404 if there is none. path is the
// endpoint's path as deployed ("/users/{id}"); the client escapes it into the URL
// (/api/v1/solutions/demo/endpoints/GET/users/%7Bid%7D).
func (c *Client) GetEndpoint(ctx context.Context, solution, method, path string) (Endpoint, error) {
	var out Endpoint
	p, err := endpointPath(solution, method, path)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// DeleteEndpoint removes one endpoint of a solution.
func (c *Client) DeleteEndpoint(ctx context.Context, solution, method, path string) error {
	p, err := endpointPath(solution, method, path)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}

// endpointPath is /api/v1/solutions/{solution}/endpoints/{METHOD}/{path without its leading
// slash, each segment escaped}.
func endpointPath(solution, method, path string) (string, error) {
	return solutionPath(solution, "endpoints", url.PathEscape(method), routePath(path))
}

// Health asks whether the server is alive (GET /healthz).
func (c *Client) Health(ctx context.Context) (Health, error) {
	var out Health
	_, err := c.do(ctx, http.MethodGet, "/healthz", nil, &out)
	return out, err
}

// Ready asks whether the server is ready to serve (GET /readyz). A server that is not fails
// with Status 503.
func (c *Client) Ready(ctx context.Context) (Health, error) {
	var out Health
	_, err := c.do(ctx, http.MethodGet, "/readyz", nil, &out)
	return out, err
}
