package webapp

import (
	"fmt"
	"net/http"
	"strings"
)

// Without --apps-domain every solution is served from one origin, under /apps/{solution}/.
// What one solution's answer could do to another there — run script that reads the other's
// endpoints, set or clear cookies for the other's paths — is taken away here. On a solution's
// own host ({solution}.{apps-domain}) the browser keeps solutions apart by itself.

// sandboxCSP turns every endpoint answer on the shared origin into a page of an opaque origin:
// its scripts may run, but cannot read same-origin answers or cookies of any solution.
const sandboxCSP = "sandbox allow-scripts allow-forms allow-popups allow-downloads"

// origin is where an answer is served: a solution, under base on the shared origin (base !=
// "") or on its own host (base == "", host its name under the apps domain).
type origin struct {
	sol, base, host string
}

func (o origin) shared() bool { return o.base != "" }

// protect sets the shared origin's headers on h; a script's own Content-Security-Policy stays
// beside it (a browser enforces both).
func (o origin) protect(h http.Header) {
	if !o.shared() {
		return
	}
	found := false
	for _, v := range h.Values("Content-Security-Policy") {
		found = found || v == sandboxCSP
	}
	if !found {
		h.Add("Content-Security-Policy", sandboxCSP)
	}
	h.Set("X-Content-Type-Options", "nosniff")
}

// scriptHeader says whether a script may send header k with value v from this origin, and
// the value to send; a header it may not send comes with the reason (never the value, which
// may be a secret).
func (o origin) scriptHeader(k, v string) (string, string) {
	switch {
	case strings.EqualFold(k, "Set-Cookie"):
		return o.cookie(v)
	case o.shared() && strings.EqualFold(k, "Clear-Site-Data"):
		return "", "Clear-Site-Data left out: on the shared origin it would clear every solution's data"
	}
	return v, ""
}

// cookie checks a Set-Cookie value. On the shared origin a cookie must stay under the
// solution's path (no Path: /apps/{solution} is added) and name no Domain; on the solution's
// own host, a Domain may only be that host (a parent domain reaches every solution).
func (o origin) cookie(v string) (string, string) {
	name, _, _ := strings.Cut(strings.SplitN(v, ";", 2)[0], "=")
	name = strings.TrimSpace(name)
	drop := func(why string) (string, string) {
		return "", fmt.Sprintf("Set-Cookie %q dropped: %s", name, why)
	}
	if name == "" {
		return drop("no cookie name")
	}
	hasPath := false
	attrs := strings.Split(v, ";")[1:]
	for _, a := range attrs {
		k, val, _ := strings.Cut(a, "=")
		k, val = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(val)
		switch k {
		case "domain":
			if o.shared() {
				return drop("a Domain attribute on the shared origin reaches every solution; serve with --apps-domain to use one")
			}
			if !strings.EqualFold(strings.TrimPrefix(val, "."), o.host) {
				return drop(fmt.Sprintf("Domain %q is not this solution's host %s", val, o.host))
			}
		case "path":
			hasPath = true
			if o.shared() && val != o.base && !strings.HasPrefix(val, o.base+"/") {
				return drop(fmt.Sprintf("Path %q is outside the solution's %s", val, o.base))
			}
		}
	}
	if o.shared() && !hasPath {
		// The browser's default (the request's directory) can be /apps itself.
		v += "; Path=" + o.base
	}
	return v, ""
}
