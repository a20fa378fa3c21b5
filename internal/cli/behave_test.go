package cli

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func TestVersionFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-03-04T05:06:07Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := buildInfoFrom(bi)
	if got.Commit != "0123456789abcdef0123456789abcdef01234567" || got.Date != "2026-03-04T05:06:07Z" || !got.Modified || got.Version != currentVersion() {
		t.Errorf("buildInfoFrom = %+v", got)
	}
	text := got.text()
	for _, want := range []string{"switchboard " + currentVersion() + "\n", "commit:  0123456789abcdef0123456789abcdef01234567 (with uncommitted changes)\n", "date:    2026-03-04T05:06:07Z\n", "go:      go"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	// Built without VCS information: no commit or date lines.
	if text := buildInfoFrom(&debug.BuildInfo{}).text(); strings.Contains(text, "commit:") || strings.Contains(text, "date:") {
		t.Errorf("text without VCS information:\n%s", text)
	}
	if got := buildInfoFrom(nil); got.Version != currentVersion() || got.Commit != "" {
		t.Errorf("buildInfoFrom(nil) = %+v", got)
	}
}

func TestVersionFlag(t *testing.T) {
	cmd := runCLI(t, nil, "", "version")
	flag := runCLI(t, nil, "", "--version")
	flag.check(t, 0, []string{"switchboard " + currentVersion() + "\n", "go:      go"}, nil)
	if flag.stdout != cmd.stdout {
		t.Errorf("--version printed\n%s\nversion printed\n%s", flag.stdout, cmd.stdout)
	}
	r := runCLI(t, nil, "", "version", "-o", "json")
	var info buildInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.Version != currentVersion() || info.Go == "" || info.Platform == "" {
		t.Errorf("version -o json: %s (%v)", r.stdout, err)
	}
}

// TestUnknownCommands: an unknown subcommand is reported as one at every level, with the
// commands it may have meant, whatever flags follow it.
func TestUnknownCommands(t *testing.T) {
	env := clientEnv(t, "http://127.0.0.1:1")
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"endpoint", "lsit", "-s", "demo"}, `unknown command "lsit" for "switchboard endpoint"; did you mean "list"?`},
		{[]string{"endpoint", "lsit"}, `unknown command "lsit" for "switchboard endpoint"; did you mean "list"?`},
		{[]string{"endpont", "list", "-s", "demo"}, `unknown command "endpont" for "switchboard"; did you mean "endpoint"?`},
		{[]string{"endpont", "-s", "demo"}, `unknown command "endpont" for "switchboard"; did you mean "endpoint"?`},
		{[]string{"keystore", "gte", "k", "-s", "demo"}, `unknown command "gte" for "switchboard keystore"; did you mean "get"?`},
		{[]string{"handler", "delet", "x", "-s", "demo"}, `unknown command "delet" for "switchboard handler"; did you mean "delete"?`},
		{[]string{"solution", "lst"}, `unknown command "lst" for "switchboard solution"; did you mean "get" or "list"?`},
		{[]string{"service", "zzzzzz", "--all"}, `unknown command "zzzzzz" for "switchboard service"` + "\n"},
		{[]string{"endpoint", "-s", "demo", "lsit"}, `unknown command "lsit" for "switchboard endpoint"; did you mean "list"?`},
		{[]string{"endpoint", "--nope"}, `unknown flag: --nope (the command of "switchboard endpoint" goes first, its flags after it)`},
		{[]string{"endpoint", "list", "--nope"}, "unknown flag: --nope\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, env, "", tt.args...)
			r.check(t, ExitUsage, nil, []string{"switchboard: " + tt.wantErr})
		})
	}
}

// TestJSONErrors: with -o json, errors are one JSON object on standard error.
func TestJSONErrors(t *testing.T) {
	_, url := newFakeAPI(t)
	down := httptest.NewServer(nil)
	downURL := down.URL
	down.Close()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want jsonError
	}{
		{"refused by the server", clientEnv(t, url), []string{"solution", "get", "nope", "-o", "json"},
			jsonError{Error: `no solution "nope"`, Status: 404, Field: "solution", ExitCode: ExitFailure}},
		{"unreachable", clientEnv(t, downURL), []string{"-o", "json", "solution", "list"},
			jsonError{Error: "cannot reach the server at " + downURL + " (GET /api/v1/solutions): ", ExitCode: ExitUnavailable}},
		{"usage", clientEnv(t, url), []string{"endpoint", "lsit", "-s", "demo", "--output=json"},
			jsonError{Error: `unknown command "lsit" for "switchboard endpoint"; did you mean "list"?`, ExitCode: ExitUsage}},
		{"bad flag before -o", clientEnv(t, url), []string{"solution", "list", "--nope", "-ojson"},
			jsonError{Error: "unknown flag: --nope", ExitCode: ExitUsage}},
		{"no token", map[string]string{"SWITCHBOARD_SERVER": url, "SWITCHBOARD_DATA": t.TempDir()}, []string{"solution", "list", "-o", "json"},
			jsonError{Error: "unknown token", Status: 401, ExitCode: ExitFailure, Hint: "no token was sent: give --token or SWITCHBOARD_TOKEN, or --data with the server's data folder (it holds admin-token)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, "", tt.args...)
			if r.code != tt.want.ExitCode || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			var got jsonError
			if err := json.Unmarshal([]byte(r.stderr), &got); err != nil {
				t.Fatalf("stderr is not JSON: %v\n%s", err, r.stderr)
			}
			if strings.HasSuffix(tt.want.Error, ": ") && strings.HasPrefix(got.Error, tt.want.Error) {
				got.Error = tt.want.Error // the cause after it depends on the system
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("stderr %+v\nwant   %+v", got, tt.want)
			}
		})
	}
	// Text mode is unchanged.
	runCLI(t, clientEnv(t, url), "", "solution", "get", "nope").check(t, ExitFailure, nil, []string{`switchboard: no solution "nope" (HTTP 404, field solution)`})
}

