package cli

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// deployFixture is a server with three endpoints and a folder that keeps one, changes one,
// drops one and adds one.
func deployFixture(t *testing.T) (*fakeAPI, map[string]string, string) {
	fake, url := newFakeAPI(t)
	fake.put("demo", "GET", "/same", "return 'same'\n")
	fake.put("demo", "POST", "/changed", "return 'old'\n")
	fake.put("demo", "DELETE", "/gone", "return 'gone'\n")
	dir := writeTree(t, map[string]string{
		"a.lua":     "-- kept and changed\n--#ENDPOINT GET /same\nreturn 'same'\n\n--#ENDPOINT post /changed\nreturn 'new'\n",
		"b/new.lua": "--#ENDPOINT GET /new/{id}\nreturn 'new'\n",
	})
	fake.takeRequests()
	return fake, clientEnv(t, url, "SWITCHBOARD_SOLUTION", "demo"), dir
}

func TestDeploy(t *testing.T) {
	fake, env, dir := deployFixture(t)

	r := runCLI(t, env, "", "deploy", dir)
	r.check(t, 0, nil, nil)
	want := "~ POST /changed\n+ GET /new/{id}\n- DELETE /gone\ndeployed: 1 added, 1 updated, 1 removed, 1 unchanged\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	wantScripts := map[string]string{"GET /same": "return 'same'\n", "POST /changed": "return 'new'\n", "GET /new/{id}": "return 'new'\n"}
	if got := fake.scripts("demo"); !reflect.DeepEqual(got, wantScripts) {
		t.Errorf("endpoints = %v, want %v", got, wantScripts)
	}
	wantRequests := []string{
		"GET /api/v1/solutions/demo/endpoints",
		"GET /api/v1/solutions/demo/handlers",
		"GET /api/v1/solutions/demo/connectors",
		"POST /api/v1/solutions/demo/endpoints",
		"POST /api/v1/solutions/demo/endpoints",
		"DELETE /api/v1/solutions/demo/endpoints/DELETE/gone",
	}
	if got := fake.takeRequests(); !reflect.DeepEqual(got, wantRequests) {
		t.Errorf("requests = %q, want %q", got, wantRequests)
	}

	// A second run finds nothing to do and changes nothing.
	r = runCLI(t, env, "", "deploy", dir)
	r.check(t, 0, nil, nil)
	if r.stdout != "deployed: 0 added, 0 updated, 0 removed, 3 unchanged\n" {
		t.Errorf("second run stdout:\n%s", r.stdout)
	}
	if got := fake.takeRequests(); len(got) != 3 {
		t.Errorf("second run made requests %q, want only the lists", got)
	}
}

func TestDeployDryRun(t *testing.T) {
	fake, env, dir := deployFixture(t)
	r := runCLI(t, env, "", "deploy", dir, "--dry-run")
	r.check(t, 0, nil, nil)
	want := "~ POST /changed\n+ GET /new/{id}\n- DELETE /gone\ndry run: 1 to add, 1 to update, 1 to remove, 1 unchanged\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	// The server checks each change; nothing is written.
	wantRequests := []string{"GET /api/v1/solutions/demo/endpoints", "GET /api/v1/solutions/demo/handlers", "GET /api/v1/solutions/demo/connectors",
		"POST /api/v1/solutions/demo/check/endpoint", "POST /api/v1/solutions/demo/check/endpoint"}
	if got := fake.takeRequests(); !reflect.DeepEqual(got, wantRequests) {
		t.Errorf("requests = %q, want %q", got, wantRequests)
	}
}

func TestDeployKeep(t *testing.T) {
	fake, env, dir := deployFixture(t)
	r := runCLI(t, env, "", "deploy", dir, "--keep", "-s", "demo")
	r.check(t, 0, nil, nil)
	want := "~ POST /changed\n+ GET /new/{id}\ndeployed: 1 added, 1 updated, 0 removed, 1 unchanged, 1 kept\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if _, ok := fake.scripts("demo")["DELETE /gone"]; !ok {
		t.Error("--keep removed DELETE /gone")
	}
}

