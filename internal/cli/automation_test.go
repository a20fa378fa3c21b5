package cli

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestAutomationInvokeCommand: `automation invoke` publishes an invocation that the real
// hub's own executor runs in the solution's handler of automation.<type>.
func TestAutomationInvokeCommand(t *testing.T) {
	t.Parallel()
	s, env := realEnv(t)
	h := map[string]any{"name": "notify", "topics": []string{"automation.*"},
		"script": `Keystore.set({key = event.id, value = event.type .. "|" .. tostring(event.datacontenttype) .. "|" .. (type(event.data) == "table" and event.data.subject or tostring(event.data))})`}
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, h); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	dir := writeTree(t, map[string]string{"payload.txt": "plain words"})
	ran := func(t *testing.T, id, want string) {
		t.Helper()
		var got string
		hubtest.Eventually(t, "the handler to run for "+id, func() bool {
			r := s.Do(t, "GET", "/api/v1/solutions/demo/keystore/keys/"+id, s.AdminToken, nil)
			got = string(r.Body)
			return r.Status == http.StatusOK
		})
		if !strings.Contains(got, `"value":"`+want+`"`) {
			t.Fatalf("keystore holds %s, want %s", got, want)
		}
	}
	t.Run("json payload", func(t *testing.T) {
		runCLI(t, env, "", "automation", "invoke", "email-notification", `{"recipient":"a@example.com","subject":"Boiler"}`, "--correlation-id", "inv-1", "--timeout", "1m").
			check(t, ExitOK, []string{"published automation email-notification for demo: correlation id inv-1 on kaa.v1.events."}, nil)
		ran(t, "inv-1", "email-notification|application/json|Boiler")
	})
	t.Run("text payload from a file, json output", func(t *testing.T) {
		runCLI(t, env, "", "automation", "invoke", "note", "@"+filepath.Join(dir, "payload.txt"), "--correlation-id", "inv-2", "-o", "json").
			check(t, ExitOK, []string{`"correlation_id": "inv-2"`, `"tenant": "demo"`, `"timeout_ms": 0`}, nil)
		ran(t, "inv-2", "note|text/plain|plain words")
	})
	t.Run("no payload", func(t *testing.T) {
		runCLI(t, env, "", "automation", "invoke", "ping", "--correlation-id", "inv-3").check(t, ExitOK, nil, nil)
		ran(t, "inv-3", "ping|nil|nil")
	})
	t.Run("bad type", func(t *testing.T) {
		runCLI(t, env, "", "automation", "invoke", "Email").check(t, ExitFailure, nil, []string{"type"})
	})
	t.Run("negative timeout", func(t *testing.T) {
		runCLI(t, env, "", "automation", "invoke", "ping", "--timeout", "-1s").check(t, ExitUsage, nil, []string{"--timeout"})
	})
}
