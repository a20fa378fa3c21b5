package cli

import (
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestConnectorMaxPendingFlag: --max-pending sets a connector's bound, "connector update"
// keeps it unless given (0 goes back to the server's), a bound out of range is refused naming
// max_pending, and show and list tell the bound, the pending events and the lag.
func TestConnectorMaxPendingFlag(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, func(c *hub.Config) { c.ConnectorMaxPending = 700 })
	token := s.CreateSolution(t, "demo")
	env := map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": token, "SWITCHBOARD_DATA": t.TempDir()}
	hourly := `{"schedule": "@every 1h"}`

	runCLI(t, env, "", "connector", "create", "tick", "--type", "cron", "--topic", "ticks", "--config", hourly, "--max-pending", "-3", "-s", "demo").
		check(t, ExitFailure, nil, []string{"max_pending", "HTTP 400, field max_pending"})
	runCLI(t, env, "", "connector", "create", "tick", "--type", "cron", "--topic", "ticks", "--config", hourly, "--max-pending", "50", "-s", "demo").
		check(t, 0, []string{"created connector tick"}, nil)
	hubtest.Eventually(t, "the connector running with its bound", func() bool {
		r := runCLI(t, env, "", "connector", "show", "tick", "-s", "demo")
		return r.code == 0 && hasAll(r.stdout, "max pending:", "50", "state:", "running", "lag:", "-", "pending:", "0 of 50")
	})
	runCLI(t, env, "", "connector", "list", "-s", "demo").check(t, 0, []string{"STATE", "LAG", "tick", "running"}, nil)

	runCLI(t, env, "", "connector", "update", "tick", "--config", `{"schedule": "@every 2h"}`, "-s", "demo").check(t, 0, []string{"updated connector tick"}, nil)
	runCLI(t, env, "", "connector", "show", "tick", "-s", "demo", "-o", "json").check(t, 0, []string{`"max_pending": 50`, "@every 2h"}, nil)
	runCLI(t, env, "", "connector", "update", "tick", "--config", hourly, "--max-pending", "0", "-s", "demo").check(t, 0, []string{"updated connector tick"}, nil)
	runCLI(t, env, "", "connector", "show", "tick", "-s", "demo").check(t, 0, []string{"max pending:", "the server's bound"}, nil)
	hubtest.Eventually(t, "the server's bound in the status", func() bool {
		r := runCLI(t, env, "", "connector", "show", "tick", "-s", "demo")
		return r.code == 0 && hasAll(r.stdout, "pending:", "of 700")
	})
}

// hasAll reports whether every one of subs is in s.
func hasAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
