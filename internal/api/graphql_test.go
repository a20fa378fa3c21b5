package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/compass"
)

// TestGraphQLRoute: POST /api/v1/graphql authenticates and bounds the body before the GraphQL
// handler runs, answering refusals in GraphQL's error shape; GET serves the GraphiQL page.
func TestGraphQLRoute(t *testing.T) {
	const admin = "admin-token-0123456789"
	var seen []string
	gql := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen = append(seen, string(body))
		w.Write([]byte(`{"data":{}}`))
	})
	s := New(Options{AdminToken: admin, MaxBody: 256, GraphQL: compass.New(compass.Options{})})
	s.opt.GraphQL = caller(t, gql)
	query := `{"query":"{ applications { totalCount } }"}`
	cases := []struct {
		name, token, body string
		status            int
		code, field       string
	}{
		{"no token", "", query, http.StatusUnauthorized, compass.CodeUnauthenticated, ""},
		{"wrong scheme", "Basic x", query, http.StatusUnauthorized, compass.CodeUnauthenticated, ""},
		{"too large", "Bearer " + admin, `{"query":"` + strings.Repeat(" ", 300) + `{ a }"}`, http.StatusRequestEntityTooLarge, compass.CodeBadUserInput, ""},
		{"repeated key", "Bearer " + admin, `{"query":"{ a }","query":"{ b }"}`, http.StatusBadRequest, compass.CodeBadUserInput, "query"},
		{"admin", "Bearer " + admin, query, http.StatusOK, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seen = nil
			r := httptest.NewRequest(http.MethodPost, "/api/v1/graphql", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/json")
			if c.token != "" {
				r.Header.Set("Authorization", c.token)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status %d %s; want %d", w.Code, w.Body, c.status)
			}
			if c.code == "" {
				if len(seen) != 1 || seen[0] != c.body {
					t.Fatalf("handler saw %q; want the body", seen)
				}
				return
			}
			var out struct {
				Errors []struct {
					Message    string
					Extensions map[string]string
				}
			}
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != c.code || out.Errors[0].Extensions["field"] != c.field {
				t.Fatalf("body %s (%v); want one error with code %s, field %q", w.Body, err, c.code, c.field)
			}
			if len(seen) != 0 {
				t.Fatal("the GraphQL handler ran for a refused request")
			}
		})
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/graphql", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(strings.ToLower(w.Body.String()), "graphiql") {
		t.Fatalf("GET page: %d %s", w.Code, w.Header())
	}
}

// caller checks the handler gets the admin as the caller, then runs next.
func caller(t *testing.T, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := compass.New(compass.Options{})
		probe := httptest.NewRecorder()
		// The real handler answers 401 only when no caller was set.
		h.ServeHTTP(probe, httptest.NewRequestWithContext(r.Context(), http.MethodPost, "/", strings.NewReader(`{"query":"{ __typename }"}`)))
		if probe.Code == http.StatusUnauthorized {
			t.Errorf("no caller in the request's context: %s", probe.Body)
		}
		next.ServeHTTP(w, r)
	})
}
