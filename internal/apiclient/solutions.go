package apiclient

import (
	"context"
	"net/http"
)

// CreateSolution creates a solution (POST /api/v1/solutions). The answer holds its token, which
// the server shows only this once. A solution that exists already fails with Status 409.
func (c *Client) CreateSolution(ctx context.Context, in SolutionCreate) (SolutionCreated, error) {
	var out SolutionCreated
	_, err := c.do(ctx, http.MethodPost, "/api/v1/solutions", in, &out)
	return out, err
}

// ListSolutions returns every solution (GET /api/v1/solutions).
func (c *Client) ListSolutions(ctx context.Context) ([]Solution, error) {
	return getList[Solution](ctx, c, "/api/v1/solutions")
}

// GetSolution returns one solution (GET /api/v1/solutions/{id}); Status 404 if there is none.
func (c *Client) GetSolution(ctx context.Context, id string) (Solution, error) {
	var out Solution
	p, err := solutionPath(id)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// UpdateSolution sets a solution's limits (PATCH /api/v1/solutions/{id}; see SolutionUpdate)
// and returns the solution as it is now.
func (c *Client) UpdateSolution(ctx context.Context, id string, in SolutionUpdate) (Solution, error) {
	var out Solution
	p, err := solutionPath(id)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPatch, p, in, &out)
	return out, err
}

// DeleteSolution removes a solution and everything it owns (DELETE /api/v1/solutions/{id}).
func (c *Client) DeleteSolution(ctx context.Context, id string) error {
	p, err := solutionPath(id)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}

// NewSolutionToken gives a solution a new token (POST /api/v1/solutions/{id}/token): the
// answer holds it, this once, and the old token stops working.
func (c *Client) NewSolutionToken(ctx context.Context, id string) (SolutionCreated, error) {
	var out SolutionCreated
	p, err := solutionPath(id)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, p+"/token", nil, &out)
	return out, err
}
