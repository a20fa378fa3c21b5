package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func TestExitCode(t *testing.T) {
	apiErr := func(status int) error { return &apiclient.Error{Status: status, Message: "x"} }
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, ExitOK},
		{"cobra parse error", errors.New(`unknown flag: --nope`), ExitUsage},
		{"usage error from a command", &runError{usagef("missing ID")}, ExitUsage},
		{"usage error from the environment", usagef("SWITCHBOARD_X: bad"), ExitUsage},
		{"400", &runError{apiErr(400)}, ExitFailure},
		{"401", &runError{apiErr(401)}, ExitFailure},
		{"404", &runError{apiErr(404)}, ExitFailure},
		{"409", &runError{apiErr(409)}, ExitFailure},
		{"499", &runError{apiErr(499)}, ExitFailure},
		{"500", &runError{apiErr(500)}, ExitUnavailable},
		{"503", &runError{apiErr(503)}, ExitUnavailable},
		{"wrapped 502", &runError{fmt.Errorf("deploy stopped: %w", apiErr(502))}, ExitUnavailable},
		{"connection refused", &runError{&apiclient.ConnectionError{Err: errors.New("refused")}}, ExitUnavailable},
		{"wrapped connection error", &runError{fmt.Errorf("deploy stopped: %w", &apiclient.ConnectionError{Err: errors.New("eof")})}, ExitUnavailable},
		{"located compile error", &runError{&locatedError{File: "a.lua", Line: 3, Err: &apiclient.Error{Status: 400}}}, ExitFailure},
		{"deploy failed", &runError{errors.Join(&locatedError{Err: &apiclient.Error{Status: 400}}, errors.New("deploy failed"))}, ExitFailure},
		{"deploy folder invalid", &runError{errors.Join(&sourceError{File: "a.lua", Line: 1, Msg: "bad"})}, ExitFailure},
		{"other failure", &runError{errors.New("not implemented yet")}, ExitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestSolutionCommands(t *testing.T) {
	fake, url := newFakeAPI(t)
	env := clientEnv(t, url)
	steps := []struct {
		args    []string
		code    int
		wantOut []string
		wantErr []string
	}{
		{args: []string{"solution", "list"}, wantOut: []string{"no solutions"}},
		{
			args:    []string{"solution", "create", "demo"},
			wantOut: []string{"id:     demo\n", "token:  sbs_demo\n", "export SWITCHBOARD_SOLUTION=demo SWITCHBOARD_TOKEN=sbs_demo"},
		},
		{
			args: []string{"solution", "create", "demo"}, code: ExitFailure,
			wantErr: []string{"switchboard: already exists (HTTP 409, field id)\n"},
		},
		{
			args:    []string{"solution", "create", "big", "--timeout", "5s", "--memory", "16MiB", "--call-depth", "200", "--steps", "10000000"},
			wantOut: []string{"token:  sbs_big"},
		},
		{
			args:    []string{"solution", "get", "big"},
			wantOut: []string{"id:          big\n", "timeout:     5s\n", "memory:      16MiB\n", "call depth:  200\n", "steps:       10000000\n", "debug:       off\n"},
		},
		{args: []string{"solution", "create", "dbg", "--debug"}, wantOut: []string{"token:  sbs_dbg"}},
		{args: []string{"solution", "get", "dbg"}, wantOut: []string{"debug:       on\n"}},
		{args: []string{"solution", "update", "dbg", "--debug=false"}, wantOut: []string{"debug:       off\n", "timeout:     default\n"}},
		{
			args:    []string{"solution", "list"},
			wantOut: []string{"ID    CREATED               TIMEOUT  MEMORY   CALL DEPTH  STEPS\n", "big   2026-01-02T03:04:05Z  5s       16MiB    200         10000000\n", "demo  2026-01-02T03:04:05Z  default  default  default     default\n"},
		},
		{args: []string{"solution", "update", "big", "--timeout", "10s"}, wantOut: []string{"timeout:     10s\n", "memory:      16MiB\n", "call depth:  200\n", "steps:       10000000\n"}},
		{args: []string{"solution", "update", "big", "--debug"}, wantOut: []string{"timeout:     10s\n", "debug:       on\n"}},
		{args: []string{"solution", "update", "big", "--steps", "0", "--call-depth", "300"}, wantOut: []string{"timeout:     10s\n", "memory:      16MiB\n", "call depth:  300\n", "steps:       default\n"}},
		{args: []string{"solution", "update", "big"}, code: ExitUsage, wantErr: []string{"nothing to update"}},
		{args: []string{"solution", "update", "big", "--steps", "-1"}, code: ExitUsage, wantErr: []string{"--steps -1: must not be negative"}},
		{args: []string{"solution", "update", "nope", "--steps", "1"}, code: ExitFailure, wantErr: []string{`no solution "nope"`}},
		{args: []string{"solution", "update", "big", "--timeout", "1500us"}, code: ExitUsage, wantErr: []string{"whole number of milliseconds"}},
		{args: []string{"solution", "update", "big", "--memory", "lots"}, code: ExitUsage, wantErr: []string{`"lots" is not a size`}},
		{args: []string{"solution", "delete", "big"}, wantOut: []string{"deleted solution big\n"}},
		{args: []string{"solution", "get", "big"}, code: ExitFailure, wantErr: []string{`switchboard: no solution "big" (HTTP 404, field solution)`}},
		{args: []string{"solution", "delete", "big"}, code: ExitFailure, wantErr: []string{"HTTP 404"}},
	}
	for _, st := range steps {
		t.Run(strings.Join(st.args, " "), func(t *testing.T) {
			runCLI(t, env, "", st.args...).check(t, st.code, st.wantOut, st.wantErr)
		})
	}
	if got := fake.scripts("demo"); len(got) != 0 {
		t.Errorf("demo has endpoints %v", got)
	}
}

func TestSolutionCreateSendsOnlyGivenLimits(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		bodies = append(bodies, body)
		mu.Unlock()
		w.WriteHeader(201)
		w.Write([]byte(`{"id":"x","token":"sbs_x","created_at":"2026-01-02T03:04:05Z","limits":{}}`))
	}))
	defer srv.Close()
	env := clientEnv(t, srv.URL)
	runCLI(t, env, "", "solution", "create", "x").check(t, 0, nil, nil)
	runCLI(t, env, "", "solution", "create", "x", "--memory", "1 MiB", "--timeout", "250ms").check(t, 0, nil, nil)
	want := []map[string]any{
		{"id": "x"},
		{"id": "x", "limits": map[string]any{"memory_bytes": float64(1 << 20), "timeout_ms": 250.0}},
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(bodies, want) {
		t.Errorf("bodies = %v, want %v", bodies, want)
	}
}

