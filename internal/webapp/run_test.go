package webapp

import (
	"log/slog"
	"strings"
	"testing"
)

func TestRunLogBounds(t *testing.T) {
	cases := []struct {
		name        string
		n, size     int
		wantEntries int
		wantMore    string
	}{
		{"a few", 3, 10, 3, ""},
		{"too many", MaxRunLogEntries + 5, 10, MaxRunLogEntries + 1, "… 5 more log entries left out"},
		{"too large", 100, 10 << 10, MaxRunLogBytes/(10<<10+64) + 1, "more log entries left out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &runLog{sol: "demo", reqID: "r1"}
			for range tc.n {
				l.write(slog.LevelInfo, strings.Repeat("x", tc.size), nil)
			}
			got := l.done()
			if len(got) != tc.wantEntries {
				t.Fatalf("%d entries, want %d", len(got), tc.wantEntries)
			}
			last := got[len(got)-1]
			if tc.wantMore == "" && last.Level != "info" || tc.wantMore != "" && (last.Level != "warn" || !strings.Contains(last.Message, tc.wantMore)) {
				t.Fatalf("last entry %+v", last)
			}
			if got[0].Solution != "demo" || got[0].RequestID != "r1" || got[0].Source != "run" {
				t.Fatalf("first entry %+v", got[0])
			}
		})
	}
}

func TestRunRoute(t *testing.T) {
	cases := []struct {
		name, path, route string
		wantPath          string
		wantValues        []string
		wantErr           string
	}{
		{name: "nothing given", wantPath: "/"},
		{name: "a path only", path: "/users/42", wantPath: "/users/42"},
		{name: "a route and its path", path: "/users/42", route: "/users/{id}", wantPath: "/users/42", wantValues: []string{"42"}},
		{name: "a rest parameter", path: "/files/a/b", route: "/files/{rest...}", wantPath: "/files/a/b", wantValues: []string{"a/b"}},
		{name: "a route without parameters", route: "/health", wantPath: "/health"},
		{name: "a route with parameters, no path", route: "/users/{id}", wantErr: "such as /users/1"},
		{name: "a path off the route", path: "/items/1", route: "/users/{id}", wantErr: "does not match the route"},
		{name: "a bad route", path: "/x", route: "users", wantErr: "must start with /"},
		{name: "a query in the path", path: "/x?a=1", wantErr: "give the query as query"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, path, values, err := runRoute(RunRequest{Method: "GET", Path: tc.path, Route: tc.route})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || path != tc.wantPath || strings.Join(values, ",") != strings.Join(tc.wantValues, ",") || rt == nil {
				t.Fatalf("path %q values %q err %v", path, values, err)
			}
		})
	}
}
