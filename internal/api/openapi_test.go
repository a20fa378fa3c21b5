package api

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchboardhq/switchboard/internal/automation"
	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/history"
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
	"github.com/switchboardhq/switchboard/internal/webapp"
)

// TestOpenAPICoversRoutes: every route the API registers is in openapi.json with its method,
// and every documented operation is a route; adding a route without documenting it fails here.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json does not validate: %v", err)
	}
	// Every optional part on, so every route is registered.
	s := New(Options{Catalog: &catalog.Catalog{}, Handlers: &events.Store{}, Keystore: service.CallerFunc(nil), Runs: &webapp.Handler{}, Logs: &solutionlog.Log{}, DeadLetters: &events.Dispatcher{}, Tails: &events.Dispatcher{}, Connectors: newFakeConnectors(), Automations: &automation.Trigger{}, GraphQL: http.NotFoundHandler(), Hosted: &hosted.Store{}, History: &history.History{}})
	rest := regexp.MustCompile(`\{([a-z]+)\.\.\.\}`)
	served := map[string]bool{}
	if len(s.Routes()) < 20 {
		t.Fatalf("only %d routes recorded: %v", len(s.Routes()), s.Routes())
	}
	for _, pattern := range s.Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			t.Errorf("route %q has no method: every route must name one", pattern)
			continue
		}
		path = rest.ReplaceAllString(path, "{$1}")
		served[method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s %s is served but not in openapi.json", method, path)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !served[method+" "+path] {
				t.Errorf("%s %s is in openapi.json but not served", method, path)
			}
		}
	}
}