func TestEndpointCommands(t *testing.T) {
	fake, url := newFakeAPI(t)
	fake.put("demo", "GET", "/seed", "return 'seed'\n")
	dir := t.TempDir()
	hello := filepath.Join(dir, "hello.lua")
	os.WriteFile(hello, []byte("return {status = 200, body = 'hi'}"), 0o644)
	broken := filepath.Join(dir, "broken.lua")
	os.WriteFile(broken, []byte("local a = 1\n\nsyntax error here\n"), 0o644)
	env := clientEnv(t, url)
	envSol := clientEnv(t, url, "SWITCHBOARD_SOLUTION", "demo")

	steps := []struct {
		name    string
		env     map[string]string
		stdin   string
		args    []string
		code    int
		wantOut []string
		wantErr []string
	}{
		{name: "deploy new", env: env, args: []string{"endpoint", "deploy", "get", "/hello", hello, "-s", "demo"}, wantOut: []string{"created GET /hello (version 1)\n"}},
		{name: "deploy again replaces", env: env, args: []string{"endpoint", "deploy", "GET", "/hello", hello, "--solution", "demo"}, wantOut: []string{"replaced GET /hello (version 2)\n"}},
		{name: "deploy from stdin with the solution from env", env: envSol, stdin: "return 'x'\n", args: []string{"endpoint", "deploy", "POST", "/users/{id}", "-"}, wantOut: []string{"created POST /users/{id} (version 1)\n"}},
		{name: "get prints the script verbatim", env: envSol, args: []string{"endpoint", "get", "GET", "/hello"}},
		{name: "get with a parameter path", env: envSol, args: []string{"endpoint", "get", "post", "/users/{id}"}, wantOut: []string{"return 'x'\n"}},
		{name: "get JSON", env: envSol, args: []string{"endpoint", "get", "GET", "/hello", "-o", "json"}, wantOut: []string{`"script": "return {status = 200, body = 'hi'}"`, `"version": 2`}},
		{name: "list", env: envSol, args: []string{"endpoint", "list"}, wantOut: []string{"METHOD  PATH         VERSION  UPDATED\n", "GET     /hello       2        2026-01-02T03:04:05Z\n", "GET     /seed        1        -\n", "POST    /users/{id}  1        2026-01-02T03:04:05Z\n"}},
		{name: "flag wins over env", env: envSol, args: []string{"endpoint", "list", "-s", "other"}, code: ExitFailure, wantErr: []string{`no solution "other"`}},
		{name: "compile error at file:line", env: envSol, args: []string{"endpoint", "deploy", "GET", "/broken", broken}, code: ExitFailure,
			wantErr: []string{"switchboard: " + broken + ":3: GET /broken: script: line 3: syntax error near 'error' (HTTP 400, field script, line 3)\n"}},
		{name: "compile error from stdin", env: envSol, stdin: "syntax error\n", args: []string{"endpoint", "deploy", "GET", "/broken", "-"}, code: ExitFailure,
			wantErr: []string{"switchboard: stdin:1: GET /broken: script: line 1"}},
		{name: "delete", env: envSol, args: []string{"endpoint", "delete", "GET", "/hello"}, wantOut: []string{"deleted GET /hello\n"}},
		{name: "delete again", env: envSol, args: []string{"endpoint", "delete", "GET", "/hello"}, code: ExitFailure, wantErr: []string{"no endpoint GET /hello (HTTP 404)"}},
		{name: "no solution", env: env, args: []string{"endpoint", "list"}, code: ExitUsage, wantErr: []string{"no solution given: use -s/--solution or set SWITCHBOARD_SOLUTION"}},
		{name: "bad method", env: envSol, args: []string{"endpoint", "get", "FETCH", "/x"}, code: ExitUsage, wantErr: []string{`unknown HTTP method "FETCH"`}},
		{name: "path without slash", env: envSol, args: []string{"endpoint", "delete", "GET", "x"}, code: ExitUsage, wantErr: []string{`path "x" must start with "/"`}},
		{name: "unreadable file", env: envSol, args: []string{"endpoint", "deploy", "GET", "/x", filepath.Join(dir, "missing.lua")}, code: ExitUsage, wantErr: []string{"switchboard: cannot read " + filepath.Join(dir, "missing.lua") + ": no such file or directory"}},
		{name: "missing FILE", env: envSol, args: []string{"endpoint", "deploy", "GET", "/x"}, code: ExitUsage, wantErr: []string{"switchboard endpoint deploy: missing FILE"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := runCLI(t, st.env, st.stdin, st.args...)
			r.check(t, st.code, st.wantOut, st.wantErr)
			if st.name == "get prints the script verbatim" && r.stdout != "return {status = 200, body = 'hi'}" {
				t.Errorf("stdout = %q", r.stdout)
			}
		})
	}
	want := map[string]string{"GET /seed": "return 'seed'\n", "POST /users/{id}": "return 'x'\n"}
	if got := fake.scripts("demo"); !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints = %v, want %v", got, want)
	}
}

