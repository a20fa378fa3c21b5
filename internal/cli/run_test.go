package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func TestLocatedErrorMessage(t *testing.T) {
	cases := []struct {
		name string
		err  *locatedError
		want string
	}{
		{"a compile error names the file's line only",
			&locatedError{File: "app/users.lua", Line: 7, Label: "GET /users/{id}",
				Err: &apiclient.Error{Status: 400, Field: "script", Line: 2, Message: "script: demo GET /users/{id}:2: unexpected symbol near 'x'"}},
			"app/users.lua:7: GET /users/{id}: unexpected symbol near 'x'"},
		{"a handler's compile error",
			&locatedError{File: "app/events.lua", Line: 12, Label: "EVENT svc event",
				Err: &apiclient.Error{Status: 400, Field: "script", Line: 3, Message: "script: demo handler svc_event:3: '=' expected near 'end'"}},
			"app/events.lua:12: EVENT svc event: '=' expected near 'end'"},
		{"another refusal keeps the server's words",
			&locatedError{File: "app/docs.lua", Line: 1, Label: "GET /docs",
				Err: &apiclient.Error{Status: 400, Field: "path", Message: "path: /docs is reserved"}},
			"app/docs.lua:1: GET /docs: path: /docs is reserved (HTTP 400, field path)"},
		{"a message without the line marker",
			&locatedError{File: "a.lua", Line: 3, Label: "GET /a",
				Err: &apiclient.Error{Status: 413, Field: "script", Line: 0, Message: "script: longer than 1048576 bytes"}},
			"a.lua:3: GET /a: script: longer than 1048576 bytes (HTTP 413, field script)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// The script run sends keeps the lines of its file, so the server's errors name them.
func TestRunRequestLines(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"users.lua": usersFile,
		"plain.lua": "return 1\n",
	})
	users := filepath.Join(dir, "users.lua")
	cases := []struct {
		name       string
		file       string
		flags      runFlags
		wantLine   string // the text the file has at line wantAt, which the script must have there too
		wantAt     int
		wantMethod string
		wantRoute  string
		wantPath   string
		wantQuery  map[string][]string
	}{
		{name: "the first endpoint", file: users, wantLine: `print("looking up", request.parameters.id)`, wantAt: 3,
			wantMethod: "GET", wantRoute: "/users/{id}"},
		{name: "a chosen endpoint", file: users, flags: runFlags{endpoint: "POST /users/{id}", path: "/users/1?q=a&q=b", query: []string{"r=1"}},
			wantLine: "response.code = 201", wantAt: 8, wantMethod: "POST", wantRoute: "/users/{id}", wantPath: "/users/1",
			wantQuery: map[string][]string{"q": {"a", "b"}, "r": {"1"}}},
		{name: "the method given wins", file: users, flags: runFlags{method: "delete"}, wantLine: "return {id = request.parameters.id, seen = Keystore.get({key = \"seen\"}).value}", wantAt: 4,
			wantMethod: "DELETE", wantRoute: "/users/{id}"},
		{name: "a plain file", file: filepath.Join(dir, "plain.lua"), wantLine: "return 1", wantAt: 1},
	}
	a := &app{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := a.runRequest(tc.file, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(req.Script, "\n")
			if len(lines) < tc.wantAt || lines[tc.wantAt-1] != tc.wantLine {
				t.Fatalf("script line %d is not %q:\n%s", tc.wantAt, tc.wantLine, req.Script)
			}
			if req.Name != tc.file || req.Method != tc.wantMethod || req.Route != tc.wantRoute || req.Path != tc.wantPath {
				t.Fatalf("request %+v", req)
			}
			if tc.wantQuery != nil && !equalQuery(req.Query, tc.wantQuery) {
				t.Fatalf("query %v, want %v", req.Query, tc.wantQuery)
			}
		})
	}
}

func equalQuery(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}
