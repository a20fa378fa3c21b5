package apiclient

import (
	"context"
	"net/http"
)

// WhoAmI is what a token is: the admin's, or a solution's (Solution names it).
type WhoAmI struct {
	Admin    bool   `json:"admin"`
	Solution string `json:"solution,omitempty"`
}

// WhoAmI asks what the client's token is (GET /api/v1/whoami); an unknown token fails with
// Status 401.
func (c *Client) WhoAmI(ctx context.Context) (WhoAmI, error) {
	var out WhoAmI
	_, err := c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, &out)
	return out, err
}
