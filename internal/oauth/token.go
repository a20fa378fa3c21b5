package oauth

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// TokenPath is where the token endpoint is served.
const TokenPath = "/oauth2/token"

// maxTokenRequest bounds a token request's body: a client id, a secret and a scope fit.
const maxTokenRequest = 4 << 10

// tokenClaims is the payload of a token.
type tokenClaims struct {
	jwt.Claims
	Solution    string `json:"solution"`
	Application string `json:"application"`
}

// mint signs a token for a credential with the current period's key.
func (a *Authority) mint(ctx context.Context, c SystemAuth) (string, time.Duration, error) {
	now := a.cfg.Now()
	k, err := a.ensureKey(ctx, a.period(now))
	if err != nil {
		return "", 0, err
	}
	exp := now.Add(a.cfg.TokenTTL)
	if k.ValidUntil.Before(exp) { // a key made by an instance with a shorter TTL
		exp = k.ValidUntil
	}
	exp = exp.Truncate(time.Second)
	cl := tokenClaims{
		Claims: jwt.Claims{
			Issuer:   a.cfg.Issuer,
			Subject:  c.ClientID,
			Audience: jwt.Audience{a.cfg.Audience},
			Expiry:   jwt.NewNumericDate(exp),
			IssuedAt: jwt.NewNumericDate(now),
			ID:       hex.EncodeToString(randomBytes(16)),
		},
		Solution:    c.Solution,
		Application: c.Application,
	}
	tok, err := jwt.Signed(k.signer).Claims(cl).Serialize()
	if err != nil {
		return "", 0, fmt.Errorf("sign token: %w", err)
	}
	return tok, exp.Sub(now.Truncate(time.Second)), nil
}

// oauthError is an RFC 6749 §5.2 error answer.
type oauthError struct {
	status int
	code   string
	desc   string
}

// TokenHandler serves POST /oauth2/token, the client credentials grant (RFC 6749 §4.4).
func (a *Authority) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		body, oe := a.token(w, r)
		if oe != nil {
			if oe.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="switchboard", charset="UTF-8"`)
			}
			if oe.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", http.MethodPost)
			}
			body = map[string]any{"error": oe.code, "error_description": oe.desc}
		}
		w.Header().Set("Content-Type", "application/json")
		if oe != nil {
			w.WriteHeader(oe.status)
		}
		json.NewEncoder(w).Encode(body) //nolint:errcheck // the client went away
	})
}

func (a *Authority) token(w http.ResponseWriter, r *http.Request) (map[string]any, *oauthError) {
	if r.Method != http.MethodPost {
		return nil, &oauthError{http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST"}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil {
		if _, big := errors.AsType[*http.MaxBytesError](err); big {
			return nil, &oauthError{http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("body larger than %d bytes", maxTokenRequest)}
		}
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "body is not a valid form"}
	}
	for name, vs := range r.PostForm {
		if len(vs) > 1 { // RFC 6749 §3.2
			return nil, &oauthError{http.StatusBadRequest, "invalid_request", fmt.Sprintf("parameter %s given more than once", trimmed(name))}
		}
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "grant_type is required"}
	default:
		return nil, &oauthError{http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q: only client_credentials is supported", trimmed(gt))}
	}
	id, secret, oe := clientCredentials(r)
	if oe != nil {
		return nil, oe
	}
	rec, ok, err := a.authenticate(r.Context(), id, secret)
	if err != nil {
		a.cfg.Log.Error("token request", "err", err)
		return nil, &oauthError{http.StatusServiceUnavailable, "temporarily_unavailable", "credentials cannot be checked now"}
	}
	if !ok {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret"}
	}
	tok, ttl, err := a.mint(r.Context(), rec.SystemAuth)
	if err != nil {
		a.cfg.Log.Error("token request", "solution", rec.Solution, "err", err)
		return nil, &oauthError{http.StatusServiceUnavailable, "temporarily_unavailable", "no signing key now"}
	}
	return map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl.Seconds())}, nil
}

// clientCredentials is the client's id and secret, from HTTP Basic (each form-urlencoded,
// RFC 6749 §2.3.1) or from the form; one way only.
func clientCredentials(r *http.Request) (id, secret string, oe *oauthError) {
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	h := r.Header.Get("Authorization")
	if h == "" {
		if formID == "" || formSecret == "" {
			return "", "", &oauthError{http.StatusUnauthorized, "invalid_client", "client authentication required: HTTP Basic or client_id and client_secret"}
		}
		return formID, formSecret, nil
	}
	if formSecret != "" {
		return "", "", &oauthError{http.StatusBadRequest, "invalid_request", "client authenticated twice: use either HTTP Basic or the form fields"}
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", &oauthError{http.StatusUnauthorized, "invalid_client", "Authorization must be Basic"}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	uid, usecret, found := strings.Cut(string(raw), ":")
	if err != nil || !found {
		return "", "", &oauthError{http.StatusUnauthorized, "invalid_client", "malformed Basic credentials"}
	}
	if id, err = url.QueryUnescape(uid); err == nil {
		secret, err = url.QueryUnescape(usecret)
	}
	if err != nil {
		return "", "", &oauthError{http.StatusUnauthorized, "invalid_client", "Basic credentials are not form-urlencoded"}
	}
	if formID != "" && formID != id { // a client may name itself in the form too (§3.2.1)
		return "", "", &oauthError{http.StatusBadRequest, "invalid_request", "client_id differs from the one of HTTP Basic"}
	}
	return id, secret, nil
}

// trimmed bounds what of the request is echoed in an answer.
func trimmed(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
