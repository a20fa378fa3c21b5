package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// servicePath is /api/v1/services/{name}.
func servicePath(name string) (string, error) {
	if name == "" {
		return "", errors.New("apiclient: empty service name")
	}
	return "/api/v1/services/" + url.PathEscape(name), nil
}

// solutionServicePath is /api/v1/solutions/{solution}/services/{service}.
func solutionServicePath(solution, service string) (string, error) {
	if service == "" {
		return "", errors.New("apiclient: empty service name")
	}
	return solutionPath(solution, "services", url.PathEscape(service))
}

// ListServices returns the hub's catalog of services, core and dynamic, without their
// documents (GET /api/v1/services).
func (c *Client) ListServices(ctx context.Context) ([]Service, error) {
	return getList[Service](ctx, c, "/api/v1/services")
}

// GetService returns one service with its OpenAPI document (GET /api/v1/services/{name});
// Status 404 if there is none.
func (c *Client) GetService(ctx context.Context, name string) (Service, error) {
	var out Service
	p, err := servicePath(name)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// DeleteService removes a service from the catalog (DELETE /api/v1/services/{name}; admin
// token only).
func (c *Client) DeleteService(ctx context.Context, name string) error {
	p, err := servicePath(name)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}

// serviceAdd is the body of POST /api/v1/solutions/{solution}/services.
type serviceAdd struct {
	Service    string         `json:"service"`
	Parameters map[string]any `json:"parameters"`
}

// serviceUpdate is the body of PUT /api/v1/solutions/{solution}/services/{service}.
type serviceUpdate struct {
	Parameters map[string]any `json:"parameters"`
}

// AddService adds a service of the catalog to a solution with its parameters, or sets the
// parameters of a service the solution added already (POST /api/v1/solutions/{solution}/services).
// created is true if the service was added (201) and false if it was there already (200). A nil
// params sends an empty object. The answer holds no secret parameters.
func (c *Client) AddService(ctx context.Context, solution, service string, params map[string]any) (out ServiceConfig, created bool, err error) {
	p, err := solutionPath(solution, "services")
	if err != nil {
		return out, false, err
	}
	if service == "" {
		return out, false, errors.New("apiclient: empty service name")
	}
	if params == nil {
		params = map[string]any{}
	}
	status, err := c.do(ctx, http.MethodPost, p, serviceAdd{Service: service, Parameters: params}, &out)
	return out, status == http.StatusCreated, err
}

// ListSolutionServices returns the services a solution added
// (GET /api/v1/solutions/{solution}/services).
func (c *Client) ListSolutionServices(ctx context.Context, solution string) ([]ServiceConfig, error) {
	p, err := solutionPath(solution, "services")
	if err != nil {
		return nil, err
	}
	return getList[ServiceConfig](ctx, c, p)
}

// GetSolutionService returns one service a solution added
// (GET /api/v1/solutions/{solution}/services/{service}); Status 404 if it did not add it.
func (c *Client) GetSolutionService(ctx context.Context, solution, service string) (ServiceConfig, error) {
	var out ServiceConfig
	p, err := solutionServicePath(solution, service)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// UpdateSolutionService sends params as the new parameters of a service the solution added
// (PUT /api/v1/solutions/{solution}/services/{service}) and returns its configuration as it
// is now. A nil params sends an empty object.
func (c *Client) UpdateSolutionService(ctx context.Context, solution, service string, params map[string]any) (ServiceConfig, error) {
	var out ServiceConfig
	p, err := solutionServicePath(solution, service)
	if err != nil {
		return out, err
	}
	if params == nil {
		params = map[string]any{}
	}
	_, err = c.do(ctx, http.MethodPut, p, serviceUpdate{Parameters: params}, &out)
	return out, err
}

// RemoveService removes a service from a solution
// (DELETE /api/v1/solutions/{solution}/services/{service}).
func (c *Client) RemoveService(ctx context.Context, solution, service string) error {
	p, err := solutionServicePath(solution, service)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}
