package cli

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

const (
	clockFile = `-- A tick every second, and the handler of its topic.
--#CONNECTOR tick cron ticks.second
-- {"schedule": "@every 1s"}

--#EVENT ticks second
Keystore.incr({key = "ticks"})
`
	hookFile = `--#CONNECTOR hook webhook hooks.in
-- {"style": "shared",
--  "secret": "${HOOK_SECRET}"}

--#EVENT hooks in
Keystore.set({key = "got", value = event.data.n})
`
)

// shownConnector is what connector show -o json says of one.
type shownConnector struct {
	Type    string          `json:"type"`
	Topic   string          `json:"topic"`
	Config  json.RawMessage `json:"config"`
	Paused  bool            `json:"paused"`
	Version int             `json:"version"`
	Status  struct {
		State     string `json:"state"`
		Published int    `json:"published"`
	} `json:"status"`
}

func showConnector(t *testing.T, env map[string]string, name string) (shownConnector, bool) {
	t.Helper()
	r := runCLI(t, env, "", "connector", "show", name, "-o", "json")
	if r.code != 0 {
		return shownConnector{}, false
	}
	var c shownConnector
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("connector show -o json: %v\n%s", err, r.stdout)
	}
	return c, true
}

func keystoreValue(t *testing.T, s *hubtest.Server, sol, key string) string {
	t.Helper()
	r := s.Do(t, "GET", "/api/v1/solutions/"+sol+"/keystore/keys/"+key, s.AdminToken, nil)
	if r.Status != http.StatusOK {
		return ""
	}
	v, _ := r.Map(t)["value"].(string)
	return v
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDeployConnectorsAgainstServer: a folder's cron connector runs into the handler beside it,
// a webhook's secret comes from the environment and checks calls; deploying again sends only
// the connector with a secret; a changed schedule updates the connector (a paused one stays
// paused), one taken out of the folder is removed, and the last one only with --prune.
func TestDeployConnectorsAgainstServer(t *testing.T) {
	t.Parallel()
	s, env := realEnv(t)
	env["HOOK_SECRET"] = "s3cret-from-env"
	dir := writeTree(t, map[string]string{"app/clock.lua": clockFile, "app/hook.lua": hookFile})
	app, clock := filepath.Join(dir, "app"), filepath.Join(dir, "app", "clock.lua")

	r := runCLI(t, env, "", "deploy", app, "--dry-run")
	r.check(t, 0, []string{"+ CONNECTOR tick\n", "+ CONNECTOR hook\n", "dry run: 4 to add, 0 to update, 0 to remove, 0 unchanged\n"}, nil)
	if _, ok := showConnector(t, env, "tick"); ok {
		t.Fatal("the dry run created a connector")
	}

	r = runCLI(t, env, "", "deploy", app)
	r.check(t, 0, nil, nil)
	want := "+ EVENT ticks second\n+ EVENT hooks in\n+ CONNECTOR tick\n+ CONNECTOR hook\ndeployed: 4 added, 0 updated, 0 removed, 0 unchanged\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	hubtest.Eventually(t, "the cron connector's ticks to reach its handler", func() bool {
		n, _ := strconv.Atoi(keystoreValue(t, s, "demo", "ticks"))
		return n >= 1
	})
	if r := runCLI(t, env, "", "connector", "show", "hook", "-o", "json"); strings.Contains(r.stdout, "s3cret-from-env") || !strings.Contains(r.stdout, `"secret": "(set)"`) {
		t.Errorf("the webhook's secret is shown back, or not set:\n%s", r.stdout)
	}
	call := func(secret string) int {
		req, _ := http.NewRequest("POST", s.URL+"/hooks/demo/hook", strings.NewReader(`{"n": 7}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Webhook-Secret", secret)
		return s.Send(t, req).Status
	}
	if st := call("wrong-secret-value"); st != http.StatusUnauthorized {
		t.Errorf("a call with a wrong secret: %d, want 401", st)
	}
	if st := call("s3cret-from-env"); st != http.StatusAccepted {
		t.Fatalf("a call with the secret from the environment: %d, want 202", st)
	}
	hubtest.Eventually(t, "the webhook's call to reach its handler", func() bool { return keystoreValue(t, s, "demo", "got") == "7" })

	// Again: the connector with a secret is sent again, as it cannot be compared; the other
	// stays at its version.
	r = runCLI(t, env, "", "deploy", app)
	r.check(t, 0, nil, nil)
	if want := "~ CONNECTOR hook\ndeployed: 0 added, 1 updated, 0 removed, 3 unchanged\n"; r.stdout != want {
		t.Errorf("second deploy:\n%s\nwant:\n%s", r.stdout, want)
	}
	if c, _ := showConnector(t, env, "tick"); c.Version != 1 {
		t.Errorf("tick at version %d after a deploy that did not change it, want 1", c.Version)
	}

	// A changed schedule updates a paused connector, which stays paused.
	runCLI(t, env, "", "connector", "pause", "tick").check(t, 0, []string{"paused connector tick"}, nil)
	writeFile(t, clock, strings.Replace(clockFile, "@every 1s", "@every 2s", 1))
	r = runCLI(t, env, "", "deploy", app)
	r.check(t, 0, []string{"~ CONNECTOR tick\n", "~ CONNECTOR hook\n", "deployed: 0 added, 2 updated, 0 removed, 2 unchanged\n"}, nil)
	c, _ := showConnector(t, env, "tick")
	if !c.Paused || !jsonEqual(c.Config, json.RawMessage(`{"schedule":"@every 2s"}`)) || c.Type != "cron" || c.Topic != "ticks.second" {
		t.Errorf("tick after the update: %+v", c)
	}
	runCLI(t, env, "", "connector", "resume", "tick").check(t, 0, nil, nil)

	// Taken out of the folder, tick is removed, before its handler would be.
	writeFile(t, clock, "--#EVENT ticks second\nKeystore.incr({key = \"ticks\"})\n")
	r = runCLI(t, env, "", "deploy", app)
	r.check(t, 0, []string{"- CONNECTOR tick\n", "deployed: 0 added, 1 updated, 1 removed, 2 unchanged\n"}, nil)
	if _, ok := showConnector(t, env, "tick"); ok {
		t.Error("tick is still there")
	}

	// Without HOOK_SECRET nothing is sent, and the file and line are named.
	delete(env, "HOOK_SECRET")
	r = runCLI(t, env, "", "deploy", app)
	r.check(t, ExitFailure, nil, []string{"switchboard: " + filepath.Join(app, "hook.lua") +
		":3: CONNECTOR hook: config.secret: ${HOOK_SECRET}: the environment variable HOOK_SECRET is not set (or is empty)\n"})

	// The last connector goes only with --prune.
	writeFile(t, filepath.Join(app, "hook.lua"), "--#EVENT hooks in\nreturn 1\n")
	runCLI(t, env, "", "deploy", app).check(t, ExitFailure, nil, []string{
		"refusing to deploy " + app + ": it declares none of solution demo's 1 connector, so deploying it would remove them all:\n",
		"switchboard:   - CONNECTOR hook\n",
	})
	runCLI(t, env, "", "deploy", app, "--prune").check(t, 0, []string{"- CONNECTOR hook\n", "deployed: 0 added, 1 updated, 1 removed, 1 unchanged\n"}, nil)
	runCLI(t, env, "", "connector", "list").check(t, 0, []string{"solution demo has no connectors"}, nil)
}

// TestDeployConnectorsBoundsAgainstServer: what the server refuses of a connector — an unknown
// type, a schedule it cannot read, a config beyond its bound, a broker URL with credentials
// in it — is reported at its file and line; a solution's token reaches no other solution.
func TestDeployConnectorsBoundsAgainstServer(t *testing.T) {
	t.Parallel()
	s, env := realEnv(t)
	token := s.CreateSolution(t, "other")
	dir := writeTree(t, map[string]string{"a.lua": "--#EVENT ticks second\nreturn 1\n" +
		"--#CONNECTOR typo crom ticks.second\n-- {\"schedule\": \"@daily\"}\n" +
		"--#CONNECTOR bad cron ticks.second\n-- {\"schedule\": \"nonsense\"}\n" +
		"--#CONNECTOR big cron ticks.second\n-- {\"schedule\": \"@daily\", \"data\": \"" + strings.Repeat("x", 70<<10) + "\"}\n" +
		"--#CONNECTOR bus nats nats.in\n-- {\"url\": \"nats://sb:pw@127.0.0.1:1\", \"subjects\": [\"a.>\"]}\n" +
		"--#CONNECTOR good cron ticks.second\n-- {\"schedule\": \"@daily\"}\n",
	})
	a := filepath.Join(dir, "a.lua")
	other := map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": token, "SWITCHBOARD_DATA": t.TempDir(), "SWITCHBOARD_SOLUTION": "other"}

	// The solution's own token.
	r := runCLI(t, other, "", "deploy", dir)
	r.check(t, ExitFailure, []string{"+ EVENT ticks second\n", "+ CONNECTOR good\n"}, []string{
		"switchboard: " + a + `:3: CONNECTOR typo: type: "crom" is not a connector type; want one of `,
		"switchboard: " + a + ":5: CONNECTOR bad: config.schedule: ",
		"switchboard: " + a + ":7: CONNECTOR big: config: larger than 65536 bytes (HTTP 400, field config)\n",
		"switchboard: " + a + ":9: CONNECTOR bus: config.url: credentials go in user and password, or token, not the URL (HTTP 400, field config.url)\n",
		"switchboard: deploy failed: 4 of 6 changes failed\n",
	})
	if _, ok := showConnector(t, other, "good"); !ok {
		t.Error("the good connector was not created")
	}
	for _, name := range []string{"typo", "bad", "big", "bus"} {
		if _, ok := showConnector(t, other, name); ok {
			t.Errorf("connector %s was created", name)
		}
	}

	// The token of other reaches demo not at all: the first listing is refused.
	r = runCLI(t, other, "", "deploy", dir, "-s", "demo")
	r.check(t, ExitFailure, nil, []string{"HTTP 403"})
	if r.stdout != "" {
		t.Errorf("stdout: %q", r.stdout)
	}
	if _, ok := showConnector(t, env, "good"); ok {
		t.Error("a connector was created in demo with other's token")
	}
}
