package webapp

import (
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"

	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// The solution's API page and its OpenAPI document, made from its endpoints as they are now.

//go:embed docs.html
var docsPage string

var docsTemplate = template.Must(template.New("docs").Parse(docsPage))

// apiDoc is the solution's endpoints as an OpenAPI 3 document; base is where they are served.
func apiDoc(sol string, eps []solution.Endpoint, base string) map[string]any {
	paths := map[string]any{}
	for _, ep := range eps {
		item, _ := paths[ep.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[ep.Path] = item
		}
		op := map[string]any{
			"summary":     ep.Method + " " + ep.Path,
			"operationId": strings.ToLower(ep.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_").Replace(ep.Path),
			"responses": map[string]any{
				"200":     map[string]any{"description": "What the endpoint's script answers"},
				"default": map[string]any{"description": "An error"},
			},
		}
		var params []any
		for _, name := range paramNames(ep.Path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if ep.Method == http.MethodPost || ep.Method == http.MethodPut || ep.Method == http.MethodPatch {
			op["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{}}}}
		}
		item[strings.ToLower(ep.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "Solution " + sol, "version": "1"},
		"servers": []any{map[string]any{"url": base}},
		"paths":   paths,
	}
}

// docsService is a service the solution added, as the marketplace shows it; Alias is what
// its scripts call it.
type docsService struct {
	catalog.Market
	Alias string
}

type docsEndpoint struct {
	Method, Path string
	Params       []string
	Body         bool
}

// serveDocs answers GET {base}/docs and {base}/swagger.json; ok is false for other paths.
func (h *Handler) serveDocs(w http.ResponseWriter, r *http.Request, sol, path string, org origin) bool {
	base := org.base
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch path {
	case "/swagger.json":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(apiDoc(sol, h.opt.Store.Endpoints(sol), base)) //nolint:errcheck // client gone
		return true
	case "/docs":
		var eps []docsEndpoint
		for _, ep := range h.opt.Store.Endpoints(sol) {
			eps = append(eps, docsEndpoint{Method: ep.Method, Path: ep.Path, Params: paramNames(ep.Path),
				Body: ep.Method == http.MethodPost || ep.Method == http.MethodPut || ep.Method == http.MethodPatch})
		}
		// The page is the hub's, not the solution's: it is not sandboxed (its Try button must
		// fetch the endpoints and read their answers, which a sandboxed page, of an opaque
		// origin, cannot), and runs no script but its own, by nonce.
		var services []docsService
		if h.opt.AddedServices != nil && ownerAsks(r, h.opt.Store, sol) {
			for _, m := range h.opt.AddedServices(sol) {
				services = append(services, docsService{Market: m, Alias: service.Alias(m.Name)})
			}
		}
		nonce := newID()
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'unsafe-inline'; "+
			"connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		docsTemplate.Execute(w, map[string]any{"Solution": sol, "Base": base, "Endpoints": eps, "Services": services, "Nonce": nonce}) //nolint:errcheck // client gone
		return true
	}
	return false
}

// ownerAsks reports whether r carries the solution's own token (Authorization: Bearer). The page
// is public, like the endpoints it documents; which services a solution added, and how they
// are configured, is its owner's to see, not everyone's.
func ownerAsks(r *http.Request, store Store, sol string) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return false
	}
	s, ok := store.Get(sol)
	if !ok || s.TokenHash == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(solution.HashToken(token)), []byte(s.TokenHash)) == 1
}
