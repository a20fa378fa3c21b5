package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/oauth"
	"github.com/switchboardhq/switchboard/internal/oauth/oauthtest"
)

const ownIssuer = "http://switchboard.test"

// trustRegistry has, in solution demo, "shop" (trusting an outside issuer and a CA as well
// as Switchboard's tokens), "closed" (Switchboard's tokens refused, no other way in) and
// "down" (trusting an issuer that cannot be reached).
type trustRegistry struct {
	shop, down OIDCTrust
	cert       *oauth.CertIdentity
}

func (r trustRegistry) Application(sol, name string) (Application, bool) {
	app, ok := fakeRegistry{}.Application(sol, "shop")
	if !ok {
		return Application{}, false
	}
	app.ID, app.Name = "id-"+name, name
	switch name {
	case "shop":
		app.OIDC, app.Cert = &r.shop, r.cert
	case "closed":
		app.OwnTokensOff = true
	case "down":
		app.OIDC = &r.down
	default:
		return Application{}, false
	}
	return app, true
}

// ownToken is Switchboard's access token for application id of demo.
func ownToken(t *testing.T, auth *oauth.Authority, app string) string {
	t.Helper()
	creds, err := auth.Issue(context.Background(), "demo", app)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", oauth.TokenPath, strings.NewReader(url.Values{"grant_type": {"client_credentials"},
		"client_id": {creds.ClientID}, "client_secret": {creds.ClientSecret}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	auth.TokenHandler().ServeHTTP(w, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(w.Body.Bytes(), &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	return tok.AccessToken
}

// TestGatewayCredentials: each kind of credential publishes for the application that trusts
// it, and each bad one is refused with its status and reason, nothing stored.
func TestGatewayCredentials(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir(), Name: "gateway-creds"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	auth, err := oauth.Open(ctx, b, oauth.Config{Issuer: ownIssuer})
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()

	idp, otherIdp, gone := oauthtest.NewIssuer(t), oauthtest.NewIssuer(t), oauthtest.NewIssuer(t)
	gone.Close()
	ca, otherCA := oauthtest.NewCA(t, "shop CA"), oauthtest.NewCA(t, "other CA")
	reg := trustRegistry{
		shop: OIDCTrust{Issuer: idp.URL, Audience: "gateway", ClientClaim: "azp", Client: "orders-client"},
		down: OIDCTrust{Issuer: gone.URL, Audience: "gateway", ClientClaim: "azp", Client: "orders-client"},
		cert: &oauth.CertIdentity{Roots: ca.Pool(), CommonName: "shop"},
	}
	st := &fakeStore{}
	g := New(Options{Registry: reg, Auth: OwnTokens{Verify: auth.Verify}, Issuer: ownIssuer, Store: st,
		Outside: NewOIDCVerifiers(OIDCVerifiersOptions{HTTPClient: &http.Client{Timeout: 5 * time.Second}})})
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()

	now := time.Now()
	claims := func(iss *oauthtest.Issuer, mod func(map[string]any)) map[string]any {
		c := iss.Claims(now, "gateway", "orders-client")
		if mod != nil {
			mod(c)
		}
		return c
	}
	outside := func(mod func(map[string]any)) string { return idp.Token(t, claims(idp, mod)) }
	later := now.Add(time.Hour)
	goodCert := ca.Client(t, "shop", later)

	shopOwn, closedOwn := ownToken(t, auth, "id-shop"), ownToken(t, auth, "id-closed")
	stored := 0
	for _, tc := range []struct {
		name, app, solution, bearer string
		cert                        *tls.Certificate
		status                      int
		says                        string
	}{
		{name: "own token", app: "shop", bearer: shopOwn, status: 200},
		{name: "own token naming its solution", app: "shop", solution: "demo", bearer: shopOwn, status: 200},
		{name: "own token naming another solution", app: "shop", solution: "other", bearer: shopOwn, status: 403, says: "not \"other\""},
		{name: "own token, application refuses them", app: "closed", bearer: closedOwn, status: 403, says: "clientCredentials is false"},
		{name: "own token of another application", app: "closed", bearer: shopOwn, status: 403, says: "not for application"},
		{name: "own token tampered", app: "shop", bearer: shopOwn[:len(shopOwn)-4] + "AAAA", status: 401, says: "bad signature"},
		{name: "outside token", app: "shop", solution: "demo", bearer: outside(nil), status: 200},
		{name: "outside token with a client certificate too", app: "shop", solution: "demo", bearer: outside(nil), cert: &goodCert, status: 200},
		{name: "outside token without the solution", app: "shop", bearer: outside(nil), status: 400, says: SolutionHeader},
		{name: "outside token expired", app: "shop", solution: "demo", bearer: outside(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), status: 401, says: "token expired"},
		{name: "outside token for another audience", app: "shop", solution: "demo", bearer: outside(func(c map[string]any) { c["aud"] = "billing" }), status: 401, says: "wrong audience"},
		{name: "outside token forged", app: "shop", solution: "demo", bearer: oauthtest.Sign(t, oauthtest.NewKey(t), "one", claims(idp, nil)), status: 401, says: "bad signature"},
		{name: "outside token of an issuer the application does not trust", app: "shop", solution: "demo", bearer: otherIdp.Token(t, claims(otherIdp, nil)), status: 401, says: "wrong issuer"},
		{name: "outside token of another client", app: "shop", solution: "demo", bearer: outside(func(c map[string]any) { c["azp"] = "billing-client" }), status: 403, says: "not the one this application trusts"},
		{name: "outside token without the client claim", app: "shop", solution: "demo", bearer: outside(func(c map[string]any) { delete(c, "azp") }), status: 401, says: "claim azp"},
		{name: "outside token for an application of another solution", app: "shop", solution: "other", bearer: outside(nil), status: 401, says: "wrong issuer"},
		{name: "outside token for an unknown application", app: "nope", solution: "demo", bearer: outside(nil), status: 401, says: "wrong issuer"},
		{name: "outside issuer unreachable", app: "down", solution: "demo", bearer: gone.Token(t, claims(gone, nil)), status: 503, says: "could not be checked now"},
		{name: "client certificate", app: "shop", solution: "demo", cert: &goodCert, status: 200},
		{name: "client certificate without the solution", app: "shop", cert: &goodCert, status: 400, says: SolutionHeader},
		{name: "client certificate of another CA", app: "shop", solution: "demo", cert: ptr(otherCA.Client(t, "shop", later)), status: 401, says: "not issued by the application's CA"},
		{name: "client certificate expired", app: "shop", solution: "demo", cert: ptr(ca.Client(t, "shop", now.Add(-time.Hour))), status: 401, says: "expired"},
		{name: "client certificate of another name", app: "shop", solution: "demo", cert: ptr(ca.Client(t, "billing", later)), status: 403, says: "common name \"billing\""},
		{name: "client certificate, application takes none", app: "closed", solution: "demo", cert: &goodCert, status: 401, says: "not accepted"},
		{name: "no credentials", app: "shop", solution: "demo", status: 401, says: "client certificate is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := srv.Client().Transport.(*http.Transport).Clone()
			if tc.cert != nil {
				tr.TLSClientConfig.Certificates = []tls.Certificate{*tc.cert}
			}
			client := &http.Client{Transport: tr}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("POST", srv.URL+"/gateway/"+tc.app+"/v1/events", strings.NewReader(legacyBody("order.created", "v1", `{"orderId":"o-1"}`)))
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			if tc.solution != "" {
				req.Header.Set(SolutionHeader, tc.solution)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Message string }
			json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck
			if resp.StatusCode != tc.status || !strings.Contains(body.Message, tc.says) {
				t.Fatalf("%d %q, want %d saying %q", resp.StatusCode, body.Message, tc.status, tc.says)
			}
			if tc.status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer realm=") {
				t.Errorf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tc.status == 200 {
				stored++
			}
			if _, n := st.last(); n != stored {
				t.Errorf("%d events stored, want %d", n, stored)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// countingClient counts the requests of a verifier set (discovery and keys).
type countingClient struct {
	n atomic.Int32
}

func (c *countingClient) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestOIDCVerifiersBounded: however many issuers applications name, at most Max verifiers
// are kept, a new one takes the place of one only when that one was idle, discovery is made
// once per verifier, a failed one is not tried again before Retry, and a forgotten one is
// discovered again.
func TestOIDCVerifiersBounded(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{t: time.Now()}
	cc := &countingClient{}
	vs := NewOIDCVerifiers(OIDCVerifiersOptions{HTTPClient: &http.Client{Transport: cc, Timeout: 5 * time.Second},
		Max: 2, Idle: time.Minute, Retry: 10 * time.Second, Now: clk.Now})
	var issuers []*oauthtest.Issuer
	for range 4 {
		issuers = append(issuers, oauthtest.NewIssuer(t))
	}
	trust := func(i int) OIDCTrust { return OIDCTrust{Issuer: issuers[i].URL, Audience: "gateway", Client: "c"} }
	for range 3 { // asked again, made once
		for i := range 2 {
			if _, err := vs.Verifier(ctx, trust(i)); err != nil {
				t.Fatalf("issuer %d: %v", i, err)
			}
		}
	}
	if _, err := vs.Verifier(ctx, trust(2)); !errors.Is(err, ErrTooManyIssuers) {
		t.Fatalf("a third issuer while two are in use: %v", err)
	}
	discoveries := func() int {
		n := 0
		for _, f := range issuers {
			n += int(f.Discoveries.Load())
		}
		return n
	}
	if d, n := discoveries(), vs.Len(); d != 2 || n != 2 {
		t.Fatalf("%d discoveries, %d verifiers; want 2 and 2", d, n)
	}
	clk.Add(30 * time.Second)
	if _, err := vs.Verifier(ctx, trust(0)); err != nil { // 0 in use again; 1 idle since
		t.Fatal(err)
	}
	clk.Add(40 * time.Second)
	if _, err := vs.Verifier(ctx, trust(2)); err != nil {
		t.Fatalf("a third issuer once one was idle: %v", err)
	}
	if issuers[1].Discoveries.Load() != 1 || issuers[2].Discoveries.Load() != 1 || vs.Len() != 2 {
		t.Fatalf("after making room: %d verifiers", vs.Len())
	}
	if _, err := vs.Verifier(ctx, trust(0)); err != nil || issuers[0].Discoveries.Load() != 1 {
		t.Fatalf("the verifier in use was dropped: %v, %d discoveries", err, issuers[0].Discoveries.Load())
	}

	// A failed discovery is remembered for Retry, then tried again.
	issuers[3].Close()
	vs.Forget(trust(2))
	before := cc.n.Load()
	for range 5 {
		if _, err := vs.Verifier(ctx, trust(3)); err == nil || errors.Is(err, ErrTooManyIssuers) {
			t.Fatalf("an unreachable issuer: %v", err)
		}
	}
	if got := cc.n.Load() - before; got != 1 {
		t.Fatalf("%d requests to an unreachable issuer within Retry, want 1", got)
	}
	clk.Add(11 * time.Second)
	vs.Verifier(ctx, trust(3)) //nolint:errcheck // fails again
	if got := cc.n.Load() - before; got != 2 {
		t.Fatalf("%d requests after Retry, want 2", got)
	}

	// Forgotten (its application's settings changed): discovered again.
	vs.Forget(trust(0))
	if _, err := vs.Verifier(ctx, trust(0)); err != nil || issuers[0].Discoveries.Load() != 2 {
		t.Fatalf("after Forget: %v, %d discoveries", err, issuers[0].Discoveries.Load())
	}
}
