package hub

import (
	"context"
	"strings"

	"github.com/switchboardhq/switchboard/internal/asyncapi"
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

func (c credentialIssuer) ClientCredentialsOf(sol, appID string) []compass.ClientCredentials {
	var out []compass.ClientCredentials
	for _, a := range c.auth.List(sol, appID) {
		out = append(out, compass.ClientCredentials{ID: a.ID, ClientID: a.ClientID, TokenURL: c.tokenURL})
	}
	return out
}

// publicURL is where clients reach this server: --public-url, else http(s)://<the address
// it listens on>.
func (h *Hub) publicURL() string {
	if h.cfg.PublicURL != "" {
		return strings.TrimSuffix(h.cfg.PublicURL, "/")
	}
	return h.scheme() + "://" + h.listener.Addr().String()
}

// asyncAPIParser checks event API specs as AsyncAPI 2 documents; the topics it names are
// those of the spec's channels below the application's own: the event topic of channel
// order/created of application shop is shop.order.created, whatever the application is
// named later.
type asyncAPIParser struct{}

// topicBase stands for the application in the topics asyncAPIParser names, and is cut off.
const topicBase = "app"

func (asyncAPIParser) Parse(data []byte) ([]string, error) {
	spec, err := asyncapi.Parse(data)
	if err != nil {
		return nil, err
	}
	topics, err := spec.Topics(topicBase)
	if err != nil {
		return nil, err
	}
	for i, t := range topics {
		topics[i] = strings.TrimPrefix(t, topicBase+".")
	}
	return topics, nil
}