func TestJSONRequested(t *testing.T) {
	for args, want := range map[string]bool{
		"-o json":                     true,
		"x -ojson":                    true,
		"x -o=json":                   true,
		"x --output json":             true,
		"x --output=json":             true,
		"x -o text":                   false,
		"-o json x -o text":           false,
		"x":                           false,
		"x -- -o json":                false,
		"keystore set k -o":           false,
		"--output=text --output=json": true,
	} {
		if got := jsonRequested(strings.Fields(args)); got != want {
			t.Errorf("jsonRequested(%q) = %v, want %v", args, got, want)
		}
	}
}

// TestCompletion: the shell completes solutions, endpoints, handlers and services from the
// server, and completes nothing, quietly, when the server cannot be asked.
func TestCompletion(t *testing.T) {
	fake, url := newFakeAPI(t)
	fake.put("demo", "GET", "/users/{id}", "return 1")
	fake.put("demo", "POST", "/users", "return 1")
	fake.put("demo", "GET", "/health", "return 1")
	fake.put("dev", "GET", "/x", "return 1")
	fake.putHandler("demo", "svc_event", "return 1", "svc.event")
	fake.putService(apiclient.Service{Name: "twilio", Kind: "dynamic"})
	fake.putService(apiclient.Service{Name: "keystore", Kind: "core"})
	env := clientEnv(t, url)
	tests := []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"solution", "get", ""}, nil, []string{"demo", "dev"}},
		{[]string{"solution", "get", "de"}, nil, []string{"demo", "dev"}},
		{[]string{"solution", "get", "dem"}, nil, []string{"demo"}},
		{[]string{"solution", "get", "demo", ""}, nil, nil},
		{[]string{"endpoint", "list", "-s", ""}, nil, []string{"demo", "dev"}},
		{[]string{"keystore", "info", "--solution", "d"}, nil, []string{"demo", "dev"}},
		{[]string{"endpoint", "get", "-s", "demo", ""}, nil, []string{"GET", "POST"}},
		{[]string{"endpoint", "get", "-s", "demo", "GET", ""}, nil, []string{"/health", "/users/{id}"}},
		{[]string{"endpoint", "delete", "-s", "demo", "POST", "/"}, nil, []string{"/users"}},
		{[]string{"endpoint", "get", "GET", ""}, map[string]string{"SWITCHBOARD_SOLUTION": "dev"}, []string{"/x"}},
		{[]string{"handler", "get", "-s", "demo", ""}, nil, []string{"svc_event"}},
		{[]string{"service", "show", "t"}, nil, []string{"twilio"}},
		{[]string{"solution", "add-service", "demo", ""}, nil, []string{"keystore", "twilio"}},
		{[]string{"-o", ""}, nil, []string{"text", "json"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tt.env {
				e[k] = v
			}
			r := runCLI(t, e, "", append([]string{"__complete"}, tt.args...)...)
			got := completions(t, r)
			if want := sorted(tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("completions %q, want %q", got, want)
			}
		})
	}

	// No server, or a token it refuses: nothing, and no error.
	for _, e := range []map[string]string{clientEnv(t, "http://127.0.0.1:1"), {"SWITCHBOARD_SERVER": url, "SWITCHBOARD_TOKEN": "wrong", "SWITCHBOARD_DATA": t.TempDir()}} {
		r := runCLI(t, e, "", "__complete", "solution", "get", "")
		if got := completions(t, r); len(got) != 0 || strings.Contains(r.stdout+r.stderr, "switchboard:") {
			t.Errorf("completion without a server: %q\nstderr: %s", got, r.stderr)
		}
	}

	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := runCLI(t, nil, "", "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, "switchboard") {
			t.Errorf("completion %s: exit %d\n%s", shell, r.code, r.stderr)
		}
	}
}

// completions are the candidates of a __complete run, sorted, without the directive line.
func completions(t *testing.T, r result) []string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("__complete: exit %d\n%s", r.code, r.stderr)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line != "" && !strings.HasPrefix(line, ":") {
			out = append(out, line)
		}
	}
	return sorted(out)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
