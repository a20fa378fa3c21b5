package hub_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestDeliveryReportE2E: an event triggered durably fans out to three handlers with their own
// retry policies; its report shows one succeeded, one dead-lettered after its own two
// attempts, and one retrying when it asked to, with the wait it asked for. Only the
// solution's owner reads the report; a bad policy is refused naming its field.
func TestDeliveryReportE2E(t *testing.T) {
	s, auth, _ := decodeFixture(t, func() string { return `{}` })
	otherToken := createSolution(t, s, "other", nil)

	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"retry": map[string]any{"min_wait": "soon"}}, "retry.min_wait"},
		{map[string]any{"retry": map[string]any{"attempts": 1000}}, "retry.attempts"},
		{map[string]any{"retry": map[string]any{"min_wait": "2s", "max_wait": "1s"}}, "retry.max_wait"},
		{map[string]any{"max_in_flight": -1}, "max_in_flight"},
		{map[string]any{"retry": map[string]any{"tries": 3}}, "tries"},
		{map[string]any{"order_by": "data"}, "order_by"},
		{map[string]any{"retry": map[string]any{"on": []string{"flaky"}}}, "retry.on[0]"},
		{map[string]any{"order_by": "headers.x"}, "order_by"},
	} {
		body := map[string]any{"name": "bad", "topics": []string{"svc.ev"}, "script": "return 1"}
		for k, v := range c.body {
			body[k] = v
		}
		r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, body)
		if f, _ := r.Map(t)["field"].(string); r.Status != http.StatusBadRequest || f != c.field {
			t.Errorf("deploy %v: %d %s, want 400 naming %s", c.body, r.Status, r.Body, c.field)
		}
	}

	for _, h := range []map[string]any{
		{"name": "ok", "script": "return 'done'"},
		{"name": "fails", "script": "error('boom')", "retry": map[string]any{"attempts": 2, "min_wait": "1ms", "max_wait": "5ms"}},
		{"name": "wait", "script": "return {retry_after = 600}", "retry": map[string]any{"max_wait": "1h"}, "max_in_flight": 2},
	} {
		h["topics"] = []string{"svc.ev"}
		if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, h); r.Status != http.StatusCreated {
			t.Fatalf("deploy %s: %d %s", h["name"], r.Status, r.Body)
		}
	}
	r := s.Do(t, "GET", "/api/v1/solutions/demo/handlers/wait", s.AdminToken, nil)
	if m := r.Map(t); m["max_in_flight"] != 2.0 || m["retry"].(map[string]any)["max_wait"] != "1h0m0s" {
		t.Errorf("handler as stored: %s", r.Body)
	}

	start := time.Now()
	r = postAs(t, s, "/api/v1/trigger/demo/svc/ev?mode=async", auth, `{"n":1}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("trigger: %d %s", r.Status, r.Body)
	}
	id, _ := r.Map(t)["id"].(string)

	type report struct {
		ID       string `json:"id"`
		Handlers []struct {
			Handler       string     `json:"handler"`
			State         string     `json:"state"`
			LastError     string     `json:"last_error"`
			Attempts      int        `json:"attempts"`
			NextAttemptAt *time.Time `json:"next_attempt_at"`
			ErrorID       string     `json:"error_id"`
		} `json:"handlers"`
	}
	var rep report
	states := map[string]string{}
	hubtest.Eventually(t, "the report to settle", func() bool {
		r := s.Do(t, "GET", "/api/v1/solutions/demo/events/"+id, s.AdminToken, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("report: %d %s", r.Status, r.Body)
		}
		rep = report{}
		r.JSON(t, &rep)
		for _, h := range rep.Handlers {
			states[h.Handler] = h.State
		}
		return len(rep.Handlers) == 3 && states["ok"] == "succeeded" && states["fails"] == "dead-lettered" && states["wait"] == "retrying"
	})
	for _, h := range rep.Handlers {
		switch h.Handler {
		case "ok":
			if h.Attempts != 1 || h.LastError != "" {
				t.Errorf("ok: %+v", h)
			}
		case "fails":
			if h.Attempts != 2 || !strings.Contains(h.LastError, "boom") || h.ErrorID == "" || h.NextAttemptAt != nil {
				t.Errorf("fails: %+v", h)
			}
		case "wait":
			if h.Attempts != 1 || h.NextAttemptAt == nil || h.NextAttemptAt.Sub(start) < 10*time.Minute || h.NextAttemptAt.Sub(start) > 11*time.Minute {
				t.Errorf("wait: %+v, want its next attempt in 10 minutes", h)
			}
		}
	}

	if r := s.Do(t, "GET", "/api/v1/solutions/demo/events/"+id, otherToken, nil); r.Status != http.StatusForbidden {
		t.Errorf("another solution's token: %d %s, want 403", r.Status, r.Body)
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/other/events/"+id, otherToken, nil); r.Status != http.StatusNotFound {
		t.Errorf("the same id in another solution: %d %s, want 404", r.Status, r.Body)
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/demo/events/nope", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown event: %d %s, want 404", r.Status, r.Body)
	}
}

// TestOrderedHandlerE2E: a handler with order_by runs the events of one key in the order they
// were published, across batches, four keys at a time. (Without order_by, the same handler
// runs them out of order.)
func TestOrderedHandlerE2E(t *testing.T) {
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "fleet")
	r := s.Do(t, "POST", "/api/v1/solutions/fleet/handlers", tok, map[string]any{
		"name": "track", "topics": []string{"devices.*"}, "order_by": "data.device", "max_in_flight": 4,
		"script": `Keystore.rpush({key = "seen:" .. event.data.device, args = {tostring(event.data.n)}})`})
	if r.Status != http.StatusCreated || r.Map(t)["order_by"] != "data.device" {
		t.Fatalf("deploy: %d %s", r.Status, r.Body)
	}
	const per = 40
	for batch := range 4 {
		var b strings.Builder
		b.WriteByte('[')
		for i := range per / 4 {
			n := batch*per/4 + i
			for _, dev := range []string{"a", "b", "c"} {
				if b.Len() > 1 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"topic":"devices.reading","data":{"device":%q,"n":%d}}`, dev, n)
			}
		}
		b.WriteByte(']')
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/solutions/fleet/events", strings.NewReader(b.String()))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if r := s.Send(t, req); r.Status != http.StatusAccepted {
			t.Fatalf("publish batch %d: %d %s", batch, r.Status, r.Body)
		}
	}
	s.Deploy(t, "fleet", "GET", "/seen", `return Keystore.lrange({key = "seen:" .. request.parameters.device, args = {0, -1}}).value`)
	for _, dev := range []string{"a", "b", "c"} {
		var got []string
		hubtest.Eventually(t, "device "+dev+"'s events to run", func() bool {
			r := s.Do(t, "GET", "/apps/fleet/seen?device="+dev, "", nil)
			got = nil
			json.Unmarshal(r.Body, &got) //nolint:errcheck // [] or {} until the first run
			return len(got) == per
		})
		for i, v := range got {
			if v != fmt.Sprint(i) {
				t.Fatalf("device %s ran out of order: %v", dev, got)
			}
		}
	}
}
