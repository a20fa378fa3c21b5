package hub_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
	"github.com/switchboardhq/switchboard/internal/oauth/oauthtest"
)

// tlsFiles writes a server certificate for 127.0.0.1 and its key, and returns their paths.
func tlsFiles(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := oauthtest.NewCA(t, "hub CA").Server(t)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

const setGatewayAuth = `mutation($id: ID!, $in: GatewayAuthInput!) { setApplicationGatewayAuth(id: $id, in: $in) { id gatewayAuth { clientCredentials oidc { issuer clientClaim } mtls { commonName } } } }`

// TestGatewayOutsideCredentials: on a hub serving HTTPS, an application registered over
// GraphQL, trusting an outside OpenID Connect issuer and its own CA by the GraphQL mutation,
// publishes with a token of that issuer and with a client certificate of that CA, as well as
// with Switchboard's own token; each event reaches the handler. Each refusal has its status
// and says why, and nothing of them is stored. However many issuers applications name, the
// hub keeps and discovers at most --gateway-max-issuers of them.
func TestGatewayOutsideCredentials(t *testing.T) {
	certFile, keyFile := tlsFiles(t)
	s := hubtest.Start(t, func(c *hub.Config) { c.TLSCert, c.TLSKey, c.GatewayMaxIssuers = certFile, keyFile, 2 })
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("the hub serves %s", s.URL)
	}
	tok := s.CreateSolution(t, "shop")
	s.CreateSolution(t, "other")
	h := map[string]any{"name": "orders", "topics": []string{"commerce.order.>"},
		"script": `Keystore.set({key = event.id, value = event.topic .. "|" .. tostring(event.data.orderId)})`}
	if r := s.Do(t, "POST", "/api/v1/solutions/shop/handlers", s.AdminToken, h); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	clientID, secret, tokenURL := gatewayCredentials(t, s, tok, "commerce")
	if !strings.HasPrefix(tokenURL, "https://") {
		t.Errorf("token URL %s: want https with --tls-cert", tokenURL)
	}
	own := accessToken(t, s, clientID, secret, tokenURL)
	appID := func(name string) string {
		var page struct{ Data []struct{ ID, Name string } }
		graphql(t, s, tok, "", `{ applications { data { id name } } }`, nil).into(t, "applications", &page)
		for _, a := range page.Data {
			if a.Name == name {
				return a.ID
			}
		}
		t.Fatalf("no application %s", name)
		return ""
	}

	idp, appCA, otherCA := oauthtest.NewIssuer(t), oauthtest.NewCA(t, "commerce CA"), oauthtest.NewCA(t, "other CA")
	var set struct {
		GatewayAuth struct {
			ClientCredentials bool
			OIDC              struct{ Issuer, ClientClaim string }
			MTLS              struct{ CommonName string }
		} `json:"gatewayAuth"`
	}
	trust := map[string]any{
		"oidc": map[string]any{"issuer": idp.URL, "audience": "switchboard-gateway", "client": "commerce-client"},
		"mtls": map[string]any{"caPEM": appCA.PEM(), "commonName": "commerce"},
	}
	graphql(t, s, tok, "", setGatewayAuth, map[string]any{"id": appID("commerce"), "in": trust}).into(t, "setApplicationGatewayAuth", &set)
	if g := set.GatewayAuth; !g.ClientCredentials || g.OIDC.Issuer != idp.URL || g.OIDC.ClientClaim != "azp" || g.MTLS.CommonName != "commerce" {
		t.Fatalf("set: %+v", g)
	}
	if a := graphql(t, s, tok, "", setGatewayAuth, map[string]any{"id": appID("commerce"), "in": map[string]any{
		"mtls": map[string]any{"caPEM": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "commonName": "commerce"}}}); a.code() != "BAD_USER_INPUT" || a.Errors[0].Extensions["field"] != "in.mtls.caPEM" {
		t.Fatalf("a bad CA: %+v", a.Errors)
	}

	now := time.Now()
	jwt := func(mod func(map[string]any)) string {
		c := idp.Claims(now, "switchboard-gateway", "commerce-client")
		if mod != nil {
			mod(c)
		}
		return idp.Token(t, c)
	}
	goodCert := appCA.Client(t, "commerce", now.Add(time.Hour))
	publish := func(t *testing.T, app, bearer, solution string, cert *tls.Certificate, id string) hubtest.Response {
		t.Helper()
		tr := s.Client.Transport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		body := `{"event-type":"order.created","event-type-version":"v1","event-id":"` + id + `","event-time":"2026-11-30T08:00:00Z","data":{"orderId":"` + id + `"}}`
		req, _ := http.NewRequest("POST", s.URL+"/gateway/"+app+"/v1/events", strings.NewReader(body))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if solution != "" {
			req.Header.Set("X-Switchboard-Solution", solution)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return hubtest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	ran := func(t *testing.T, id string) bool {
		t.Helper()
		return s.Do(t, "GET", "/api/v1/solutions/shop/keystore/keys/"+id, s.AdminToken, nil).Status == http.StatusOK
	}

	for _, tc := range []struct{ name, bearer, solution string }{
		{"outside token", jwt(nil), "shop"},
		{"own token", own, ""},
		{"client certificate", "", "shop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			var cert *tls.Certificate
			if tc.bearer == "" {
				cert = &goodCert
			}
			if r := publish(t, "commerce", tc.bearer, tc.solution, cert, id); r.Status != http.StatusOK {
				t.Fatalf("publish: %d %s", r.Status, r.Body)
			}
			hubtest.Eventually(t, "the handler to run for "+id, func() bool { return ran(t, id) })
		})
	}

	for _, tc := range []struct {
		name, app, bearer, solution string
		cert                        *tls.Certificate
		status                      int
		says, challenge             string
	}{
		{name: "outside token without the solution", app: "commerce", bearer: jwt(nil), status: 400, says: "X-Switchboard-Solution: required"},
		{name: "outside token for another audience", app: "commerce", bearer: jwt(func(c map[string]any) { c["aud"] = "billing" }), solution: "shop", status: 401, says: "wrong audience", challenge: "wrong audience"},
		{name: "outside token expired", app: "commerce", bearer: jwt(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), solution: "shop", status: 401, says: "token expired", challenge: "token expired"},
		{name: "outside token of another client", app: "commerce", bearer: jwt(func(c map[string]any) { c["azp"] = "billing-client" }), solution: "shop", status: 403, says: "not the one this application trusts"},
		{name: "outside token forged", app: "commerce", bearer: oauthtest.Sign(t, oauthtest.NewKey(t), "one", idp.Claims(now, "switchboard-gateway", "commerce-client")), solution: "shop", status: 401, says: "bad signature"},
		{name: "outside token for another solution", app: "commerce", bearer: jwt(nil), solution: "other", status: 401, says: "wrong issuer"},
		{name: "own token naming another solution", app: "commerce", bearer: own, solution: "other", status: 403, says: `not "other"`},
		{name: "client certificate of another CA", app: "commerce", solution: "shop", cert: ptr(otherCA.Client(t, "commerce", now.Add(time.Hour))), status: 401, says: "not issued by the application's CA"},
		{name: "client certificate of another name", app: "commerce", solution: "shop", cert: ptr(appCA.Client(t, "billing", now.Add(time.Hour))), status: 403, says: "not the application's"},
		{name: "client certificate expired", app: "commerce", solution: "shop", cert: ptr(appCA.Client(t, "commerce", now.Add(-time.Hour))), status: 401, says: "expired"},
		{name: "no credentials", app: "commerce", solution: "shop", status: 401, says: "client certificate is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			r := publish(t, tc.app, tc.bearer, tc.solution, tc.cert, id)
			msg, _ := r.Map(t)["message"].(string)
			if r.Status != tc.status || !strings.Contains(msg, tc.says) {
				t.Fatalf("%d %s, want %d saying %q", r.Status, r.Body, tc.status, tc.says)
			}
			if ch := r.Header.Get("WWW-Authenticate"); r.Status == 401 && (!strings.HasPrefix(ch, "Bearer realm=") || !strings.Contains(ch, tc.challenge)) {
				t.Errorf("challenge %q, want one saying %q", ch, tc.challenge)
			}
			if ran(t, id) {
				t.Error("a refused event reached the handler")
			}
		})
	}

	t.Run("client credentials turned off", func(t *testing.T) {
		off := map[string]any{"clientCredentials": false, "oidc": trust["oidc"], "mtls": trust["mtls"]}
		graphql(t, s, tok, "", setGatewayAuth, map[string]any{"id": appID("commerce"), "in": off}).into(t, "setApplicationGatewayAuth", &set)
		if r := publish(t, "commerce", own, "", nil, "own-off"); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "clientCredentials is false") {
			t.Fatalf("own token once turned off: %d %s", r.Status, r.Body)
		}
		if r := publish(t, "commerce", jwt(nil), "shop", nil, "jwt-still"); r.Status != http.StatusOK {
			t.Fatalf("outside token after the change: %d %s", r.Status, r.Body)
		}
	})

	// Two issuers fill the bound: commerce's, and one that cannot be reached (503, the
	// credentials could not be checked). A third application's issuer is then not even
	// discovered.
	t.Run("issuers bounded", func(t *testing.T) {
		gone, third := oauthtest.NewIssuer(t), oauthtest.NewIssuer(t)
		gone.Close()
		for name, iss := range map[string]*oauthtest.Issuer{"gone": gone, "third": third} {
			graphql(t, s, tok, "", `mutation($in: ApplicationInput!) { registerApplication(in: $in) { id } }`, map[string]any{"in": map[string]any{"name": name}}).into(t, "registerApplication", &struct{}{})
			graphql(t, s, tok, "", setGatewayAuth, map[string]any{"id": appID(name), "in": map[string]any{
				"oidc": map[string]any{"issuer": iss.URL, "audience": "switchboard-gateway", "client": "c"}}}).into(t, "setApplicationGatewayAuth", &set)
		}
		token := func(iss *oauthtest.Issuer) string {
			return iss.Token(t, iss.Claims(time.Now(), "switchboard-gateway", "c"))
		}
		for _, app := range []struct {
			name string
			iss  *oauthtest.Issuer
		}{{"gone", gone}, {"third", third}, {"third", third}} {
			r := publish(t, app.name, token(app.iss), "shop", nil, "bounded-"+app.name)
			if msg, _ := r.Map(t)["message"].(string); r.Status != http.StatusServiceUnavailable || !strings.Contains(msg, "could not be checked now") || r.Header.Get("Retry-After") == "" {
				t.Fatalf("%s: %d %s %q, want 503 with Retry-After", app.name, r.Status, r.Body, r.Header.Get("Retry-After"))
			}
		}
		if n := third.Discoveries.Load(); n != 0 {
			t.Fatalf("the issuer beyond the bound was discovered %d times", n)
		}
		if n := idp.Discoveries.Load(); n != 1 {
			t.Errorf("commerce's issuer discovered %d times, want once", n)
		}
		// The one in use still works.
		if r := publish(t, "commerce", jwt(nil), "shop", nil, "still-1"); r.Status != http.StatusOK {
			t.Fatalf("commerce after the bound was reached: %d %s", r.Status, r.Body)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestServeTLSConfig: a certificate without its key, or files that are not a certificate
// and key, stop the hub from starting with an error naming the flags.
func TestServeTLSConfig(t *testing.T) {
	certFile, keyFile := tlsFiles(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := hub.New(hub.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), TLSCert: certFile}, log); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("a certificate without a key: %v", err)
	}
	for name, files := range map[string][2]string{"missing": {certFile + ".none", keyFile}, "swapped": {keyFile, certFile}} {
		h, err := hub.New(hub.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), TLSCert: files[0], TLSKey: files[1]}, log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = h.Start(ctx)
		cancel()
		if err == nil {
			h.Close(context.Background()) //nolint:errcheck
			t.Fatalf("%s: the hub started", name)
		}
		if !strings.Contains(err.Error(), "--tls-cert") {
			t.Errorf("%s: %v, want an error naming --tls-cert", name, err)
		}
	}
}
