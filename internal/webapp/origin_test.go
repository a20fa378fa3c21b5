package webapp

import (
	"net/http"
	"strings"
	"testing"
)

func TestOriginCookie(t *testing.T) {
	shared := origin{sol: "a", base: "/apps/a", host: "a.apps.example.com"}
	own := origin{sol: "a", host: "a.apps.example.com"}
	tests := []struct {
		name string
		org  origin
		in   string
		want string // "" = dropped
	}{
		{"inside the solution", shared, "s=1; Path=/apps/a/x; HttpOnly", "s=1; Path=/apps/a/x; HttpOnly"},
		{"the solution's root", shared, "s=1; Path=/apps/a", "s=1; Path=/apps/a"},
		{"no path gets the solution's", shared, "s=1; HttpOnly", "s=1; HttpOnly; Path=/apps/a"},
		{"another solution's path", shared, "session=evil; Path=/apps/bbb", ""},
		{"a solution whose name starts alike", shared, "s=1; Path=/apps/ab", ""},
		{"every solution", shared, "s=1; Path=/apps", ""},
		{"the whole origin", shared, "s=1; Path=/", ""},
		{"empty path", shared, "s=1; Path=", ""},
		{"path case does not fool", shared, "s=1; pAtH=/apps/b", ""},
		{"second path outside", shared, "s=1; Path=/apps/a; Path=/", ""},
		{"any domain on the shared origin", shared, "s=1; Path=/apps/a; Domain=example.com", ""},
		{"no name", shared, "=1; Path=/apps/a", ""},
		{"own host: any path", own, "s=1; Path=/", "s=1; Path=/"},
		{"own host: its own domain", own, "s=1; Domain=a.apps.example.com", "s=1; Domain=a.apps.example.com"},
		{"own host: its own domain, leading dot", own, "s=1; Domain=.A.apps.example.com", "s=1; Domain=.A.apps.example.com"},
		{"own host: the apps domain", own, "s=1; Domain=apps.example.com", ""},
		{"own host: a parent domain", own, "s=1; domain=example.com", ""},
		{"own host: another solution", own, "s=1; Domain=b.apps.example.com", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := tc.org.scriptHeader("set-cookie", tc.in)
			if tc.want == "" {
				if why == "" || got != "" {
					t.Fatalf("%q kept as %q, want it dropped", tc.in, got)
				}
				if strings.Contains(why, "=1") {
					t.Errorf("the reason %q shows the cookie's value", why)
				}
				return
			}
			if why != "" || got != tc.want {
				t.Fatalf("got %q (%s), want %q", got, why, tc.want)
			}
		})
	}
}

func TestOriginProtect(t *testing.T) {
	tests := []struct {
		name     string
		org      origin
		before   http.Header
		wantCSP  []string
		wantNoSn string
	}{
		{"shared origin", origin{sol: "a", base: "/apps/a"}, http.Header{}, []string{sandboxCSP}, "nosniff"},
		{"shared origin keeps a script's policy beside its own", origin{sol: "a", base: "/apps/a"},
			http.Header{"Content-Security-Policy": {"default-src *"}, "X-Content-Type-Options": {"x"}}, []string{"default-src *", sandboxCSP}, "nosniff"},
		{"twice adds once", origin{sol: "a", base: "/apps/a"}, http.Header{"Content-Security-Policy": {sandboxCSP}}, []string{sandboxCSP}, "nosniff"},
		{"own host", origin{sol: "a", host: "a.example.com"}, http.Header{}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.org.protect(tc.before)
			if got := tc.before.Values("Content-Security-Policy"); strings.Join(got, "|") != strings.Join(tc.wantCSP, "|") {
				t.Errorf("CSP %q, want %q", got, tc.wantCSP)
			}
			if got := tc.before.Get("X-Content-Type-Options"); got != tc.wantNoSn {
				t.Errorf("X-Content-Type-Options %q, want %q", got, tc.wantNoSn)
			}
		})
	}
	if _, why := (origin{sol: "a", base: "/apps/a"}).scriptHeader("Clear-Site-Data", `"cookies"`); why == "" {
		t.Error("Clear-Site-Data kept on the shared origin")
	}
	if v, why := (origin{sol: "a", host: "a.example.com"}).scriptHeader("Clear-Site-Data", `"cookies"`); why != "" || v == "" {
		t.Error("Clear-Site-Data dropped on the solution's own host")
	}
}
