package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

func TestConnectorUsage(t *testing.T) {
	_, url := newFakeAPI(t)
	env := clientEnv(t, url)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"connector", "list"}, "no solution given"},
		{[]string{"connector", "create", "-s", "demo"}, "missing NAME"},
		{[]string{"connector", "create", "tick", "--topic", "a.b", "-s", "demo"}, "--type: required"},
		{[]string{"connector", "create", "tick", "--type", "cron", "-s", "demo"}, "--topic: required"},
		{[]string{"connector", "create", "tick", "--type", "cron", "--topic", "a.b", "--config", "{nope", "-s", "demo"}, "--config: not JSON"},
		{[]string{"connector", "create", "tick", "--type", "cron", "--topic", "a.b", "--config", "@/no/such/file.json", "-s", "demo"}, "cannot read /no/such/file.json"},
		{[]string{"connector", "update", "tick", "-s", "demo"}, "--config: required"},
		{[]string{"connector", "pause", "-s", "demo"}, "missing NAME"},
	} {
		runCLI(t, env, "", tc.args...).check(t, ExitUsage, nil, []string{tc.want})
	}
}

// TestConnectorAgainstServer: a cron connector made with the CLI ticks into a handler; list,
// show, pause, resume, update and delete say what they did; a refused config names its field.
func TestConnectorAgainstServer(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	token := s.CreateSolution(t, "demo")
	env := map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": token, "SWITCHBOARD_DATA": t.TempDir()}
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", token, map[string]any{"name": "count", "topics": []string{"ticks.second"}, "script": `Keystore.incr({key = "ticks"})`}); r.Status >= 300 {
		t.Fatalf("deploy: %d %s", r.Status, r.Body)
	}

	runCLI(t, env, "", "connector", "types").check(t, 0, []string{"TYPE", "cron", "schedule"}, nil)
	runCLI(t, env, "", "connector", "types", "cron").check(t, 0, []string{"cron: ", "config schema:", `"schedule"`}, nil)
	runCLI(t, env, "", "connector", "types", "nope").check(t, ExitFailure, nil, []string{`no connector type "nope"`})
	runCLI(t, env, "", "connector", "list", "-s", "demo").check(t, 0, []string{"solution demo has no connectors"}, nil)

	cfg := filepath.Join(t.TempDir(), "tick.json")
	if err := os.WriteFile(cfg, []byte(`{"schedule": "@every 1s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, env, "", "connector", "create", "tick", "--type", "cron", "--topic", "ticks.second", "--config", "@"+cfg, "-s", "demo").
		check(t, 0, []string{"created connector tick (cron on ticks.second, version 1)"}, nil)
	runCLI(t, env, "", "connector", "create", "tick", "--type", "cron", "--topic", "ticks.second", "--config", "@"+cfg, "-s", "demo").
		check(t, ExitFailure, nil, []string{`connector "tick" exists`, "field name"})
	runCLI(t, env, "", "connector", "create", "bad", "--type", "cron", "--topic", "ticks.second", "--config", `{"schedule": "nonsense"}`, "-s", "demo").
		check(t, ExitFailure, nil, []string{"HTTP 400, field config.schedule"})

	hubtest.Eventually(t, "two ticks published", func() bool {
		r := runCLI(t, env, "", "connector", "show", "tick", "-s", "demo", "-o", "json")
		var c struct {
			Status struct {
				State     string `json:"state"`
				Published int    `json:"published"`
			} `json:"status"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &c) != nil {
			t.Fatalf("show -o json: %d %s %s", r.code, r.stdout, r.stderr)
		}
		return c.Status.State == "running" && c.Status.Published >= 2
	})
	runCLI(t, env, "", "connector", "list", "-s", "demo").check(t, 0,
		[]string{"NAME", "TYPE", "TOPIC", "STATE", "RECEIVED", "PUBLISHED", "REJECTED", "tick", "cron", "ticks.second", "running"}, nil)
	runCLI(t, env, "", "connector", "show", "tick", "-s", "demo").check(t, 0,
		[]string{"name:", "tick", "config:", `{"schedule":"@every 1s"}`, "state:", "running", "instance:", "published:"}, nil)

	runCLI(t, env, "", "connector", "pause", "tick", "-s", "demo").check(t, 0, []string{"paused connector tick"}, nil)
	runCLI(t, env, "", "connector", "list", "-s", "demo").check(t, 0, []string{"paused"}, nil)
	runCLI(t, env, "", "connector", "update", "tick", "--config", `{"schedule": "@every 2s"}`, "-s", "demo").
		check(t, 0, []string{"updated connector tick (cron on ticks.second, version 3)"}, nil)
	runCLI(t, env, "", "connector", "show", "tick", "-s", "demo").check(t, 0, []string{"paused", "@every 2s"}, nil)
	runCLI(t, env, "", "connector", "resume", "tick", "-s", "demo", "-o", "json").check(t, 0, []string{`"paused": false`}, nil)
	runCLI(t, env, "", "connector", "delete", "tick", "-s", "demo").check(t, 0, []string{"deleted connector tick"}, nil)
	runCLI(t, env, "", "connector", "show", "tick", "-s", "demo").check(t, ExitFailure, nil, []string{`no connector "tick"`})
}
