package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	h := New()
	tests := []struct {
		name, method, path string
		status             int
		ctype, contains    string
	}{
		{"the app's page", "GET", "/console/", 200, "text/html", `src="/console/app.js"`},
		{"a client-side route serves the app", "GET", "/console/solutions/demo", 200, "text/html", `src="/console/app.js"`},
		{"a module", "GET", "/console/app.js", 200, "text/javascript", "render("},
		{"a page module", "GET", "/console/pages/index.js", 200, "text/javascript", "import"},
		{"the stylesheet", "GET", "/console/style.css", 200, "text/css", "--fg"},
		{"a vendored library", "GET", "/console/vendor/preact.js", 200, "text/javascript", "preact"},
		{"its licence", "GET", "/console/vendor/LICENSES/preact.txt", 200, "text/plain", "MIT"},
		{"a missing module is a 404, not the page", "GET", "/console/pages/nope.js", 404, "", ""},
		{"climbing out reaches no file outside", "GET", "/console/../../go.mod", 200, "text/html", `src="/console/app.js"`},
		{"climbing out to a file of the app", "GET", "/console/x/../app.js", 200, "text/javascript", "render("},
		{"HEAD", "HEAD", "/console/", 200, "text/html", ""},
		{"POST is refused", "POST", "/console/", 405, "", ""},
		{"the bare path redirects", "GET", "/console", 301, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			csp := CSP
			if strings.HasPrefix(tc.ctype, "text/html") {
				csp = pageCSP(nonceOf(t, rec.Body.String()))
			}
			for k, want := range map[string]string{
				"Content-Security-Policy":    csp,
				"X-Content-Type-Options":     "nosniff",
				"Referrer-Policy":            "no-referrer",
				"Cross-Origin-Opener-Policy": "same-origin",
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.ctype) {
				t.Errorf("Content-Type %q, want %s", rec.Header().Get("Content-Type"), tc.ctype)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body does not contain %q", tc.contains)
			}
		})
	}
}

// nonceOf is the style nonce a page carries.
func nonceOf(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `<meta name="style-nonce" content="`)
	nonce, _, ok2 := strings.Cut(rest, `"`)
	if page != "" && (!ok || !ok2 || len(nonce) < 20) {
		t.Fatalf("no nonce in the page")
	}
	return nonce
}

func TestPageNonce(t *testing.T) {
	h := New()
	seen := map[string]bool{}
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/", nil))
		nonce := nonceOf(t, rec.Body.String())
		if seen[nonce] {
			t.Fatalf("nonce %q given twice", nonce)
		}
		seen[nonce] = true
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "style-src 'self' 'nonce-"+nonce+"';") || !strings.Contains(csp, "script-src 'self';") || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("CSP %q, Cache-Control %q", csp, rec.Header().Get("Cache-Control"))
		}
	}
}

func TestRevalidate(t *testing.T) {
	h := New()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/app.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, rec.Header().Get("Cache-Control"))
	}
	req := httptest.NewRequest("GET", "/console/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("status %d, want 304", rec.Code)
	}
}

// TestNoInlineCode keeps the markup free of what the CSP would block: inline scripts, inline
// style attributes and elements, and HTML written from script.
func TestNoInlineCode(t *testing.T) {
	h := New()
	for name, a := range h.files {
		if strings.HasPrefix(name, "vendor/") || strings.HasSuffix(name, ".md") {
			continue
		}
		body := string(a.body)
		for _, bad := range []string{"innerHTML", "outerHTML", "dangerouslySetInnerHTML", "insertAdjacentHTML", "document.write", " style=", "<style", "eval(", "new Function"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		if strings.HasSuffix(name, ".html") && strings.Contains(body, "<script>") {
			t.Errorf("%s has an inline script", name)
		}
	}
}
