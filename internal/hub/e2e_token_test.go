package hub_test

import (
	"net/http"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestNewSolutionToken: a solution gets a new token from the admin or from itself; the old one
// stops working at once, and no other solution may do it.
func TestNewSolutionToken(t *testing.T) {
	s := hubtest.Start(t)
	old := s.CreateSolution(t, "demo")
	other := s.CreateSolution(t, "other")
	path := "/api/v1/solutions/demo/token"

	wantAPIError(t, s.Do(t, "POST", path, other, nil), http.StatusForbidden, "")
	wantAPIError(t, s.Do(t, "POST", path, "", nil), http.StatusUnauthorized, "")
	wantAPIError(t, s.Do(t, "POST", "/api/v1/solutions/ghost/token", s.AdminToken, nil), http.StatusNotFound, "solution")

	// By the admin.
	got := wantStatus(t, s.Do(t, "POST", path, s.AdminToken, nil), http.StatusOK)
	first, _ := got["token"].(string)
	if got["id"] != "demo" || first == "" || first == old {
		t.Fatalf("new token: %v", got)
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/demo", old, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the old token after a new one: %d %s", r.Status, r.Body)
	}
	wantStatus(t, s.Do(t, "GET", "/api/v1/solutions/demo", first, nil), http.StatusOK)

	// By the solution itself: its token changes again.
	got = wantStatus(t, s.Do(t, "POST", path, first, nil), http.StatusOK)
	second, _ := got["token"].(string)
	if second == "" || second == first {
		t.Fatalf("second new token: %v", got)
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/demo", first, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the first new token after the second: %d %s", r.Status, r.Body)
	}
	wantStatus(t, s.Do(t, "GET", "/api/v1/solutions/demo", second, nil), http.StatusOK)
	wantStatus(t, s.Do(t, "GET", "/api/v1/solutions/other", other, nil), http.StatusOK) // untouched
}
