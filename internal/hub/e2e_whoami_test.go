package hub_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// GET /api/v1/whoami tells the admin token from a solution's, and a solution's token from
// another's; without a valid token it is 401, and a deleted solution's token is no longer one.
func TestWhoAmI(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	demo := s.CreateSolution(t, "demo")
	other := s.CreateSolution(t, "other")
	gone := s.CreateSolution(t, "gone")
	if r := s.Do(t, "DELETE", "/api/v1/solutions/gone", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete gone: %d %s", r.Status, r.Body)
	}

	for _, tc := range []struct {
		name, token string
		want        map[string]any
	}{
		{"the admin token", s.AdminToken, map[string]any{"admin": true}},
		{"a solution's token", demo, map[string]any{"admin": false, "solution": "demo"}},
		{"another solution's token", other, map[string]any{"admin": false, "solution": "other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := wantStatus(t, s.Do(t, "GET", "/api/v1/whoami", tc.token, nil), http.StatusOK)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("whoami: %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, token string }{
		{"no token", ""},
		{"an unknown token", "sbs_not-a-token"},
		{"a deleted solution's token", gone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAPIError(t, s.Do(t, "GET", "/api/v1/whoami", tc.token, nil), http.StatusUnauthorized, "")
		})
	}
	wantAPIError(t, s.Do(t, "POST", "/api/v1/whoami", s.AdminToken, map[string]any{}), http.StatusMethodNotAllowed, "")
}