func TestUsageErrors(t *testing.T) {
	env := clientEnv(t, "http://127.0.0.1:1")
	tests := []struct {
		args    []string
		env     map[string]string
		wantErr string
	}{
		{args: []string{"nope"}, wantErr: `unknown command "nope" for "switchboard"`},
		{args: []string{"solution", "nope"}, wantErr: `unknown command "nope" for "switchboard solution"`},
		{args: []string{"solution", "list", "--nope"}, wantErr: "unknown flag: --nope"},
		{args: []string{"solution", "create"}, wantErr: "switchboard solution create: missing ID"},
		{args: []string{"solution", "create", "a", "b"}, wantErr: `switchboard solution create takes ID, got extra arguments "b"`},
		{args: []string{"solution", "get", ""}, wantErr: "switchboard solution get: ID is empty"},
		{args: []string{"solution", "list", "extra"}, wantErr: `switchboard solution list takes no arguments, got "extra"`},
		{args: []string{"solution", "create", "a", "--call-depth", "deep"}, wantErr: `invalid argument "deep" for "--call-depth"`},
		{args: []string{"endpoint", "get", "GET"}, wantErr: "switchboard endpoint get: missing PATH"},
		{args: []string{"deploy"}, wantErr: "switchboard deploy: missing DIR"},
		{args: []string{"deploy", "/does/not/exist", "-s", "demo"}, wantErr: "cannot read /does/not/exist: no such file or directory"},
		{args: []string{"version", "-o", "yaml"}, wantErr: `--output "yaml": want text or json`},
		{args: []string{"solution", "list"}, env: clientEnv(t, "http://[::1"), wantErr: `--server "http://[::1": want a URL`},
		{args: []string{"solution", "list"}, env: clientEnv(t, "ftp://x"), wantErr: `--server "ftp://x": want a URL`},
		{args: []string{"serve", "extra"}, wantErr: `switchboard serve takes no arguments, got "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := env
			if tt.env != nil {
				e = tt.env
			}
			r := runCLI(t, e, "", tt.args...)
			r.check(t, ExitUsage, nil, []string{"switchboard: " + tt.wantErr, "--help' for usage."})
			if r.stdout != "" {
				t.Errorf("stdout not empty: %q", r.stdout)
			}
		})
	}
}

func TestServerUnavailable(t *testing.T) {
	fake, url := newFakeAPI(t)
	fake.setFailing(true, false)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	tests := []struct {
		name    string
		url     string
		args    []string
		wantErr string
	}{
		{"connection refused", downURL, []string{"solution", "list"}, "switchboard: cannot reach the server at " + downURL + " (GET /api/v1/solutions): "},
		{"deploy with connection refused", downURL, []string{"deploy", t.TempDir(), "-s", "demo"}, "cannot reach the server"},
		{"5xx", url, []string{"solution", "get", "demo"}, "switchboard: internal error: engine down (HTTP 500)"},
		{"5xx in endpoint deploy", url, []string{"endpoint", "deploy", "GET", "/x", "-", "-s", "demo"}, "switchboard: internal error: engine down (HTTP 500)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runCLI(t, clientEnv(t, tt.url), "return 1", tt.args...).check(t, ExitUnavailable, nil, []string{tt.wantErr})
		})
	}
}

func TestTokenResolution(t *testing.T) {
	_, url := newFakeAPI(t)
	withFile := t.TempDir()
	os.WriteFile(filepath.Join(withFile, "admin-token"), []byte(fakeToken+"\n"), 0o600)
	wrongFile := t.TempDir()
	os.WriteFile(filepath.Join(wrongFile, "admin-token"), []byte("wrong-token-0123456789\n"), 0o600)
	empty := t.TempDir()
	emptyFile := t.TempDir()
	os.WriteFile(filepath.Join(emptyFile, "admin-token"), []byte("\n"), 0o600)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
	}{
		{"admin-token file from SWITCHBOARD_DATA", map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_DATA": withFile}, nil, ExitOK},
		{"admin-token file from --data", map[string]string{"SWITCHBOARD_SERVER": url}, []string{"--data", withFile}, ExitOK},
		{"no token anywhere", map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_DATA": empty}, nil, ExitFailure},
		{"empty token file", map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_DATA": emptyFile}, nil, ExitFailure},
		{"SWITCHBOARD_TOKEN wins over the file", map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_DATA": withFile, "SWITCHBOARD_TOKEN": "wrong-token-0123456789"}, nil, ExitFailure},
		{"--token wins over SWITCHBOARD_TOKEN", map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_DATA": empty, "SWITCHBOARD_TOKEN": "wrong"}, []string{"--token", fakeToken}, ExitOK},
		{"SWITCHBOARD_TOKEN over a wrong file", map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_DATA": wrongFile, "SWITCHBOARD_TOKEN": fakeToken}, nil, ExitOK},
		{"--server wins over SWITCHBOARD_SERVER", map[string]string{"SWITCHBOARD_SERVER": "http://127.0.0.1:1", "SWITCHBOARD_TOKEN": fakeToken, "SWITCHBOARD_DATA": empty}, []string{"--server", url}, ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"solution", "list"}, tt.args...)
			var wantErr []string
			if tt.code != 0 {
				wantErr = []string{"unknown token (HTTP 401)"}
			}
			r := runCLI(t, tt.env, "", args...)
			r.check(t, tt.code, nil, wantErr)
			hinted := strings.Contains(r.stderr, "no token was sent")
			if noToken := strings.HasPrefix(tt.name, "no token") || strings.HasPrefix(tt.name, "empty token"); hinted != noToken {
				t.Errorf("hint about the missing token shown = %v:\n%s", hinted, r.stderr)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	fake, url := newFakeAPI(t)
	fake.put("demo", "GET", "/a", "return 1\n")
	env := clientEnv(t, url)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"solution", "create", "new", "-o", "json"}, `{"id":"new","created_at":"2026-01-02T03:04:05Z","limits":{},"debug":false,"token":"sbs_new"}`},
		{[]string{"solution", "get", "new", "-o", "json"}, `{"id":"new","created_at":"2026-01-02T03:04:05Z","limits":{},"debug":false}`},
		{[]string{"solution", "delete", "new", "--output", "json"}, `{"deleted":true,"id":"new"}`},
		{[]string{"endpoint", "list", "-s", "demo", "-o", "json"}, `{"items":[{"method":"GET","path":"/a","script":"return 1\n","version":1}]}`},
		{[]string{"endpoint", "deploy", "GET", "/a", "-", "-s", "demo", "-o", "json"}, `{"method":"GET","path":"/a","script":"return 2\n","version":2,"updated_at":"2026-01-02T03:04:05Z","created":false}`},
		{[]string{"endpoint", "delete", "GET", "/a", "-s", "demo", "-o", "json"}, `{"deleted":true,"method":"GET","path":"/a"}`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, env, "return 2\n", tt.args...)
			r.check(t, 0, nil, nil)
			var got, want any
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
			}
			json.Unmarshal([]byte(tt.want), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("stdout = %s, want %s", r.stdout, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "", "version")
	r.check(t, 0, []string{"switchboard " + currentVersion() + "\n"}, nil)
	r = runCLI(t, nil, "", "version", "-o", "json")
	r.check(t, 0, []string{`"version": "` + currentVersion() + `"`}, nil)
}

// TestHelp checks that every command has help text and an example, and that the root help
// documents exit codes and environment variables.
func TestHelp(t *testing.T) {
	root := (&app{}).newRootCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || c.Parent() != nil && c.Parent().Name() == "completion" {
			return
		}
		if c.Short == "" {
			t.Errorf("%s has no short help", c.CommandPath())
		}
		if c.HasParent() && !c.HasSubCommands() && c.Example == "" {
			t.Errorf("%s has no example", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Usage == "" {
				t.Errorf("%s --%s has no help", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)

	r := runCLI(t, nil, "", "--help")
	r.check(t, 0, []string{
		"Exit codes:", "0  success", "1  the server refused", "2  bad usage", "3  the server could not be reached",
		"SWITCHBOARD_TOKEN", "<data>/admin-token",
	}, nil)
	r = runCLI(t, nil, "", "serve", "--help")
	for _, env := range []string{"ADDR", "DATA", "NATS_URL", "NATS_LISTEN", "ADMIN_TOKEN", "REGISTRATION_TOKEN", "INSTANCE_NAME", "APPS_DOMAIN", "SHUTDOWN_TIMEOUT", "MAX_BODY_BYTES", "LOG_LEVEL", "LOG_FORMAT"} {
		if !strings.Contains(r.stdout, "(env SWITCHBOARD_"+env+")") {
			t.Errorf("serve --help does not name SWITCHBOARD_%s", env)
		}
	}
	// A group without a subcommand shows its help.
	runCLI(t, nil, "", "endpoint").check(t, 0, []string{"switchboard endpoint [command]"}, nil)
}
