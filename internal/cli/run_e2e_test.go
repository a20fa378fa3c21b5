package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// realEnv is the environment of a CLI talking to a real hub as its admin, on solution demo.
func realEnv(t *testing.T) (*hubtest.Server, map[string]string) {
	t.Helper()
	s := hubtest.Start(t)
	s.CreateSolution(t, "demo")
	return s, map[string]string{
		"SWITCHBOARD_SERVER":   s.URL,
		"SWITCHBOARD_TOKEN":    s.AdminToken,
		"SWITCHBOARD_DATA":     t.TempDir(),
		"SWITCHBOARD_SOLUTION": "demo",
	}
}

const usersFile = `-- users
--#ENDPOINT GET /users/{id}
print("looking up", request.parameters.id)
return {id = request.parameters.id, seen = Keystore.get({key = "seen"}).value}

--#ENDPOINT POST /users/{id}
Keystore.set({key = "seen", value = request.body.name})
response.code = 201
return {saved = request.body.name, trace = request.headers["x-trace"], q = request.parameters.q}
`

func TestRunCommand(t *testing.T) {
	t.Parallel()
	_, env := realEnv(t)
	dir := writeTree(t, map[string]string{
		"app/users.lua":    usersFile,
		"app/broken.lua":   "--#ENDPOINT GET /broken\nlocal x = 1\n\nreturn x.y.z\n",
		"app/nosyntax.lua": "--#ENDPOINT GET /a\nreturn 1\n--#ENDPOINT GET /b\nlocal = 2\n",
		"plain.lua":        "print('plain')\nreturn 'hi'\n",
		"body.json":        `{"name": "ada"}`,
	})
	users := filepath.Join(dir, "app", "users.lua")

	t.Run("the second endpoint of a deploy file, with a body from a file", func(t *testing.T) {
		r := runCLI(t, env, "", "run", users, "--endpoint", "post /users/{id}", "--path", "/users/7?q=1",
			"--header", "X-Trace: abc", "--body", "@"+filepath.Join(dir, "body.json"))
		r.check(t, 0, []string{"HTTP 201\n", "Content-Type: application/json\n", `{"q":"1","saved":"ada","trace":"abc"}`, "\ntime ", ", memory "}, nil)
	})
	t.Run("the first endpoint sees what the second stored", func(t *testing.T) {
		r := runCLI(t, env, "", "run", users, "--path", "/users/42")
		r.check(t, 0, []string{"HTTP 200\n", `{"id":"42","seen":"ada"}`, "logs:\n", "info  looking up\t42\n"}, nil)
	})
	t.Run("a plain file with a body on stdin, as JSON", func(t *testing.T) {
		r := runCLI(t, env, "x", "run", filepath.Join(dir, "plain.lua"), "--body", "-", "-o", "json")
		r.check(t, 0, nil, nil)
		var out struct {
			Response struct {
				Status int
				Body   string
			}
			Logs []struct{ Message string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Response.Status != 200 || out.Response.Body != "hi" ||
			len(out.Logs) != 1 || out.Logs[0].Message != "plain" {
			t.Fatalf("%v: %s", err, r.stdout)
		}
	})
	t.Run("a runtime error names the file's line", func(t *testing.T) {
		file := filepath.Join(dir, "app", "broken.lua")
		r := runCLI(t, env, "", "run", file)
		r.check(t, 1, []string{"error: " + file + ":4: attempt to index"}, []string{"the script failed: " + file + ":4:"})
	})
	t.Run("a syntax error names the file's line", func(t *testing.T) {
		file := filepath.Join(dir, "app", "nosyntax.lua")
		r := runCLI(t, env, "", "run", file, "--endpoint", "GET /b")
		r.check(t, 1, nil, []string{file + ":4: GET /b: "})
	})
	t.Run("an endpoint the file does not have", func(t *testing.T) {
		r := runCLI(t, env, "", "run", users, "--endpoint", "GET /nope")
		r.check(t, 2, nil, []string{"GET /users/{id}, POST /users/{id}"})
	})
	t.Run("a route's parameter without a path", func(t *testing.T) {
		r := runCLI(t, env, "", "run", users)
		r.check(t, 1, nil, []string{"/users/1"})
	})
}

func TestDeployDryRunReal(t *testing.T) {
	t.Parallel()
	s, env := realEnv(t)
	dir := writeTree(t, map[string]string{
		"app/ok.lua":     "--#ENDPOINT GET /ok\nreturn 'ok'\n",
		"app/users.lua":  "-- users\n--#ENDPOINT GET /users/{id}\nreturn 1\n\n--#ENDPOINT GET /users\nlocal a = {}\nfor i = 1, 3 do\n  a[i] = i\nend)\nreturn a\n",
		"app/bad.lua":    "--#ENDPOINT GET /docs\nreturn 1\n",
		"app/dup.lua":    "--#ENDPOINT GET /ok\nreturn 'again'\n",
		"app/events.lua": "--#EVENT demoexternalservice event\nreturn +\n",
	})
	users := filepath.Join(dir, "app", "users.lua")
	r := runCLI(t, env, "", "deploy", dir, "--dry-run")
	r.check(t, 1, nil, []string{
		users + ":9: GET /users: ",                     // compiled by the server, at the file's line
		filepath.Join(dir, "app", "bad.lua") + ":1: ",  // a path the server keeps for itself
		filepath.Join(dir, "app", "ok.lua") + ":1",     // the first of a duplicate
		filepath.Join(dir, "app", "events.lua") + ":2", // a handler that does not compile
		"nothing was changed",
	})
	if strings.Contains(r.stderr, "app/ok.lua:1: GET /ok:") {
		t.Errorf("a sound endpoint reported: %s", r.stderr)
	}
	// Nothing was deployed.
	if got := s.Do(t, "GET", "/api/v1/solutions/demo/endpoints", s.AdminToken, nil); string(got.Body) != "{\"items\":[]}\n" {
		t.Fatalf("endpoints after a dry run: %s", got.Body)
	}

	// A sound folder: the dry run plans, the server checks, and the exit code is 0.
	good := writeTree(t, map[string]string{"app/ok.lua": "--#ENDPOINT GET /ok\nreturn 'ok'\n"})
	r = runCLI(t, env, "", "deploy", good, "--dry-run")
	r.check(t, 0, []string{"+ GET /ok\n", "dry run: 1 to add"}, nil)
}
