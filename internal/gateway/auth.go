package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchboardhq/switchboard/internal/oauth"
)

// Realm names the gateway in its challenges.
const Realm = "switchboard-gateway"

// OwnTokens authenticates with Switchboard's own access tokens: an application asks
// POST /oauth2/token for one with its client credentials, and sends it as a bearer token.
type OwnTokens struct {
	// Verify checks a token; *oauth.Authority's Verify is one.
	Verify func(ctx context.Context, raw string) (oauth.Claims, error)
}

// Authenticate implements Authenticator.
func (a OwnTokens) Authenticate(r *http.Request) (Caller, error) {
	raw, ok := bearer(r)
	if !ok {
		return Caller{}, &AuthError{Status: http.StatusUnauthorized,
			Reason: "a bearer token is required: ask POST /oauth2/token for one with the application's client credentials"}
	}
	c, err := a.Verify(r.Context(), raw)
	var te *oauth.TokenError
	switch {
	case errors.As(err, &te):
		return Caller{}, &AuthError{Status: http.StatusUnauthorized, Reason: te.Error(), Challenge: oauth.BearerChallenge(Realm, te)}
	case err != nil:
		return Caller{}, fmt.Errorf("verify token: %w", err)
	}
	return Caller{Solution: c.Solution, Application: c.Application}, nil
}

// bearer is the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
