package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

func TestConnectorOutUsage(t *testing.T) {
	_, url := newFakeAPI(t)
	env := clientEnv(t, url)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"connector", "create", "o", "--type", "nats", "--direction", "sideways", "-s", "demo"}, "--direction: want in or out"},
		{[]string{"connector", "create", "o", "--type", "nats", "--direction", "out", "--topic", "a.b", "-s", "demo"}, "--topic: an outbound connector"},
		{[]string{"connector", "create", "o", "--type", "nats", "-s", "demo"}, "or --direction out"},
	} {
		runCLI(t, env, "", tc.args...).check(t, ExitUsage, nil, []string{tc.want})
	}
}

// TestConnectorOutAgainstServer: an outbound connector made with the CLI takes no topic;
// types, list, show and update say what it is.
func TestConnectorOutAgainstServer(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	token := s.CreateSolution(t, "demo")
	env := map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": token, "SWITCHBOARD_DATA": t.TempDir()}

	runCLI(t, env, "", "connector", "types").check(t, 0, []string{"DIRECTIONS", "in, out"}, nil)
	runCLI(t, env, "", "connector", "types", "mqtt").check(t, 0,
		[]string{"outbound (--direction out): ", "Outbound.publish arguments: connector, data, topic, qos, retain, headers, content_type", "outbound secrets: password", "outbound config schema:", `"retry"`}, nil)
	r := runCLI(t, env, "", "connector", "types", "cron")
	r.check(t, 0, []string{"config schema:"}, nil)
	if strings.Contains(r.stdout, "outbound") {
		t.Errorf("cron shows an outbound schema:\n%s", r.stdout)
	}

	// smtp only sends: the one direction it lists, and its one schema the outbound one.
	r = runCLI(t, env, "", "connector", "types")
	if !slices.ContainsFunc(strings.Split(r.stdout, "\n"), func(l string) bool { f := strings.Fields(l); return len(f) > 1 && f[0] == "smtp" && f[1] == "out" }) {
		t.Errorf("types lists no smtp of direction out alone:\n%s", r.stdout)
	}
	r = runCLI(t, env, "", "connector", "types", "smtp")
	r.check(t, 0, []string{"outbound (--direction out): ", "Outbound.publish arguments: connector, data, recipient", "outbound config schema:"}, nil)
	if strings.Contains(r.stdout, "\nconfig schema:") {
		t.Errorf("smtp shows an inbound schema:\n%s", r.stdout)
	}
	runCLI(t, env, "", "connector", "create", "mail", "--type", "smtp", "--direction", "in", "--topic", "mails", "--config", `{"host": "smtp.example.com"}`, "-s", "demo").
		check(t, ExitFailure, nil, []string{"HTTP 400, field direction"})
	runCLI(t, env, "", "connector", "create", "mail", "--type", "smtp", "--direction", "out", "--config", `{"host": "smtp.example.com", "password": "pw-5678", "username": "u"}`, "-s", "demo").
		check(t, 0, []string{"created connector mail (smtp, outbound, version 1)"}, nil)

	runCLI(t, env, "", "connector", "create", "alerts", "--type", "mqtt", "--direction", "out", "--config", `{"url": "mqtt://127.0.0.1:1883", "topic": "alerts", "username": "u", "password": "pw-1234"}`, "-s", "demo").
		check(t, 0, []string{"created connector alerts (mqtt, outbound, version 1)"}, nil)
	runCLI(t, env, "", "connector", "create", "tick", "--type", "cron", "--direction", "out", "--config", `{"schedule": "@hourly"}`, "-s", "demo").
		check(t, ExitFailure, nil, []string{"HTTP 400, field direction"})
	runCLI(t, env, "", "connector", "list", "-s", "demo").check(t, 0,
		[]string{"NAME", "DIRECTION", "FAILED", "alerts", "mqtt", "out", "ready"}, nil)
	r = runCLI(t, env, "", "connector", "show", "alerts", "-s", "demo")
	r.check(t, 0, []string{"direction:", "out", `"password":"(set)"`, "state:", "ready", "failed:"}, nil)
	for _, no := range []string{"topic:", "pw-1234", "rejected:"} {
		if strings.Contains(r.stdout, no) {
			t.Errorf("show has %q:\n%s", no, r.stdout)
		}
	}
	// Updated without --direction or --topic: it stays outbound, with no topic.
	runCLI(t, env, "", "connector", "update", "alerts", "--config", `{"url": "mqtt://127.0.0.1:1883", "topic": "alarms"}`, "-s", "demo").
		check(t, 0, []string{"updated connector alerts (mqtt, outbound, version 2)"}, nil)
	runCLI(t, env, "", "connector", "update", "alerts", "--direction", "in", "--config", `{"url": "mqtt://127.0.0.1:1883", "topics": ["a/#"]}`, "-s", "demo").
		check(t, ExitFailure, nil, []string{"field topic"})
}
