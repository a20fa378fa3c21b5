package hub_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// startGoDemo builds and runs examples/demoexternalservice against s, and waits until it has
// registered.
func startGoDemo(t *testing.T, s *hubtest.Server) *demoProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demoexternalservice")
	build := exec.Command("go", "build", "-o", bin, "./examples/demoexternalservice")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example service: %v\n%s", err, out)
	}
	return runDemo(t, s, "", bin)
}

// startNodeDemo installs and runs examples/demoexternalservice-node (Node.js with express)
// against s. It needs node and npm with the npm registry: set SWITCHBOARD_TEST_NODE=1.
func startNodeDemo(t *testing.T, s *hubtest.Server) *demoProcess {
	t.Helper()
	if os.Getenv("SWITCHBOARD_TEST_NODE") == "" {
		t.Skip("SWITCHBOARD_TEST_NODE is not set (needs node, npm and the npm registry); .ci/run sets it when node is installed")
	}
	dir := t.TempDir()
	src := filepath.Join("..", "..", "examples", "demoexternalservice-node")
	for _, f := range []string{"app.js", "package.json", "swagger.yaml"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install := exec.Command("npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	return runDemo(t, s, dir, "node", "app.js")
}

// demoProcess is a running example service; it can be stopped and started again on the same
// port, with the same token file.
type demoProcess struct {
	t       *testing.T
	s       *hubtest.Server
	dir     string
	command []string
	env     []string
	logs    *hubtest.LogBuffer
	stop    func()
	starts  int
}

// runDemo runs a demo service command in dir against s and waits until it has registered.
func runDemo(t *testing.T, s *hubtest.Server, dir string, command ...string) *demoProcess {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	d := &demoProcess{t: t, s: s, dir: dir, command: command, logs: &hubtest.LogBuffer{},
		env: append(os.Environ(), "SWITCHBOARD_URL="+s.URL, "SWITCHBOARD_REGISTRATION_TOKEN="+s.Hub.RegistrationToken(),
			"SWITCHBOARD_SERVICE_TOKEN_FILE="+filepath.Join(t.TempDir(), "service.token"), "PORT="+port, "SERVICE_HOST=127.0.0.1")}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("demoexternalservice said:\n%s", d.logs.String())
		}
	})
	d.Start(1)
	return d
}

// Start runs the service and waits until the hub has version (or a later one) of it.
func (d *demoProcess) Start(version int) {
	d.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, d.command[0], d.command[1:]...)
	cmd.Dir, cmd.Env = d.dir, d.env
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	if err := cmd.Start(); err != nil {
		cancel()
		d.t.Fatal(err)
	}
	d.stop = func() {
		cancel()
		cmd.Wait() //nolint:errcheck // killed
	}
	hubtest.Eventually(d.t, "demoexternalservice to register", func() bool {
		var v struct{ Version int }
		r := d.s.Do(d.t, "GET", "/api/v1/services/demoexternalservice", d.s.AdminToken, nil)
		if r.Status != http.StatusOK {
			return false
		}
		r.JSON(d.t, &v)
		return v.Version >= version
	})
	// The service serves the hub's calls once it has the hub's answer, which it logs.
	d.starts++
	hubtest.Eventually(d.t, "demoexternalservice to log its registration", func() bool {
		n := 0
		for _, line := range strings.Split(d.logs.String(), "\n") {
			if strings.Contains(line, "registered") {
				n++
			}
		}
		return n >= d.starts
	})
}

// Stop kills the service and waits for it to end.
func (d *demoProcess) Stop() {
	if d.stop != nil {
		d.stop()
		d.stop = nil
	}
}

// TestDynamicServiceSeed walks the seed with each example service: a service registers, is in
// the marketplace, is added to a solution, and that solution's endpoint script calls it, which
// calls the Keystore back; it triggers its event, which the solution's handler answers.
func TestDynamicServiceSeed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(*testing.T, *hubtest.Server) *demoProcess
	}{{"go", startGoDemo}, {"node", startNodeDemo}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := hubtest.Start(t)
			tc.start(t, s)
			seedWalk(t, s)
		})
	}
}

// TestDynamicServiceRestart: each example service, restarted, registers again with the token
// it kept (the hub would refuse it otherwise) and goes on working for the solution that added
// it, with the same token.
func TestDynamicServiceRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(*testing.T, *hubtest.Server) *demoProcess
	}{{"go", startGoDemo}, {"node", startNodeDemo}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := hubtest.Start(t)
			d := tc.start(t, s)
			createSolution(t, s, "demo", nil)
			for _, svc := range []string{"demoexternalservice", "keystore"} {
				if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": svc}); r.Status != http.StatusCreated {
					t.Fatalf("add %s: %d %s", svc, r.Status, r.Body)
				}
			}
			s.Deploy(t, "demo", "GET", "/through", `Keystore.set({key="k", value="v"})
return Demoexternalservice.callService({service="Keystore", operation="get", args="k"})`)
			wantJSON(t, call(t, s, "GET", "/apps/demo/through", 10*time.Second), `{"value":"v"}`)
			token := s.Hub.ServiceToken("demoexternalservice")

			d.Stop()
			d.Start(2) // registered again: version 2
			if got := s.Hub.ServiceToken("demoexternalservice"); got != token {
				t.Errorf("the service token changed across the restart")
			}
			// The service logs the hub's answer once it has it, a moment after the hub stored it.
			hubtest.Eventually(t, "the restarted service to log its update", func() bool {
				return strings.Contains(d.logs.String(), "updated")
			})
			wantJSON(t, call(t, s, "GET", "/apps/demo/through", 10*time.Second), `{"value":"v"}`)
		})
	}
}

