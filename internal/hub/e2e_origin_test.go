package hub_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestSharedOrigin: on the shared origin (/apps/{solution}/…) every answer is sandboxed and
// cookies stay inside their solution; on a solution's own host neither is needed, but a cookie
// still cannot reach the other solutions' hosts.
func TestSharedOrigin(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, func(c *hub.Config) { c.AppsDomain = "apps.example.test" })
	createSolution(t, s, "aaa", nil)
	createSolution(t, s, "bbb", nil)
	s.Deploy(t, "bbb", "GET", "/secret", `return "bbb's secret"`)
	s.Deploy(t, "aaa", "GET", "/page", `
		response.headers["content-type"] = "text/html"
		response.headers["set-cookie"] = request.parameters.cookie
		return "<script>fetch('/apps/bbb/secret').then(r => r.text()).then(alert)</script>"`)
	s.Deploy(t, "aaa", "GET", "/csp", `
		response.headers["Content-Security-Policy"] = "default-src *"
		response.headers["X-Content-Type-Options"] = "sniff"
		return "x"`)

	get := func(t *testing.T, host, path string) hubtest.Response {
		t.Helper()
		req, err := http.NewRequest("GET", s.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		return s.Send(t, req)
	}
	const sandbox = "sandbox allow-scripts allow-forms allow-popups allow-downloads"
	for _, tc := range []struct {
		name, host, path string
		status           int
		sandboxed        bool
	}{
		{"script answer", "", "/apps/aaa/page", 200, true},
		{"no such endpoint", "", "/apps/aaa/nope", 404, true},
		{"no such solution", "", "/apps/zzz/page", 404, true},
		{"swagger.json", "", "/apps/aaa/swagger.json", 200, true},
		{"own host", "aaa.apps.example.test", "/page", 200, false},
		{"own host, no such endpoint", "aaa.apps.example.test", "/nope", 404, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, tc.host, tc.path)
			if r.Status != tc.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tc.status)
			}
			csp, nosniff := r.Header.Get("Content-Security-Policy"), r.Header.Get("X-Content-Type-Options")
			if tc.sandboxed && (csp != sandbox || nosniff != "nosniff") {
				t.Errorf("CSP %q, X-Content-Type-Options %q; want %q and nosniff", csp, nosniff, sandbox)
			}
			if !tc.sandboxed && (csp != "" || nosniff != "") {
				t.Errorf("on the solution's own host: CSP %q, X-Content-Type-Options %q; want neither", csp, nosniff)
			}
		})
	}
	t.Run("a script's own headers do not lift the sandbox", func(t *testing.T) {
		r := get(t, "", "/apps/aaa/csp")
		if got := r.Header.Values("Content-Security-Policy"); len(got) != 2 || got[1] != sandbox {
			t.Errorf("CSP %q, want the script's and the sandbox", got)
		}
		if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("X-Content-Type-Options %q", got)
		}
	})

	for _, tc := range []struct {
		name, host, cookie, want string // want "" = dropped
	}{
		{"another solution's path", "", "session=evil; Path=/apps/bbb", ""},
		{"inside the solution", "", "session=ok; Path=/apps/aaa/x", "session=ok; Path=/apps/aaa/x"},
		{"no path", "", "session=ok", "session=ok; Path=/apps/aaa"},
		{"a domain", "", "session=evil; Path=/apps/aaa; Domain=127.0.0.1", ""},
		{"own host, its own domain", "aaa.apps.example.test", "session=ok; Domain=aaa.apps.example.test", "session=ok; Domain=aaa.apps.example.test"},
		{"own host, the apps domain", "aaa.apps.example.test", "session=evil; Domain=apps.example.test", ""},
	} {
		t.Run("cookie "+tc.name, func(t *testing.T) {
			path := "/apps/aaa/page"
			if tc.host != "" {
				path = "/page"
			}
			before := len(s.Logs.String())
			r := get(t, tc.host, path+"?cookie="+url.QueryEscape(tc.cookie))
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			got := r.Header.Values("Set-Cookie")
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("Set-Cookie %q sent, want it dropped", got)
				}
				logged := s.Logs.String()[before:]
				if !strings.Contains(logged, `Set-Cookie \"session\" dropped`) || !strings.Contains(logged, `"solution":"aaa"`) ||
					!strings.Contains(logged, `"request_id":"`) || strings.Contains(logged, "evil") {
					t.Errorf("the drop is not logged as it should be (with solution and request id, without the value):\n%s", logged)
				}
				return
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("Set-Cookie %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("the docs page keeps its Try button", func(t *testing.T) {
		r := get(t, "", "/apps/aaa/docs")
		csp := r.Header.Get("Content-Security-Policy")
		if r.Status != 200 || strings.Contains(csp, "sandbox") || !strings.Contains(csp, "connect-src 'self'") {
			t.Fatalf("docs page: %d, CSP %q: want it unsandboxed, fetching its own origin", r.Status, csp)
		}
		// Its one script runs by nonce; nothing the solution controls can add another.
		nonce := strings.TrimSuffix(strings.SplitN(strings.SplitN(csp, "'nonce-", 2)[1], "'", 2)[0], "'")
		if strings.Count(string(r.Body), "<script") != 1 || !strings.Contains(string(r.Body), `<script nonce="`+nonce+`">`) {
			t.Errorf("the page's script does not carry the nonce %q", nonce)
		}
	})
}
