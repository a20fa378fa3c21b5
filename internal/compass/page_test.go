package compass

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPage: the GraphiQL page names the endpoint and may not be framed by another site.
func TestPage(t *testing.T) {
	rec := httptest.NewRecorder()
	Page("/api/v1/graphql").ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/graphql", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "/api/v1/graphql") {
		t.Fatalf("page: %d", rec.Code)
	}
	if rec.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("page may be framed: %v", rec.Header())
	}
}
