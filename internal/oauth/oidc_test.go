package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fakeIssuer is an OpenID Connect issuer: discovery, a JWKS it can rotate, and tokens.
type fakeIssuer struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	keys  map[string]*ecdsa.PrivateKey
	fetch atomic.Int32 // JWKS requests
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	f := &fakeIssuer{t: t, keys: map[string]*ecdsa.PrivateKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck
			"issuer": f.srv.URL, "jwks_uri": f.srv.URL + "/keys",
			"authorization_endpoint": f.srv.URL + "/auth", "token_endpoint": f.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		f.fetch.Add(1)
		f.mu.Lock()
		set := jose.JSONWebKeySet{}
		for kid, k := range f.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
		}
		f.mu.Unlock()
		json.NewEncoder(w).Encode(set) //nolint:errcheck
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.addKey("one")
	return f
}

func (f *fakeIssuer) addKey(kid string) *ecdsa.PrivateKey {
	k := mustKey(f.t, elliptic.P256())
	f.mu.Lock()
	f.keys[kid] = k
	f.mu.Unlock()
	return k
}

func (f *fakeIssuer) key(kid string) *ecdsa.PrivateKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys[kid]
}

type outsideClaims struct {
	jwt.Claims
	Azp string `json:"azp,omitempty"`
}

func (f *fakeIssuer) claims(now time.Time, mod func(*outsideClaims)) outsideClaims {
	c := outsideClaims{
		Claims: jwt.Claims{Issuer: f.srv.URL, Subject: "svc-1", Audience: jwt.Audience{"gateway"},
			Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), IssuedAt: jwt.NewNumericDate(now)},
		Azp: "orders-client",
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

// countingTransport is the hub's guarded client, standing in: it sees every request.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func newOIDC(t *testing.T, f *fakeIssuer, clk *clock) (*OIDCVerifier, *countingTransport) {
	t.Helper()
	tr := &countingTransport{}
	v, err := NewOIDCVerifier(context.Background(), f.srv.URL, "gateway", OIDCConfig{HTTPClient: &http.Client{Transport: tr, Timeout: 5 * time.Second}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v, tr
}

func TestOIDCVerify(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	f := newFakeIssuer(t)
	v, tr := newOIDC(t, f, clk)
	now := clk.Now()
	one := f.key("one")
	other := mustKey(t, elliptic.P256())
	for _, tc := range []struct {
		name  string
		tok   string
		extra time.Duration
		want  error
	}{
		{"valid", forge(t, jose.ES256, one, "one", f.claims(now, nil)), 0, nil},
		{"expired", forge(t, jose.ES256, one, "one", f.claims(now, nil)), 6 * time.Minute, ErrExpired},
		{"wrong audience", forge(t, jose.ES256, one, "one", f.claims(now, func(c *outsideClaims) { c.Audience = jwt.Audience{"switchboard-gateway"} })), 0, ErrAudience},
		{"wrong issuer", forge(t, jose.ES256, one, "one", f.claims(now, func(c *outsideClaims) { c.Issuer = "https://idp.example.com" })), 0, ErrIssuer},
		{"no exp", forge(t, jose.ES256, one, "one", f.claims(now, func(c *outsideClaims) { c.Expiry = nil })), 0, ErrClaims},
		{"no client claim", forge(t, jose.ES256, one, "one", f.claims(now, func(c *outsideClaims) { c.Azp = "" })), 0, ErrClaims},
		{"wrong signature, same kid", forge(t, jose.ES256, other, "one", f.claims(now, nil)), 0, ErrSignature},
		{"alg none", unsigned(t, "one", f.claims(now, nil)), 0, ErrAlgorithm},
		{"HS256", forge(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), "one", f.claims(now, nil)), 0, ErrAlgorithm},
		{"malformed", "a.b", 0, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.Add(tc.extra)
			defer clk.Add(-tc.extra)
			id, err := v.Verify(ctx, tc.tok)
			wantReason(t, err, tc.want)
			if tc.want == nil && (id.Client != "orders-client" || id.Subject != "svc-1" || id.Issuer != f.srv.URL) {
				t.Fatalf("identity %+v", id)
			}
		})
	}
	if tr.n.Load() < 2 {
		t.Fatalf("%d requests through the given client, want discovery and keys", tr.n.Load())
	}
}

