package hub_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
	"github.com/switchboardhq/switchboard/internal/kaa"
)

// automationMetric is the value of a switchboard_automation_invocations_<what>_total sample
// of type typ and tenant; 0 when there is none.
func automationMetric(t *testing.T, s *hubtest.Server, what, typ, tenant string) float64 {
	t.Helper()
	v, _ := metricValue(string(s.Do(t, "GET", "/metrics", s.AdminToken, nil).Body),
		"switchboard_automation_invocations_"+what+"_total", map[string]string{"type": typ, "tenant": tenant})
	return v
}

// TestAutomations: scripts and the API invoke automations for their own solution only; the
// hub's executor runs them in that solution's handlers, never once expired, and counts it all.
func TestAutomations(t *testing.T) {
	s := hubtest.Start(t, func(c *hub.Config) { c.NATSListen = hubtest.FreeAddr(t) }) // the triggers' listener
	plant := s.CreateSolution(t, "plant")
	other := s.CreateSolution(t, "other")
	for _, sol := range []string{"plant", "other"} {
		h := map[string]any{"name": "record", "topics": []string{"automation.*"},
			"script": `Keystore.set({key = event.id, value = event.solution .. "|" .. event.type .. "|" .. event.source .. "|" .. tostring(type(event.data) == "table" and event.data.recipient or event.data)})`}
		if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", s.AdminToken, h); r.Status != http.StatusCreated {
			t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
		}
	}
	ran := func(t *testing.T, sol, id, want string) {
		t.Helper()
		var got hubtest.Response
		hubtest.Eventually(t, "the handler to run for "+id, func() bool {
			got = s.Do(t, "GET", "/api/v1/solutions/"+sol+"/keystore/keys/"+id, s.AdminToken, nil)
			return got.Status == http.StatusOK
		})
		if v := got.Map(t)["value"]; v != want {
			t.Fatalf("%s ran with %v, want %s", id, v, want)
		}
	}

	t.Run("from a script", func(t *testing.T) {
		r, a := runOnce(t, s, "plant", plant, map[string]any{"script": `return Automation.invoke{type="email-notification", payload={recipient="ops@example.com"}, correlation_id="lua-1", timeout=60000}`})
		if r.Status != http.StatusOK || a.Error != nil {
			t.Fatalf("run: %d %s", r.Status, r.Body)
		}
		if want := `\"subject\":\"kaa.v1.events.` + s.Config().KaaInstanceName + `.service.automation.email-notification\"`; !strings.Contains(string(r.Body), want) {
			t.Fatalf("run answered %s, want %s", r.Body, want)
		}
		ran(t, "plant", "lua-1", "plant|email-notification|/kaa/"+s.Config().KaaInstanceName+"|ops@example.com")
	})
	t.Run("from a script, refused", func(t *testing.T) {
		for script, want := range map[string]string{
			`return Automation.invoke{type="Bad"}`:                           "type",
			`return Automation.invoke{type="x", timeout=-1}`:                 "timeout",
			`return Automation.invoke{type="x", tenant="other"}`:             `unknown field`,
			`return Automation.invoke{payload="no type"}`:                    "type: required",
			`return Automation.invoke{type="x", payload=("a"):rep(1048577)}`: "payload",
		} {
			// A service's refusal is the call's answer, {error=…, status=400}, as in Murano.
			r, _ := runOnce(t, s, "plant", plant, map[string]any{"script": script})
			if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `\"status\":400`) || !strings.Contains(string(r.Body), want) {
				t.Errorf("%s: %d %s, want a 400 naming %s", script, r.Status, r.Body, want)
			}
		}
	})
	t.Run("from the API", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/solutions/other/automations/door-open?correlation_id=api-1&timeout=60000", strings.NewReader("front door"))
		req.Header.Set("Authorization", "Bearer "+other)
		r := s.Send(t, req)
		if r.Status != http.StatusAccepted {
			t.Fatalf("invoke: %d %s", r.Status, r.Body)
		}
		m := r.Map(t)
		if m["tenant"] != "other" || m["correlation_id"] != "api-1" || m["timeout_ms"] != float64(60000) {
			t.Fatalf("answer %v", m)
		}
		ran(t, "other", "api-1", "other|door-open|/kaa/"+s.Config().KaaInstanceName+"|front door")
	})
	t.Run("from the API, refused", func(t *testing.T) {
		for _, tc := range []struct {
			path, token string
			body        []byte
			status      int
			field       string
		}{
			{"/api/v1/solutions/plant/automations/x", other, nil, http.StatusForbidden, ""}, // another solution's token
			{"/api/v1/solutions/plant/automations/x", "", nil, http.StatusUnauthorized, ""},
			{"/api/v1/solutions/plant/automations/Bad", plant, nil, http.StatusBadRequest, "type"},
			{"/api/v1/solutions/plant/automations/x?timeout=-5", plant, nil, http.StatusBadRequest, "timeout"},
			{"/api/v1/solutions/plant/automations/x?timeout=soon", plant, nil, http.StatusBadRequest, "timeout"},
			{"/api/v1/solutions/plant/automations/x", plant, bytes.Repeat([]byte("a"), 1<<20+1), http.StatusRequestEntityTooLarge, "payload"},
			{"/api/v1/solutions/ghost/automations/x", s.AdminToken, nil, http.StatusNotFound, ""},
		} {
			req, _ := http.NewRequest("POST", s.URL+tc.path, bytes.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			r := s.Send(t, req)
			if r.Status != tc.status || (tc.field != "" && r.Map(t)["field"] != tc.field) {
				t.Errorf("POST %s: %d %s, want %d naming %q", tc.path, r.Status, r.Body, tc.status, tc.field)
			}
		}
	})
	t.Run("expired never runs", func(t *testing.T) {
		// Made a minute ago with a second to live, by a trigger on the NATS listener: gone
		// before it arrives. (One made by a script with a millisecond to live can still be
		// in time on a fast machine.)
		token, err := os.ReadFile(filepath.Join(s.DataDir, "nats-token"))
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect("nats://"+s.Config().NATSListen, nats.Token(strings.TrimSpace(string(token))))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		data, err := kaa.Encode(kaa.Invocation{CorrelationID: "late-1", Timestamp: time.Now().Add(-time.Minute).UnixMilli(), Timeout: 1000, TenantID: "plant"})
		if err != nil {
			t.Fatal(err)
		}
		subject, err := kaa.InvocationSubject("trigger-1", "late")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subject, data); err != nil {
			t.Fatal(err)
		}
		hubtest.Eventually(t, "the expired invocation to be counted", func() bool {
			return automationMetric(t, s, "expired", "late", "plant") == 1
		})
		// Invocations are taken in order: once a later one ran, the expired one had its turn.
		runOnce(t, s, "plant", plant, map[string]any{"script": `return Automation.invoke{type="late", correlation_id="late-2"}`})
		ran(t, "plant", "late-2", "plant|late|/kaa/"+s.Config().KaaInstanceName+"|nil")
		if r := s.Do(t, "GET", "/api/v1/solutions/plant/keystore/keys/late-1", s.AdminToken, nil); r.Status != http.StatusNotFound {
			t.Fatalf("the expired invocation ran: %d %s", r.Status, r.Body)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		if v := automationMetric(t, s, "published", "email-notification", "plant"); v != 1 {
			t.Errorf("published for plant: %v, want 1", v)
		}
		if v := automationMetric(t, s, "received", "door-open", "other"); v != 1 {
			t.Errorf("received for other: %v, want 1", v)
		}
		hubtest.Eventually(t, "executed to be counted", func() bool {
			return automationMetric(t, s, "executed", "email-notification", "plant") == 1
		})
	})
}