func TestDeployJSON(t *testing.T) {
	_, env, dir := deployFixture(t)
	r := runCLI(t, env, "", "deploy", dir, "-o", "json")
	r.check(t, 0, nil, nil)
	var got deployResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	a := filepath.Join(dir, "a.lua")
	want := deployResult{
		Solution: "demo", Added: 1, Updated: 1, Removed: 1, Unchanged: 1,
		Actions: []deployAction{
			{Action: "unchanged", Kind: "endpoint", Method: "GET", Path: "/same", File: a, Line: 2},
			{Action: "updated", Kind: "endpoint", Method: "POST", Path: "/changed", File: a, Line: 5},
			{Action: "added", Kind: "endpoint", Method: "GET", Path: "/new/{id}", File: filepath.Join(dir, "b", "new.lua"), Line: 1},
			{Action: "removed", Kind: "endpoint", Method: "DELETE", Path: "/gone"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("result\n got %+v\nwant %+v", got, want)
	}
}

func TestDeployCompileError(t *testing.T) {
	fake, env, _ := deployFixture(t)
	dir := writeTree(t, map[string]string{
		"a.lua": "--#ENDPOINT GET /same\nreturn 'same'\n\n--#ENDPOINT GET /bad\nlocal x = 1\nsyntax error\n--#ENDPOINT GET /new\nreturn 1\n",
		"b.lua": "\n--#ENDPOINT GET /docs\nreturn 1\n",
	})
	r := runCLI(t, env, "", "deploy", dir)
	bad, docs := filepath.Join(dir, "a.lua"), filepath.Join(dir, "b.lua")
	r.check(t, ExitFailure, []string{"+ GET /new\n"}, []string{
		"switchboard: " + bad + ":6: GET /bad: script: line 2: syntax error near 'error' (HTTP 400, field script, line 2)\n",
		"switchboard: " + docs + ":2: GET /docs: path: /docs is reserved (HTTP 400, field path)\n",
		"switchboard: deploy failed: 2 of 5 changes failed; nothing was removed\n",
	})
	if strings.Contains(r.stdout, "deployed:") {
		t.Errorf("summary printed on failure:\n%s", r.stdout)
	}
	scripts := fake.scripts("demo")
	if _, ok := scripts["GET /new"]; !ok {
		t.Error("the good endpoint was not deployed")
	}
	if _, ok := scripts["DELETE /gone"]; !ok {
		t.Error("an endpoint was removed although a change failed")
	}
}

func TestDeployFolderErrorsSendNothing(t *testing.T) {
	fake, env, _ := deployFixture(t)
	dir := writeTree(t, map[string]string{
		"a.lua": "--#ENDPOINT GET /x\nreturn 1\n--#ENDPOINT BREW /coffee\nreturn 2\n",
		"b.lua": "--#ENDPOINT GET /x\nreturn 3\n--#ENDPOINT GET y\nreturn 4\n",
	})
	a, b := filepath.Join(dir, "a.lua"), filepath.Join(dir, "b.lua")
	r := runCLI(t, env, "", "deploy", dir)
	r.check(t, ExitFailure, nil, []string{
		"switchboard: " + a + `:3: unknown HTTP method "BREW"`,
		"switchboard: " + b + `:3: path "y" must start with "/"`,
	})
	if r.stdout != "" {
		t.Errorf("stdout: %q", r.stdout)
	}
	if got := fake.takeRequests(); len(got) != 0 {
		t.Errorf("requests were sent: %q", got)
	}

	dir = writeTree(t, map[string]string{
		"a.lua": "--#ENDPOINT GET /x\nreturn 1\n",
		"b.lua": "--#ENDPOINT GET /x\nreturn 3\n",
	})
	r = runCLI(t, env, "", "deploy", dir)
	r.check(t, ExitFailure, nil, []string{
		"switchboard: " + filepath.Join(dir, "b.lua") + ":1: duplicate endpoint GET /x: already defined at " + filepath.Join(dir, "a.lua") + ":1\n",
	})
	if got := fake.takeRequests(); len(got) != 0 {
		t.Errorf("requests were sent: %q", got)
	}
}

func TestDeployRefusedRequest(t *testing.T) {
	_, env, dir := deployFixture(t)
	r := runCLI(t, env, "", "deploy", dir, "-s", "missing")
	r.check(t, ExitFailure, nil, []string{`switchboard: no solution "missing" (HTTP 404, field solution)`})
	env["SWITCHBOARD_TOKEN"] = "wrong-token-0123456789"
	r = runCLI(t, env, "", "deploy", dir)
	r.check(t, ExitFailure, nil, []string{"switchboard: unknown token (HTTP 401)"})
}

func TestDeployServerFailsHalfWay(t *testing.T) {
	fake, env, dir := deployFixture(t)
	fake.setFailing(false, true) // the listing works, every change fails
	r := runCLI(t, env, "", "deploy", dir)
	r.check(t, ExitUnavailable, nil, []string{"switchboard: deploy stopped after 0 of 3 changes: internal error: engine down (HTTP 500)\n"})
	if got := fake.takeRequests(); len(got) != 4 {
		t.Errorf("requests = %q, want the lists and the first change only", got)
	}
}

// handlerFixture is a server with one endpoint and four handlers, and a folder that keeps the
// endpoint and one handler, changes one script, one handler's topics, drops a handler and adds
// one.
func handlerFixture(t *testing.T) (*fakeAPI, map[string]string, string) {
	fake, url := newFakeAPI(t)
	fake.put("demo", "GET", "/same", "return 'same'\n")
	fake.putHandler("demo", "demoexternalservice_same", "return 'same'\n")
	fake.putHandler("demo", "demoexternalservice_changed", "return 'old'\n")
	fake.putHandler("demo", "demoexternalservice_moved", "return 'moved'\n", "other.topic")
	fake.putHandler("demo", "audit", "return 'gone'\n", "demoexternalservice.event")
	dir := writeTree(t, map[string]string{
		"api.lua": "--#ENDPOINT GET /same\nreturn 'same'\n",
		"events.lua": "--#EVENT demoexternalservice same\nreturn 'same'\n\n--#EVENT demoexternalservice changed\nreturn 'new'\n" +
			"--#EVENT demoexternalservice moved\nreturn 'moved'\n--#EVENT demoexternalservice event\nreturn 'added'\n",
	})
	fake.takeRequests()
	return fake, clientEnv(t, url, "SWITCHBOARD_SOLUTION", "demo"), dir
}

func TestDeployHandlers(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		want         string
		wantHandlers map[string]string // "name topics" → script
		wantWrites   []string          // requests other than the three lists
	}{
		{
			name: "sync",
			want: "~ EVENT demoexternalservice changed\n~ EVENT demoexternalservice moved\n+ EVENT demoexternalservice event\n- HANDLER audit\n" +
				"deployed: 1 added, 2 updated, 1 removed, 2 unchanged\n",
			wantHandlers: map[string]string{
				"demoexternalservice_same demoexternalservice.same":       "return 'same'\n",
				"demoexternalservice_changed demoexternalservice.changed": "return 'new'\n",
				"demoexternalservice_moved demoexternalservice.moved":     "return 'moved'\n",
				"demoexternalservice_event demoexternalservice.event":     "return 'added'\n",
			},
			wantWrites: []string{
				"POST /api/v1/solutions/demo/handlers",
				"POST /api/v1/solutions/demo/handlers",
				"POST /api/v1/solutions/demo/handlers",
				"DELETE /api/v1/solutions/demo/handlers/audit",
			},
		},
		{
			name: "dry run",
			args: []string{"--dry-run"},
			want: "~ EVENT demoexternalservice changed\n~ EVENT demoexternalservice moved\n+ EVENT demoexternalservice event\n- HANDLER audit\n" +
				"dry run: 1 to add, 2 to update, 1 to remove, 2 unchanged\n",
			wantHandlers: map[string]string{
				"demoexternalservice_same demoexternalservice.same":       "return 'same'\n",
				"demoexternalservice_changed demoexternalservice.changed": "return 'old'\n",
				"demoexternalservice_moved other.topic":                   "return 'moved'\n",
				"audit demoexternalservice.event":                         "return 'gone'\n",
			},
			wantWrites: []string{ // checks, which change nothing
				"POST /api/v1/solutions/demo/check/handler",
				"POST /api/v1/solutions/demo/check/handler",
				"POST /api/v1/solutions/demo/check/handler",
			},
		},
		{
			name: "keep",
			args: []string{"--keep"},
			want: "~ EVENT demoexternalservice changed\n~ EVENT demoexternalservice moved\n+ EVENT demoexternalservice event\n" +
				"deployed: 1 added, 2 updated, 0 removed, 2 unchanged, 1 kept\n",
			wantHandlers: map[string]string{
				"demoexternalservice_same demoexternalservice.same":       "return 'same'\n",
				"demoexternalservice_changed demoexternalservice.changed": "return 'new'\n",
				"demoexternalservice_moved demoexternalservice.moved":     "return 'moved'\n",
				"demoexternalservice_event demoexternalservice.event":     "return 'added'\n",
				"audit demoexternalservice.event":                         "return 'gone'\n",
			},
			wantWrites: []string{
				"POST /api/v1/solutions/demo/handlers",
				"POST /api/v1/solutions/demo/handlers",
				"POST /api/v1/solutions/demo/handlers",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, env, dir := handlerFixture(t)
			r := runCLI(t, env, "", append([]string{"deploy", dir}, tt.args...)...)
			r.check(t, 0, nil, nil)
			if r.stdout != tt.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, tt.want)
			}
			if got := fake.handlerScripts("demo"); !reflect.DeepEqual(got, tt.wantHandlers) {
				t.Errorf("handlers = %q, want %q", got, tt.wantHandlers)
			}
			wantRequests := append([]string{"GET /api/v1/solutions/demo/endpoints", "GET /api/v1/solutions/demo/handlers", "GET /api/v1/solutions/demo/connectors"}, tt.wantWrites...)
			if got := fake.takeRequests(); !reflect.DeepEqual(got, wantRequests) {
				t.Errorf("requests = %q, want %q", got, wantRequests)
			}
			if tt.name != "sync" {
				return
			}
			// A second run finds nothing to do.
			r = runCLI(t, env, "", "deploy", dir)
			r.check(t, 0, nil, nil)
			if r.stdout != "deployed: 0 added, 0 updated, 0 removed, 5 unchanged\n" {
				t.Errorf("second run stdout:\n%s", r.stdout)
			}
			if got := fake.takeRequests(); len(got) != 3 {
				t.Errorf("second run made requests %q, want only the lists", got)
			}
		})
	}
}