func TestOIDCIdentityFor(t *testing.T) {
	id := Identity{Client: "orders-client"}
	for _, tc := range []struct {
		name, client string
		want         error
	}{
		{"same client", "orders-client", nil},
		{"other client", "billing-client", ErrNotClient},
		{"none declared", "", ErrNotClient},
	} {
		t.Run(tc.name, func(t *testing.T) { wantReason(t, id.For(tc.client), tc.want) })
	}
}

func TestOIDCClientClaim(t *testing.T) {
	clk := newClock()
	f := newFakeIssuer(t)
	v, err := NewOIDCVerifier(context.Background(), f.srv.URL, "gateway", OIDCConfig{HTTPClient: http.DefaultClient, ClientClaim: "sub", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), forge(t, jose.ES256, f.key("one"), "one", f.claims(clk.Now(), nil)))
	if err != nil || id.Client != "svc-1" {
		t.Fatalf("client from sub: %+v %v", id, err)
	}
}

func TestOIDCIssuerRotatesKeys(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	f := newFakeIssuer(t)
	v, _ := newOIDC(t, f, clk)
	if _, err := v.Verify(ctx, forge(t, jose.ES256, f.key("one"), "one", f.claims(clk.Now(), nil))); err != nil {
		t.Fatal(err)
	}
	fetched := f.fetch.Load()

	// A new key right after a fetch is not fetched for: made-up kids must not make the
	// verifier hammer the issuer.
	two := f.addKey("two")
	_, err := v.Verify(ctx, forge(t, jose.ES256, two, "two", f.claims(clk.Now(), nil)))
	wantReason(t, err, ErrSignature)
	if got := f.fetch.Load(); got != fetched {
		t.Fatalf("JWKS fetched %d times more within MinRefetch", got-fetched)
	}

	clk.Add(DefaultMinRefetch)
	// go-oidc releases the callers of a fetch before it forgets that fetch: a Verify right
	// after the refused one may still be handed its failure. The next one fetches anew (the
	// refused fetch did not count against the gap), and only once.
	tok := forge(t, jose.ES256, two, "two", f.claims(clk.Now(), nil))
	eventually(t, "a token of the issuer's new key to verify", func() bool {
		_, err := v.Verify(ctx, tok)
		return err == nil
	})
	if got := f.fetch.Load(); got != fetched+1 {
		t.Fatalf("JWKS fetched %d times more, want once", got-fetched)
	}
	// The keys fetched are kept just after the fetch's callers are released (go-oidc), so
	// the old key's token may take a moment to find them.
	old := forge(t, jose.ES256, f.key("one"), "one", f.claims(clk.Now(), nil))
	eventually(t, "a token of the old key, still published, to verify", func() bool {
		_, err := v.Verify(ctx, old)
		return err == nil
	})
}

func TestNewOIDCVerifierRefuses(t *testing.T) {
	f := newFakeIssuer(t)
	for _, tc := range []struct {
		name, issuer, aud, want string
		cfg                     OIDCConfig
	}{
		{"no client", f.srv.URL, "gateway", "HTTP client is required", OIDCConfig{}},
		{"no audience", f.srv.URL, "", "audience is required", OIDCConfig{HTTPClient: http.DefaultClient}},
		{"HS256", f.srv.URL, "gateway", "HS256 not allowed", OIDCConfig{HTTPClient: http.DefaultClient, Algorithms: []jose.SignatureAlgorithm{jose.HS256}}},
		{"issuer mismatch", f.srv.URL + "/", "gateway", "discovery", OIDCConfig{HTTPClient: http.DefaultClient}},
		{"discovery too large", f.srv.URL, "gateway", "larger than the bound", OIDCConfig{HTTPClient: http.DefaultClient, MaxResponseBytes: 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewOIDCVerifier(context.Background(), tc.issuer, tc.aud, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
