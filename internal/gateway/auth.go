package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/internal/oauth"
)

// Realm names the gateway in its challenges.
const Realm = "switchboard-gateway"

// SolutionHeader names the solution of the application a request publishes for. Outside
// tokens and client certificates do not name Switchboard's solutions, and application
// names are unique only within one, so these callers must send it; Switchboard's own
// tokens name their solution, and the header, when sent with one, must name that solution.
const SolutionHeader = "X-Switchboard-Solution"

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

// accept authenticates the request for the application in its path and finds it. The
// credential decides how: a bearer token of Switchboard's own issuer (or one whose issuer
// cannot be read, which its verifier then refuses) is checked as Switchboard's; a bearer
// token of another issuer against the application's outside issuer; without a bearer
// token, a TLS client certificate against the application's CA.
func (g *Gateway) accept(r *http.Request) (Application, *refusal) {
	name := r.PathValue("application")
	raw, hasBearer := bearer(r)
	switch {
	case hasBearer:
		iss, err := oauth.PeekIssuer(raw)
		if g.o.Issuer == "" || err != nil || iss == g.o.Issuer {
			return g.acceptOwn(r, name)
		}
		return g.acceptOutsideToken(r, name, raw, iss)
	case r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
		return g.acceptCert(r, name)
	}
	rf := refuse(http.StatusUnauthorized, "", "unauthenticated",
		"a bearer token (Switchboard's, from POST /oauth2/token, or of the issuer the application trusts) or a TLS client certificate is required")
	rf.challenge = `Bearer realm="` + Realm + `"`
	g.countRefused(rf.reason)
	return Application{}, rf
}

// acceptOwn checks Switchboard's own token: it names the solution and the application's id.
func (g *Gateway) acceptOwn(r *http.Request, name string) (Application, *refusal) {
	caller, err := g.o.Auth.Authenticate(r)
	if err != nil {
		var ae *AuthError
		if errors.As(err, &ae) {
			return Application{}, g.authRefusal(ae)
		}
		// The credentials could not be checked (the bus is away): nothing said of them.
		g.o.Logger.Error("gateway authentication failed", "err", err)
		return Application{}, g.unavailable()
	}
	if sol := r.Header.Get(SolutionHeader); sol != "" && sol != caller.Solution {
		g.countRefused("forbidden")
		return Application{}, refuse(http.StatusForbidden, SolutionHeader, "forbidden", "this token is for solution %q, not %q", caller.Solution, clip(sol))
	}
	app, rf := g.applicationOf(caller, name)
	if rf != nil {
		return Application{}, rf
	}
	if app.OwnTokensOff {
		g.countRefused("forbidden")
		return Application{}, refuse(http.StatusForbidden, "application", "forbidden",
			"application %q does not accept Switchboard's client credentials (its gatewayAuth.clientCredentials is false)", name)
	}
	return app, nil
}

// outsideApplication is the application name of the solution the request names, for an
// outside credential.
func (g *Gateway) outsideApplication(r *http.Request, name string) (Application, bool, *refusal) {
	sol := r.Header.Get(SolutionHeader)
	if sol == "" {
		g.countRefused("no_solution")
		return Application{}, false, refuse(http.StatusBadRequest, SolutionHeader, "no_solution",
			"%s: required with an outside token or a client certificate: the solution of application %q", SolutionHeader, name)
	}
	app, ok := g.o.Registry.Application(sol, name)
	return app, ok, nil
}