func seedWalk(t *testing.T, s *hubtest.Server) {
	t.Helper()

	r := s.Do(t, "GET", "/api/v1/services", s.AdminToken, nil)
	var list struct {
		Items []struct {
			Name, Kind string
			Health     struct{ Status string }
			Version    int
		}
	}
	r.JSON(t, &list)
	found := false
	for _, it := range list.Items {
		if it.Name == "demoexternalservice" {
			found = it.Kind == "dynamic" && it.Health.Status == "up" && it.Version == 1
		}
	}
	if !found {
		t.Fatalf("marketplace: %s", r.Body)
	}

	createSolution(t, s, "demo", nil)
	s.Deploy(t, "demo", "GET", "/dynamic-service", `Keystore.set({key="my-key", value="my-key-value-updated"})
return Demoexternalservice.callService({service="Keystore", operation="get", args="my-key"})`)
	// Not added yet: the script does not see the service.
	if r := call(t, s, "GET", "/apps/demo/dynamic-service", 10*time.Second); r.Status != http.StatusInternalServerError {
		t.Fatalf("before adding the service: %d %s", r.Status, r.Body)
	}
	for _, svc := range []string{"demoexternalservice", "Keystore"} {
		if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": svc}); r.Status != http.StatusCreated {
			t.Fatalf("add %s: %d %s", svc, r.Status, r.Body)
		}
	}
	wantJSON(t, call(t, s, "GET", "/apps/demo/dynamic-service", 10*time.Second), `{"value":"my-key-value-updated"}`)

	s.Deploy(t, "demo", "GET", "/services", `return Config.listservices()`)
	if r := call(t, s, "GET", "/apps/demo/services", 10*time.Second); r.Status != 200 || !strings.Contains(string(r.Body), `"service":"demoexternalservice"`) {
		t.Fatalf("Config.listservices: %d %s", r.Status, r.Body)
	}

	// The service triggers its own event; the solution's handler (Murano's naming) answers.
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, map[string]any{
		"name": "demoexternalservice_event", "script": "return Config.listservices()"}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	s.Deploy(t, "demo", "GET", "/trigger", `return Demoexternalservice.triggerEvent({service="demoexternalservice", event="event"})`)
	if r := call(t, s, "GET", "/apps/demo/trigger", 10*time.Second); r.Status != 200 ||
		!strings.Contains(string(r.Body), `"service":"demoexternalservice"`) || !strings.Contains(string(r.Body), `"service":"keystore"`) {
		t.Fatalf("triggerEvent: %d %s, want the handler's Config.listservices()", r.Status, r.Body)
	}
	// Asynchronously: 202 with an id, and the handler runs durably later.
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, map[string]any{
		"name": "later", "topics": []string{"demoexternalservice.event"},
		"script": `Keystore.set({key="async", value=event.data.n}); return 1`}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	s.Deploy(t, "demo", "GET", "/trigger-async", `return Demoexternalservice.triggerEvent({service="demoexternalservice", event="event", data={n="42"}, async=true})`)
	if r := call(t, s, "GET", "/apps/demo/trigger-async", 10*time.Second); r.Status != 200 || !strings.Contains(string(r.Body), `"id"`) {
		t.Fatalf("async triggerEvent: %d %s", r.Status, r.Body)
	}
	s.Deploy(t, "demo", "GET", "/async-value", `return Keystore.get({key="async"})`)
	hubtest.Eventually(t, "the async handler to run", func() bool {
		return string(call(t, s, "GET", "/apps/demo/async-value", 10*time.Second).Body) == `{"value":"42"}`
	})

	// The dispatcher refuses wrong tokens and solutions that did not add the caller.
	tok := func(v string) map[string]string { return map[string]string{"Authorization": v} }
	for _, tc := range []struct {
		name, path string
		header     map[string]string
		status     int
	}{
		{"no token", "/api/v1/call/demo/keystore/get", nil, 401},
		{"wrong token", "/api/v1/call/demo/keystore/get", tok("demoexternalservice nope"), 401},
		{"other solution", "/api/v1/call/other/keystore/get", tok("demoexternalservice " + s.Hub.ServiceToken("demoexternalservice")), 403},
		{"another service's event", "/api/v1/trigger/demo/keystore/event", tok("demoexternalservice " + s.Hub.ServiceToken("demoexternalservice")), 403},
		{"undeclared event", "/api/v1/trigger/demo/demoexternalservice/other", tok("demoexternalservice " + s.Hub.ServiceToken("demoexternalservice")), 403},
		{"trigger in a solution without it", "/api/v1/trigger/other/demoexternalservice/event", tok("demoexternalservice " + s.Hub.ServiceToken("demoexternalservice")), 403},
	} {
		req, _ := http.NewRequest("POST", s.URL+tc.path, strings.NewReader(`{"key":"my-key"}`))
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		if r := s.Send(t, req); r.Status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.Status, r.Body, tc.status)
		}
	}
}
