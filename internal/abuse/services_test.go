package abuse

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeService is a service's host whose health path answers 200; hits counts every request.
func fakeService(t *testing.T, hits *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/health" {
			w.Write([]byte(`{"status":"ok"}`)) //nolint:errcheck // test peer
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"from":"` + r.Host + `"}`)) //nolint:errcheck // test peer
	}))
	t.Cleanup(srv.Close)
	return srv
}

func swaggerAt(host string) string {
	return fmt.Sprintf(`swagger: "2.0"
info: {title: t, version: "1"}
host: %s
schemes: [http]
x-exosite-health-path: /health
paths:
  /op:
    post:
      operationId: op
      responses: {"200": {description: ok}}
`, host)
}

// TestServiceTakeover: with only the registration token, nobody can re-register a name that
// is taken, move it to their host or learn its token.
func TestServiceTakeover(t *testing.T) {
	s := start(t)
	var ownerHits, thiefHits atomic.Int64
	owner := strings.TrimPrefix(fakeService(t, &ownerHits).URL, "http://")
	thief := strings.TrimPrefix(fakeService(t, &thiefHits).URL, "http://")

	r := s.do(t, "POST", "/api/v1/register/", s.RegToken, map[string]any{"name": "victimsvc", "swagger": swaggerAt(owner)})
	if r.Status != http.StatusCreated {
		t.Fatalf("first registration: %s", r)
	}
	var first struct{ Token string }
	json.Unmarshal(r.Body, &first) //nolint:errcheck // checked below
	if first.Token == "" {
		t.Fatalf("first registration returned no token: %s", r)
	}

	r = s.do(t, "POST", "/api/v1/register/", s.RegToken, map[string]any{"name": "victimsvc", "swagger": swaggerAt(thief)})
	t.Logf("re-registration with only the registration token: %s", r)
	if r.Status < 400 || r.Status >= 500 {
		t.Errorf("re-registration with only the registration token: %s, want a 4xx refusal", r)
	}
	if strings.Contains(string(r.Body), first.Token) || strings.Contains(string(r.Body), owner) {
		t.Errorf("the refusal reveals the service's token or host: %s", r)
	}
	if thiefHits.Load() != 0 {
		t.Errorf("the hub called the second registrant's host %d times", thiefHits.Load())
	}
	r = s.do(t, "GET", "/api/v1/services/victimsvc", adminToken, nil)
	var view struct {
		BaseURL string `json:"base_url"`
	}
	json.Unmarshal(r.Body, &view) //nolint:errcheck // checked below
	if !strings.Contains(view.BaseURL, owner) {
		t.Errorf("after the refused update the service lives at %q, want %s", view.BaseURL, owner)
	}
	s.alive(t)
}

// TestServiceNetworkGuard: the hub never calls its own listeners or link-local addresses as a
// service, and its errors do not echo what a non-HTTP peer sent.
func TestServiceNetworkGuard(t *testing.T) {
	s := start(t)
	banner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { banner.Close() })
	const secret = "INFO {\"server_id\":\"NSECRETSECRETSECRET\",\"version\":\"2.10\"}\r\n"
	go func() {
		for {
			c, err := banner.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(secret)) //nolint:errcheck // a banner
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1024)
			c.Read(buf) //nolint:errcheck // whatever the hub says
			c.Close()
		}
	}()
	_, hubPort, _ := net.SplitHostPort(s.Addr)
	cases := []struct {
		name string
		reg  map[string]any
	}{
		{"the hub's own API", map[string]any{"name": "selfapi", "swagger": swaggerAt(s.Addr)}},
		{"the hub's own API as localhost", map[string]any{"name": "selfapi2", "swagger": swaggerAt("localhost:" + hubPort)}},
		{"the hub's own metrics by swagger_url", map[string]any{"name": "selfurl", "swagger_url": s.URL + "/metrics"}},
		{"a metadata address", map[string]any{"name": "metadata", "swagger": swaggerAt("169.254.169.254:80")}},
		{"a metadata address by swagger_url", map[string]any{"name": "metadataurl", "swagger_url": "http://169.254.169.254/latest/meta-data/"}},
		{"a link-local v6 address", map[string]any{"name": "linklocal", "swagger": swaggerAt("[fe80::1]:80")}},
		{"a banner server", map[string]any{"name": "banner", "swagger": swaggerAt(banner.Addr().String())}},
		{"a banner server by swagger_url", map[string]any{"name": "bannerurl", "swagger_url": "http://" + banner.Addr().String() + "/doc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, "POST", "/api/v1/register/", s.RegToken, tc.reg)
			t.Logf("%s", r)
			if r.Status != http.StatusUnprocessableEntity {
				t.Errorf("got %s, want 422", r)
			}
			for _, leak := range []string{"NSECRET", "INFO", "server_id", "# HELP", "switchboard_"} {
				if strings.Contains(string(r.Body), leak) {
					t.Errorf("the refusal echoes %q from the other side: %s", leak, r)
				}
			}
		})
	}
	// Nothing was registered, so no script can reach those addresses through the hub.
	r := s.do(t, "GET", "/api/v1/services", adminToken, nil)
	for _, tc := range cases {
		if strings.Contains(string(r.Body), `"name":"`+tc.reg["name"].(string)+`"`) {
			t.Errorf("%s was registered: %s", tc.reg["name"], r)
		}
	}
	s.alive(t)
}