func TestDeployHandlersJSON(t *testing.T) {
	_, env, dir := handlerFixture(t)
	r := runCLI(t, env, "", "deploy", dir, "-o", "json")
	r.check(t, 0, nil, nil)
	var got deployResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	api, events := filepath.Join(dir, "api.lua"), filepath.Join(dir, "events.lua")
	h := func(action, event string, line int) deployAction {
		return deployAction{Action: action, Kind: "handler", Name: "demoexternalservice_" + event, Service: "demoexternalservice", Event: event, File: events, Line: line}
	}
	want := deployResult{
		Solution: "demo", Added: 1, Updated: 2, Removed: 1, Unchanged: 2,
		Actions: []deployAction{
			{Action: "unchanged", Kind: "endpoint", Method: "GET", Path: "/same", File: api, Line: 1},
			h("unchanged", "same", 1),
			h("updated", "changed", 4),
			h("updated", "moved", 6),
			h("added", "event", 8),
			{Action: "removed", Kind: "handler", Name: "audit"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("result\n got %+v\nwant %+v", got, want)
	}
}

func TestDeployHandlerCompileError(t *testing.T) {
	fake, env, _ := handlerFixture(t)
	dir := writeTree(t, map[string]string{
		"a.lua": "--#EVENT demoexternalservice same\nreturn 'same'\n--#EVENT demoexternalservice bad\nlocal x = 1\nsyntax error\n--#ENDPOINT GET /new\nreturn 1\n",
	})
	r := runCLI(t, env, "", "deploy", dir)
	a := filepath.Join(dir, "a.lua")
	r.check(t, ExitFailure, []string{"+ GET /new\n"}, []string{
		"switchboard: " + a + ":5: EVENT demoexternalservice bad: script: line 2: syntax error near 'error' (HTTP 400, field script, line 2)\n",
		"switchboard: deploy failed: 1 of 6 changes failed; nothing was removed\n",
	})
	if _, ok := fake.handlerScripts("demo")["audit demoexternalservice.event"]; !ok {
		t.Error("a handler was removed although a change failed")
	}
}

func TestDeployHandlerFolderErrorsSendNothing(t *testing.T) {
	fake, env, _ := handlerFixture(t)
	dir := writeTree(t, map[string]string{
		"a.lua": "--#EVENT demoexternalservice event\nreturn 1\n--#EVENT Demo event\nreturn 2\n--#EVENT demo -lives\nreturn 3\n",
	})
	a := filepath.Join(dir, "a.lua")
	r := runCLI(t, env, "", "deploy", dir)
	r.check(t, ExitFailure, nil, []string{
		"switchboard: " + a + `:3: service name "Demo": want lowercase letters and digits only`,
		"switchboard: " + a + `:5: event name "-lives": want lower-case letters, digits, _ and -, starting with a letter or digit`,
	})
	if got := fake.takeRequests(); len(got) != 0 {
		t.Errorf("requests were sent: %q", got)
	}

	dir = writeTree(t, map[string]string{
		"a.lua": "--#EVENT demoexternalservice event\nreturn 1\n",
		"b.lua": "--#ENDPOINT GET /x\nreturn 2\n--#EVENT demoexternalservice event\nreturn 3\n",
	})
	r = runCLI(t, env, "", "deploy", dir)
	r.check(t, ExitFailure, nil, []string{
		"switchboard: " + filepath.Join(dir, "b.lua") + ":3: duplicate handler EVENT demoexternalservice event: already defined at " + filepath.Join(dir, "a.lua") + ":1\n",
	})
	if got := fake.takeRequests(); len(got) != 0 {
		t.Errorf("requests were sent: %q", got)
	}
}

func TestDeployRefusesToRemoveEverything(t *testing.T) {
	fake, env, _ := deployFixture(t)
	fake.putHandler("demo", "svc_event", "return 1\n", "svc.event")
	fake.takeRequests()
	empty := t.TempDir()
	other := writeTree(t, map[string]string{"x.lua": "--#ENDPOINT GET /elsewhere\nreturn 1\n"})
	all := map[string]string{"GET /same": "return 'same'\n", "POST /changed": "return 'old'\n", "DELETE /gone": "return 'gone'\n"}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"empty folder", []string{"deploy", empty}},
		{"empty folder, dry run", []string{"deploy", empty, "--dry-run"}},
		{"a folder with none of them", []string{"deploy", other}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, env, "", tt.args...)
			r.check(t, ExitFailure, nil, []string{
				"switchboard: refusing to deploy " + tt.args[1] + ": it has none of solution demo's 3 endpoints and 1 handler, so deploying it would remove them all:\n",
				"switchboard:   - DELETE /gone\n", "switchboard:   - EVENT svc event\n",
				"give --prune",
			})
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
			if got := fake.takeRequests(); len(got) != 3 {
				t.Errorf("requests %q, want only the lists", got)
			}
			if got := fake.scripts("demo"); !reflect.DeepEqual(got, all) {
				t.Errorf("endpoints = %v", got)
			}
		})
	}
	runCLI(t, env, "", "deploy", empty, "--prune", "--keep").check(t, ExitUsage, nil, []string{"--keep and --prune"})

	// Keeping one item is a normal deploy.
	one := writeTree(t, map[string]string{"a.lua": "--#ENDPOINT GET /same\nreturn 'same'\n"})
	runCLI(t, env, "", "deploy", one, "--dry-run").check(t, 0, []string{"dry run: 0 to add, 0 to update, 3 to remove, 1 unchanged"}, nil)

	r := runCLI(t, env, "", "deploy", empty, "--prune")
	r.check(t, 0, []string{"- DELETE /gone\n", "- EVENT svc event\n", "deployed: 0 added, 0 updated, 4 removed, 0 unchanged\n"}, nil)
	if got := fake.scripts("demo"); len(got) != 0 {
		t.Errorf("endpoints left after --prune: %v", got)
	}
	// Nothing left to remove: an empty folder deploys without --prune.
	runCLI(t, env, "", "deploy", empty).check(t, 0, []string{"deployed: 0 added, 0 updated, 0 removed, 0 unchanged\n"}, nil)
}
