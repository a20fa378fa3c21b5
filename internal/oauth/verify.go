package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// maxTokenBytes bounds a token before anything is decoded.
const maxTokenBytes = 8 << 10

// Claims are what a verified token of this Authority says.
type Claims struct {
	ClientID    string
	Solution    string
	Application string
	ID          string // jti
	IssuedAt    time.Time
	Expiry      time.Time
}

// header is the part of a JWS header looked at before the signature.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// peekHeader decodes the protected header of a compact JWS, so that the algorithm and the
// key are refused with a clear reason before go-jose parses the rest.
func peekHeader(raw string, accept []jose.SignatureAlgorithm) (header, error) {
	var h header
	if len(raw) > maxTokenBytes {
		return h, refuse(ErrMalformed, "longer than %d bytes", maxTokenBytes)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return h, refuse(ErrMalformed, "want a compact JWS of three parts")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(b, &h) != nil {
		return h, refuse(ErrMalformed, "header is not base64url JSON")
	}
	for _, a := range accept {
		if h.Alg == string(a) {
			return h, nil
		}
	}
	return h, refuse(ErrAlgorithm, "alg %q, want one of %v", trimmed(h.Alg), accept)
}

// checkClaims checks the registered claims every token must carry.
func checkClaims(c jwt.Claims, issuer, audience string, now time.Time, leeway time.Duration) error {
	if c.Expiry == nil {
		return refuse(ErrClaims, "exp missing")
	}
	err := c.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: now}, leeway)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrExpired):
		return refuse(ErrExpired, "expired at %s", c.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return refuse(ErrNotYetValid, "nbf or iat in the future")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return refuse(ErrIssuer, "iss %q, want %q", trimmed(c.Issuer), issuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return refuse(ErrAudience, "aud does not hold %q", audience)
	}
	return refuse(ErrClaims, "%v", err)
}

// Verify checks a token of any instance sharing the bus: algorithm ES256, a known key,
// the signature, exp/nbf/iat within the leeway, iss, aud, and that its credential was not
// revoked since. A refusal is a *TokenError.
func (a *Authority) Verify(ctx context.Context, raw string) (Claims, error) {
	h, err := peekHeader(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return Claims{}, err
	}
	if !keyIDPattern.MatchString(h.Kid) {
		return Claims{}, refuse(ErrUnknownKey, "kid %q is not one of this issuer's", trimmed(h.Kid))
	}
	k, ok, err := a.keys.fetch(ctx, h.Kid)
	if err != nil {
		return Claims{}, err
	}
	if !ok {
		return Claims{}, refuse(ErrUnknownKey, "kid %q", h.Kid)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return Claims{}, refuse(ErrMalformed, "not a compact JWS")
	}
	payload, err := jws.Verify(&k.key.PublicKey)
	if err != nil {
		return Claims{}, refuse(ErrSignature, "not signed by key %s", h.Kid)
	}
	var cl tokenClaims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return Claims{}, refuse(ErrClaims, "claims are not a JSON object of the expected types")
	}
	if err := checkClaims(cl.Claims, a.cfg.Issuer, a.cfg.Audience, a.cfg.Now(), a.cfg.Leeway); err != nil {
		return Claims{}, err
	}
	if cl.Subject == "" || cl.Solution == "" || cl.Application == "" || cl.IssuedAt == nil {
		return Claims{}, refuse(ErrClaims, "sub, solution, application and iat are required")
	}
	if !clientIDPattern.MatchString(cl.Subject) {
		return Claims{}, refuse(ErrRevoked, "no such credential")
	}
	rec, ok, err := a.clients.fetch(ctx, cl.Subject)
	if err != nil {
		return Claims{}, err
	}
	if !ok || rec.Solution != cl.Solution || rec.Application != cl.Application {
		return Claims{}, refuse(ErrRevoked, "credential %s no longer exists", cl.Subject)
	}
	return Claims{
		ClientID: cl.Subject, Solution: cl.Solution, Application: cl.Application, ID: cl.ID,
		IssuedAt: cl.IssuedAt.Time(), Expiry: cl.Expiry.Time(),
	}, nil
}

// PeekIssuer is the iss claim of a compact JWS, read without checking the token: it only
// chooses which verifier then checks it. A token that cannot be read is a *TokenError.
func PeekIssuer(raw string) (string, error) {
	if len(raw) > maxTokenBytes {
		return "", refuse(ErrMalformed, "longer than %d bytes", maxTokenBytes)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", refuse(ErrMalformed, "want a compact JWS of three parts")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Issuer string `json:"iss"`
	}
	if err != nil || json.Unmarshal(b, &c) != nil {
		return "", refuse(ErrMalformed, "claims are not base64url JSON")
	}
	if c.Issuer == "" {
		return "", refuse(ErrClaims, "iss missing")
	}
	return c.Issuer, nil
}
