package hub

import (
	"context"
	"strings"

	"github.com/switchboardhq/switchboard/internal/compass"
	"github.com/switchboardhq/switchboard/internal/oauth"
)

// credentialIssuer issues the event gateway's client credentials for the GraphQL API's
// requestClientCredentialsForApplication: bound to the application's id, exchanged at the
// token endpoint.
type credentialIssuer struct {
	auth     *oauth.Authority
	tokenURL string
}

func (c credentialIssuer) IssueClientCredentials(ctx context.Context, sol, appID string) (compass.ClientCredentials, error) {
	cr, err := c.auth.Issue(ctx, sol, appID)
	if err != nil {
		return compass.ClientCredentials{}, err
	}
	return compass.ClientCredentials{ID: cr.ID, ClientID: cr.ClientID, ClientSecret: cr.ClientSecret, TokenURL: c.tokenURL}, nil
}

// publicURL is where clients reach this server: --public-url, else http://<the address it
// listens on>.
func (h *Hub) publicURL() string {
	if h.cfg.PublicURL != "" {
		return strings.TrimSuffix(h.cfg.PublicURL, "/")
	}
	return "http://" + h.listener.Addr().String()
}
