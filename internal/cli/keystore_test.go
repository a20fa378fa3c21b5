package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestKeystoreCommands drives the keystore commands against a real server, with the
// solution's own token.
func TestKeystoreCommands(t *testing.T) {
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "demo")
	other := s.CreateSolution(t, "other")
	s.Deploy(t, "demo", "POST", "/fill", `Keystore.rpush({key = "queue", args = {"a", "b"}})
return {}`)
	s.Do(t, "POST", "/apps/demo/fill", "", nil)
	env := map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": tok, "SWITCHBOARD_DATA": t.TempDir(), "SWITCHBOARD_SOLUTION": "demo"}
	file := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(file, []byte("{\"a\": 1}\n"), 0o600)

	steps := []struct {
		args    []string
		stdin   string
		code    int
		wantOut string // the whole of stdout, when not empty
		wantErr string
	}{
		{args: []string{"keystore", "set", "greeting", "hello world"}, wantOut: "set greeting (11 bytes)\n"},
		{args: []string{"keystore", "get", "greeting"}, wantOut: "hello world\n"},
		{args: []string{"keystore", "set", "config", "--value", "@" + file}, wantOut: "set config (9 bytes)\n"},
		{args: []string{"keystore", "get", "config"}, wantOut: "{\"a\": 1}\n"},
		{args: []string{"keystore", "set", "a/b c", "--value", "-", "--ttl", "10m"}, stdin: "from stdin", wantOut: "set a/b c (10 bytes), expires in 10m0s\n"},
		{args: []string{"ks", "get", "a/b c"}, wantOut: "from stdin\n"},
		{args: []string{"keystore", "get", "queue"}, wantOut: "a\nb\n"},
		{args: []string{"keystore", "list"}, wantOut: "a/b c\nconfig\ngreeting\nqueue\n"},
		{args: []string{"keystore", "list", "--match", "g*"}, wantOut: "greeting\n"},
		{args: []string{"keystore", "list", "--count", "3"}, wantOut: "a/b c\nconfig\ngreeting\n", wantErr: "more keys: give --cursor "},
		{args: []string{"keystore", "info"}, wantOut: ""},
		{args: []string{"keystore", "del", "greeting"}, wantOut: "deleted greeting\n"},
		{args: []string{"keystore", "rm", "greeting"}, wantOut: "no key greeting: nothing deleted\n"},
		{args: []string{"keystore", "get", "greeting"}, code: ExitFailure, wantErr: `switchboard: no key "greeting" in the keystore of solution demo (HTTP 404, field key)`},
		{args: []string{"keystore", "get", "greeting", "-s", "other"}, code: ExitFailure, wantErr: "this token belongs to another solution (HTTP 403, field solution)"},
		{args: []string{"keystore", "set", "k"}, code: ExitUsage, wantErr: "missing VALUE"},
		{args: []string{"keystore", "set", "k", "v", "--value", "w"}, code: ExitUsage, wantErr: "not more"},
		{args: []string{"keystore", "set", "k", "v", "--ttl", "1500ms"}, code: ExitUsage, wantErr: "whole number of seconds"},
		{args: []string{"keystore", "set", "k", "--value", "@/does/not/exist"}, code: ExitUsage, wantErr: "cannot read /does/not/exist"},
		{args: []string{"keystore", "set", "k", strings.Repeat("x", 1<<20+1)}, code: ExitFailure, wantErr: "HTTP 413"},
		{args: []string{"keystore", "get"}, code: ExitUsage, wantErr: "missing KEY"},
		{args: []string{"keystore", "list", "--count", "0"}, code: ExitUsage, wantErr: "--count 0: must be at least 1"},
	}
	for _, st := range steps {
		t.Run(strings.Join(st.args, " "), func(t *testing.T) {
			r := runCLI(t, env, st.stdin, st.args...)
			var wantErr []string
			if st.wantErr != "" {
				wantErr = []string{st.wantErr}
			}
			r.check(t, st.code, nil, wantErr)
			if st.wantOut != "" && r.stdout != st.wantOut {
				t.Errorf("stdout %q, want %q", r.stdout, st.wantOut)
			}
		})
	}

	r := runCLI(t, env, "", "keystore", "info")
	r.check(t, 0, []string{"keys:           3 of 10000\n", "largest value:  1MiB\n"}, nil)

	var got map[string]any
	r = runCLI(t, env, "", "keystore", "get", "a/b c", "-o", "json")
	json.Unmarshal([]byte(r.stdout), &got)
	if ttl, _ := got["ttl"].(float64); got["value"] != "from stdin" || got["type"] != "string" || ttl < 590 || ttl > 600 {
		t.Errorf("get -o json: %s", r.stdout)
	}
	r = runCLI(t, env, "", "keystore", "list", "--count", "2", "-o", "json")
	var page struct {
		Keys   []string `json:"keys"`
		Cursor string   `json:"cursor"`
	}
	json.Unmarshal([]byte(r.stdout), &page)
	if !reflect.DeepEqual(page.Keys, []string{"a/b c", "config"}) || page.Cursor == "" {
		t.Fatalf("list --count 2 -o json: %s", r.stdout)
	}
	runCLI(t, env, "", "keystore", "list", "--count", "2", "--cursor", page.Cursor).check(t, 0, []string{"queue\n"}, nil)

	// The other solution's token sees its own, empty keystore.
	otherEnv := map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": other, "SWITCHBOARD_DATA": t.TempDir()}
	runCLI(t, otherEnv, "", "keystore", "list", "-s", "other", "-o", "json").check(t, 0, []string{`"keys": []`}, nil)
}