// acceptOutsideToken checks a token of issuer iss (read, not yet checked) for the
// application: only one that names the issuer exactly is asked to verify it. An unknown
// application is refused as one that does not trust the issuer, so that an unauthenticated
// caller learns nothing of which applications exist.
func (g *Gateway) acceptOutsideToken(r *http.Request, name, raw, iss string) (Application, *refusal) {
	app, ok, rf := g.outsideApplication(r, name)
	if rf != nil {
		return Application{}, rf
	}
	if !ok || app.OIDC == nil || app.OIDC.Issuer != iss || g.o.Outside == nil {
		return Application{}, g.tokenRefusal(&oauth.TokenError{Reason: oauth.ErrIssuer,
			Detail: fmt.Sprintf("issuer %q is not trusted by application %q of solution %q", clip(iss), name, clip(r.Header.Get(SolutionHeader)))})
	}
	v, err := g.o.Outside.Verifier(r.Context(), *app.OIDC)
	if err != nil {
		g.o.Logger.Warn("outside issuer not usable", "solution", app.Solution, "application", app.Name, "issuer", iss, "err", err)
		return Application{}, g.unavailable()
	}
	id, err := v.Verify(r.Context(), raw)
	if err == nil {
		err = id.For(app.OIDC.Client)
	}
	var te *oauth.TokenError
	switch {
	case errors.As(err, &te):
		if te.Cause != nil {
			g.o.Logger.Debug("outside token refused", "solution", app.Solution, "application", app.Name, "err", te.Cause)
		}
		return Application{}, g.tokenRefusal(te)
	case err != nil:
		g.o.Logger.Error("outside token not checked", "solution", app.Solution, "application", app.Name, "err", err)
		return Application{}, g.unavailable()
	}
	return app, nil
}

// acceptCert checks the request's client certificate against the application's CA and names.
func (g *Gateway) acceptCert(r *http.Request, name string) (Application, *refusal) {
	app, ok, rf := g.outsideApplication(r, name)
	if rf != nil {
		return Application{}, rf
	}
	if !ok || app.Cert == nil {
		return Application{}, g.authRefusal(&AuthError{Status: http.StatusUnauthorized,
			Reason: fmt.Sprintf("client certificates are not accepted by application %q of solution %q", name, clip(r.Header.Get(SolutionHeader)))})
	}
	err := oauth.CheckRequestCert(r, *app.Cert, g.o.Now())
	switch {
	case err == nil:
		return app, nil
	case errors.Is(err, oauth.ErrCertSubject):
		return Application{}, g.authRefusal(&AuthError{Status: http.StatusForbidden, Reason: err.Error()})
	case errors.Is(err, oauth.ErrCertExpired), errors.Is(err, oauth.ErrCertUntrusted), errors.Is(err, oauth.ErrNoClientCert):
		return Application{}, g.authRefusal(&AuthError{Status: http.StatusUnauthorized, Reason: err.Error()})
	}
	g.o.Logger.Error("client certificate not checked", "solution", app.Solution, "application", app.Name, "err", err)
	return Application{}, g.unavailable()
}

// tokenRefusal answers a refused token: 403 when it is good but another client's, else 401
// with a Bearer challenge saying why.
func (g *Gateway) tokenRefusal(te *oauth.TokenError) *refusal {
	if errors.Is(te, oauth.ErrNotClient) {
		return g.authRefusal(&AuthError{Status: http.StatusForbidden, Reason: te.Error()})
	}
	return g.authRefusal(&AuthError{Status: http.StatusUnauthorized, Reason: te.Error(), Challenge: oauth.BearerChallenge(Realm, te)})
}

func (g *Gateway) authRefusal(ae *AuthError) *refusal {
	rf := refuse(ae.Status, "", "unauthenticated", "%s", ae.Reason)
	if ae.Status == http.StatusUnauthorized {
		rf.challenge = cmpOr(ae.Challenge, `Bearer realm="`+Realm+`"`)
	}
	if ae.Status == http.StatusForbidden {
		rf.reason = "forbidden"
	}
	g.countRefused(rf.reason)
	return rf
}

func (g *Gateway) unavailable() *refusal {
	g.countRefused("auth_unavailable")
	rf := refuse(http.StatusServiceUnavailable, "", "auth_unavailable", "the credentials could not be checked now; try again")
	rf.retryAfter = strconv.Itoa(int(oauth.DefaultMinRefetch.Seconds()))
	return rf
}
