package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults of OIDCConfig.
const (
	DefaultClientClaim      = "azp"
	DefaultMaxResponseBytes = 1 << 20
	DefaultMinRefetch       = 10 * time.Second
)

// asymmetric is every algorithm accepted by default: never HS*, whose key would be a secret
// shared with the issuer, and never none.
var asymmetric = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// OIDCConfig tunes an OIDCVerifier; the zero value is usable but for HTTPClient.
type OIDCConfig struct {
	// HTTPClient fetches discovery and JWKS: the hub passes one through its network guard.
	// Required.
	HTTPClient *http.Client
	// ClientClaim names the claim that says which client the token is for (azp, client_id,
	// sub, ...), compared by Identity.For with what an application trusts.
	ClientClaim string
	// Algorithms accepted; nil is every asymmetric one.
	Algorithms []jose.SignatureAlgorithm
	// Leeway on exp, nbf and iat; 0 is DefaultLeeway.
	Leeway time.Duration
	// MaxResponseBytes bounds a discovery or JWKS answer.
	MaxResponseBytes int64
	// MinRefetch is the least time between two JWKS fetches: a token with an unknown kid
	// makes go-oidc fetch again, and made-up kids must not turn into a flood of fetches.
	MinRefetch time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// OIDCVerifier checks tokens of an outside OpenID Connect issuer, its keys found by
// discovery and cached (refetched on an unknown kid) by go-oidc.
type OIDCVerifier struct {
	issuer, audience string
	cfg              OIDCConfig
	client           *http.Client
	v                *oidc.IDTokenVerifier
}

// Identity is who a verified outside token says is calling.
type Identity struct {
	Issuer   string
	Subject  string
	Client   string // the value of the configured ClientClaim
	Audience []string
	Expiry   time.Time
}

// For refuses the identity unless it is the client an application trusts, as the
// application declared it.
func (id Identity) For(client string) error {
	if client == "" || id.Client != client {
		return refuse(ErrNotClient, "the token's client is not the one this application trusts")
	}
	return nil
}

// NewOIDCVerifier discovers issuerURL (/.well-known/openid-configuration) and returns a
// verifier of its tokens for audience.
func NewOIDCVerifier(ctx context.Context, issuerURL, audience string, cfg OIDCConfig) (*OIDCVerifier, error) {
	if cfg.HTTPClient == nil {
		return nil, errors.New("oidc verifier: an HTTP client is required")
	}
	if audience == "" {
		return nil, fmt.Errorf("oidc verifier for %s: audience is required", issuerURL)
	}
	if cfg.ClientClaim == "" {
		cfg.ClientClaim = DefaultClientClaim
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = asymmetric
	}
	for _, a := range cfg.Algorithms {
		if strings.HasPrefix(string(a), "HS") || a == "none" {
			return nil, fmt.Errorf("oidc verifier for %s: algorithm %s not allowed", issuerURL, a)
		}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MinRefetch == 0 {
		cfg.MinRefetch = DefaultMinRefetch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	guard := &fetchGuard{max: cfg.MaxResponseBytes, minGap: cfg.MinRefetch, now: cfg.Now, base: cfg.HTTPClient.Transport}
	if guard.base == nil {
		guard.base = http.DefaultTransport
	}
	client := *cfg.HTTPClient
	client.Transport = guard
	cctx := oidc.ClientContext(ctx, &client)
	p, err := oidc.NewProvider(cctx, issuerURL)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery of %s: %w", issuerURL, err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
		return nil, fmt.Errorf("oidc discovery of %s: no jwks_uri", issuerURL)
	}
	guard.setJWKS(meta.JWKS)
	algs := make([]string, len(cfg.Algorithms))
	for i, a := range cfg.Algorithms {
		algs[i] = string(a)
	}
	// go-oidc checks the algorithm and the signature; the claims are checked here, so that
	// each refusal has its own reason (go-oidc's are strings).
	v := p.VerifierContext(cctx, &oidc.Config{SupportedSigningAlgs: algs, SkipClientIDCheck: true, SkipExpiryCheck: true, SkipIssuerCheck: true})
	return &OIDCVerifier{issuer: issuerURL, audience: audience, cfg: cfg, client: &client, v: v}, nil
}

// Verify checks a token of the issuer: algorithm, signature by a key of its JWKS, iss, aud,
// exp/nbf/iat, and that it names a client. A refusal is a *TokenError.
func (v *OIDCVerifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if _, err := peekHeader(raw, v.cfg.Algorithms); err != nil {
		return Identity{}, err
	}
	tok, err := v.v.Verify(oidc.ClientContext(ctx, v.client), raw)
	if err != nil {
		return Identity{}, &TokenError{Reason: ErrSignature, Detail: "not signed by a key of the issuer", Cause: err}
	}
	var cl jwt.Claims
	var extra map[string]json.RawMessage
	if tok.Claims(&cl) != nil || tok.Claims(&extra) != nil {
		return Identity{}, refuse(ErrClaims, "claims are not a JSON object of the expected types")
	}
	if err := checkClaims(cl, v.issuer, v.audience, v.cfg.Now(), v.cfg.Leeway); err != nil {
		return Identity{}, err
	}
	var client string
	if json.Unmarshal(extra[v.cfg.ClientClaim], &client) != nil || client == "" {
		return Identity{}, refuse(ErrClaims, "claim %s missing or not a string", v.cfg.ClientClaim)
	}
	return Identity{Issuer: cl.Issuer, Subject: cl.Subject, Client: client, Audience: cl.Audience, Expiry: cl.Expiry.Time()}, nil
}

// fetchGuard bounds what the issuer's answers cost: their size, and how often its JWKS is
// fetched again.
type fetchGuard struct {
	base   http.RoundTripper
	max    int64
	minGap time.Duration
	now    func() time.Time

	mu   sync.Mutex
	jwks string
	last time.Time
}

func (g *fetchGuard) setJWKS(u string) {
	g.mu.Lock()
	g.jwks = u
	g.mu.Unlock()
}

func (g *fetchGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	g.mu.Lock()
	if req.URL.String() == g.jwks {
		now := g.now()
		if !g.last.IsZero() && now.Sub(g.last) < g.minGap {
			g.mu.Unlock()
			return nil, fmt.Errorf("keys fetched less than %s ago", g.minGap)
		}
		g.last = now
	}
	g.mu.Unlock()
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{r: io.LimitReader(resp.Body, g.max+1), c: resp.Body, left: g.max}
	return resp, nil
}

// limitedBody fails a read past its bound rather than cutting the answer short silently.
type limitedBody struct {
	r    io.Reader
	c    io.Closer
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, errors.New("answer larger than the bound")
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.c.Close() }
