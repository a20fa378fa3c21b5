package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// handlerDeploy is the body of POST /api/v1/solutions/{solution}/handlers.
type handlerDeploy struct {
	Name        string       `json:"name"`
	Topics      []string     `json:"topics,omitempty"`
	Script      string       `json:"script"`
	Retry       *RetryPolicy `json:"retry,omitempty"`
	MaxInFlight int          `json:"max_in_flight,omitempty"`
	OrderBy     string       `json:"order_by,omitempty"`
}

func deployOf(h Handler) handlerDeploy {
	return handlerDeploy{Name: h.Name, Topics: h.Topics, Script: h.Script, Retry: h.Retry, MaxInFlight: h.MaxInFlight, OrderBy: h.OrderBy}
}

// handlerPath is /api/v1/solutions/{solution}/handlers/{name}.
func handlerPath(solution, name string) (string, error) {
	if name == "" {
		return "", errors.New("apiclient: empty handler name")
	}
	return solutionPath(solution, "handlers", url.PathEscape(name))
}

// DeployHandler creates or replaces the event handler h.Name of a solution with h.Script and
// h.Topics (POST /api/v1/solutions/{solution}/handlers; h.Version and h.UpdatedAt are not
// sent). Empty Topics are left out: a name "<service>_<event>" then subscribes to
// "<service>.<event>". created is true if the handler is new (201) and false if it replaced
// one (200). A script that does not compile fails with Status 400, Field "script" and the
// script's Line.
func (c *Client) DeployHandler(ctx context.Context, solution string, h Handler) (out Handler, created bool, err error) {
	p, err := solutionPath(solution, "handlers")
	if err != nil {
		return out, false, err
	}
	if h.Name == "" {
		return out, false, errors.New("apiclient: empty handler name")
	}
	status, err := c.do(ctx, http.MethodPost, p, deployOf(h), &out)
	return out, status == http.StatusCreated, err
}

// ListHandlers returns a solution's event handlers, scripts included
// (GET /api/v1/solutions/{solution}/handlers).
func (c *Client) ListHandlers(ctx context.Context, solution string) ([]Handler, error) {
	p, err := solutionPath(solution, "handlers")
	if err != nil {
		return nil, err
	}
	return getList[Handler](ctx, c, p)
}

// GetHandler returns one event handler of a solution
// (GET /api/v1/solutions/{solution}/handlers/{name}); Status 404 if there is none.
func (c *Client) GetHandler(ctx context.Context, solution, name string) (Handler, error) {
	var out Handler
	p, err := handlerPath(solution, name)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// DeleteHandler removes one event handler of a solution
// (DELETE /api/v1/solutions/{solution}/handlers/{name}).
func (c *Client) DeleteHandler(ctx context.Context, solution, name string) error {
	p, err := handlerPath(solution, name)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}
