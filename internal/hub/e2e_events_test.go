package hub_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/switchboardhq/switchboard/internal/api"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestPublishEvents: POST /api/v1/solutions/{s}/events takes plain events and CloudEvents in
// binary and structured mode, stores them for the handlers whose topics (wildcards included)
// match, runs them now with mode=sync, and refuses what it cannot deliver; scripts publish with
// Events.publish.
func TestPublishEvents(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	tok := createSolution(t, s, "shop", nil)
	otherTok := createSolution(t, s, "other", nil)
	deployHandler := func(name string, topics []string, script string) {
		t.Helper()
		if r := s.Do(t, "POST", "/api/v1/solutions/shop/handlers", tok, map[string]any{"name": name, "topics": topics, "script": script}); r.Status != http.StatusCreated {
			t.Fatalf("deploy handler %s: %d %s", name, r.Status, r.Body)
		}
	}
	// Records what it saw under seen:<event id>.
	deployHandler("orders", []string{"orders.*"}, `Keystore.set({key = "seen:" .. event.id,
  value = event.topic .. "|" .. (event.correlation_id or "-") .. "|" .. tostring(event.data and event.data.n) .. "|" .. (event.source or "-")})
return true`)
	deployHandler("echo", []string{"echo.>"}, `return {topic = event.topic, data = event.data, cid = event.correlation_id, source = event.source, ext = event.extensions}`)
	seen := func(id, want string) {
		t.Helper()
		var got string
		hubtest.Eventually(t, "the handler to see event "+id, func() bool {
			r := s.Do(t, "GET", ksPath("shop", "seen:"+id), tok, nil)
			if r.Status != http.StatusOK {
				return false
			}
			got, _ = r.Map(t)["value"].(string)
			return got != ""
		})
		if got != want {
			t.Fatalf("event %s seen as %q, want %q", id, got, want)
		}
	}
	send := func(contentType string, headers map[string]string, query, body string) hubtest.Response {
		t.Helper()
		req, err := http.NewRequest("POST", s.URL+"/api/v1/solutions/shop/events"+query, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		return s.Send(t, req)
	}
	accepted := func(r hubtest.Response, id string) {
		t.Helper()
		if r.Status != http.StatusAccepted || r.Map(t)["id"] != id {
			t.Fatalf("publish: %d %s, want 202 {\"id\":%q}", r.Status, r.Body, id)
		}
	}

	t.Run("plain", func(t *testing.T) {
		accepted(send("application/json", nil, "", `{"id":"p1","topic":"orders.created","data":{"n":1},"correlation_id":"c1"}`), "p1")
		seen("p1", "orders.created|c1|1|/solutions/shop")
		// Without an id, the answer names the one given.
		r := send("", nil, "", `{"topic":"orders.created","data":{"n":9}}`)
		id, _ := r.Map(t)["id"].(string)
		if r.Status != http.StatusAccepted || id == "" {
			t.Fatalf("publish without id: %d %s", r.Status, r.Body)
		}
		seen(id, "orders.created|-|9|/solutions/shop")
	})
	t.Run("cloudevent binary", func(t *testing.T) {
		accepted(send("application/json", map[string]string{
			"Ce-Specversion": "1.0", "Ce-Id": "b1", "Ce-Source": "urn:shop:web", "Ce-Type": "orders.paid", "Ce-Correlationid": "c2",
		}, "", `{"n":2}`), "b1")
		seen("b1", "orders.paid|c2|2|urn:shop:web")
	})
	t.Run("cloudevent structured", func(t *testing.T) {
		accepted(send("application/cloudevents+json", nil, "",
			`{"specversion":"1.0","id":"s1","source":"/web","type":"orders.shipped","correlationid":"c3","data":{"n":3}}`), "s1")
		seen("s1", "orders.shipped|c3|3|/web")
	})
	t.Run("batch", func(t *testing.T) {
		r := send("application/json", nil, "", `[{"id":"pb1","topic":"orders.created","data":{"n":11}},
 {"topic":"orders.paid","data":{"n":12},"correlation_id":"c12"}]`)
		ids, _ := r.Map(t)["ids"].([]any)
		if r.Status != http.StatusAccepted || len(ids) != 2 || ids[0] != "pb1" || ids[1] == "" {
			t.Fatalf("plain batch: %d %s, want 202 with both ids", r.Status, r.Body)
		}
		seen("pb1", "orders.created|-|11|/solutions/shop")
		seen(ids[1].(string), "orders.paid|c12|12|/solutions/shop")
		// CloudEvents' batched mode, as its SDK writes events: an array of structured ones.
		var batch []cloudevents.Event
		for i, typ := range []string{"orders.created", "orders.shipped"} {
			ce := cloudevents.New()
			ce.SetID(fmt.Sprint("cb", i))
			ce.SetSource("urn:shop:batch")
			ce.SetType(typ)
			if err := ce.SetData(cloudevents.ApplicationJSON, map[string]int{"n": 20 + i}); err != nil {
				t.Fatal(err)
			}
			batch = append(batch, ce)
		}
		body, err := json.Marshal(batch)
		if err != nil {
			t.Fatal(err)
		}
		r = send("application/cloudevents-batch+json", nil, "", string(body))
		if r.Status != http.StatusAccepted || !strings.Contains(string(r.Body), `"ids":["cb0","cb1"]`) {
			t.Fatalf("CloudEvents batch: %d %s", r.Status, r.Body)
		}
		seen("cb0", "orders.created|-|20|urn:shop:batch")
		seen("cb1", "orders.shipped|-|21|urn:shop:batch")
		// One event refused refuses the batch: the first one is not stored either.
		r = send("application/json", nil, "", `[{"id":"pb-ok","topic":"orders.created"},{"topic":"nobody.here"}]`)
		if r.Status != http.StatusNotFound || r.Map(t)["field"] != "events[1].topic" {
			t.Fatalf("batch with an unrouted event: %d %s, want 404 on events[1].topic", r.Status, r.Body)
		}
		if r := s.Do(t, "GET", "/api/v1/solutions/shop/events/pb-ok", tok, nil); r.Status != http.StatusNotFound {
			t.Fatalf("an event of a refused batch: %d %s, want 404 (not stored)", r.Status, r.Body)
		}
	})
	t.Run("sync", func(t *testing.T) {
		r := send("application/json", nil, "?mode=sync", `{"topic":"echo.a.b","data":{"x":1},"correlation_id":"c5"}`)
		if r.Status != http.StatusOK {
			t.Fatalf("sync publish: %d %s", r.Status, r.Body)
		}
		m := r.Map(t)
		if m["topic"] != "echo.a.b" || m["cid"] != "c5" || m["source"] != "/solutions/shop" || m["data"].(map[string]any)["x"] != float64(1) {
			t.Fatalf("sync publish answered %s, want the handler's view of the event", r.Body)
		}
		r = send("application/cloudevents+json", nil, "?mode=sync",
			`{"specversion":"1.0","id":"s2","source":"/web","type":"echo.x","partitionkey":"7","data":{"x":2}}`)
		// Besides its own extension, the event carries the trace it started (see TestEventTrace).
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"ext":{"partitionkey":"7","traceparent":"00-`) {
			t.Fatalf("sync CloudEvent: %d %s, want its extension", r.Status, r.Body)
		}
	})
	t.Run("script", func(t *testing.T) {
		s.Deploy(t, "shop", "POST", "/publish", `return Events.publish({topic = "orders.scripted", data = {n = 4}, correlation_id = "c4", id = "sc1"})`)
		r := s.Do(t, "POST", "/apps/shop/publish", "", nil)
		if r.Status != http.StatusOK || r.Map(t)["id"] != "sc1" {
			t.Fatalf("Events.publish: %d %s", r.Status, r.Body)
		}
		seen("sc1", "orders.scripted|c4|4|/solutions/shop")
		// Only the caller's own handlers: other has none on this topic. Service errors come
		// back to the script as {error, status}, as every service call's do.
		s.Deploy(t, "other", "POST", "/publish", `return Events.publish({topic = "orders.scripted", data = {n = 5}})`)
		if r := s.Do(t, "POST", "/apps/other/publish", "", nil); r.Map(t)["status"] != float64(404) || !strings.Contains(string(r.Body), "orders.scripted") {
			t.Fatalf("Events.publish in a solution without handlers: %d %s, want a 404 naming the topic", r.Status, r.Body)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, contentType, query, body string
			token                          string
			status                         int
			field                          string
		}{
			{"no handler", "application/json", "", `{"topic":"nobody.here"}`, tok, 404, "topic"},
			{"no handler, sync", "application/json", "?mode=sync", `{"topic":"nobody.here"}`, tok, 404, "topic"},
			{"another solution's token", "application/json", "", `{"topic":"orders.created"}`, otherTok, 403, ""},
			{"wildcard topic", "application/json", "", `{"topic":"orders.*"}`, tok, 400, "topic"},
			{"no topic", "application/json", "", `{"data":1}`, tok, 400, "topic"},
			{"unknown field", "application/json", "", `{"topic":"orders.created","colour":1}`, tok, 400, ""},
			{"bad mode", "application/json", "?mode=later", `{"topic":"orders.created"}`, tok, 400, "mode"},
			{"text body", "text/plain", "", `hello`, tok, 415, ""},
			{"invalid CloudEvent", "application/cloudevents+json", "", `{"specversion":"1.0","id":"x"}`, tok, 400, "cloudevent"},
			{"empty CloudEvents batch", "application/cloudevents-batch+json", "", `[]`, tok, 400, "events"},
			{"CloudEvents batch of junk", "application/cloudevents-batch+json", "", `[{"specversion":"1.0","id":"x"}]`, tok, 400, "events[0].cloudevent"},
			{"CloudEvents batch, not an array", "application/cloudevents-batch+json", "", `{"a":1}`, tok, 400, ""},
			{"batch without a topic", "application/json", "", `[{"topic":"orders.created"},{"data":1}]`, tok, 400, "events[1].topic"},
			{"batch, wildcard topic", "application/json", "", `[{"topic":"orders.*"}]`, tok, 400, "events[0].topic"},
			{"batch, sync", "application/json", "?mode=sync", `[{"topic":"orders.created"}]`, tok, 400, "mode"},
			{"batch too long", "application/json", "", "[" + strings.Repeat(`{"topic":"orders.created"},`, api.MaxBatch) + `{"topic":"orders.created"}]`, tok, 413, "events"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest("POST", s.URL+"/api/v1/solutions/shop/events"+tc.query, strings.NewReader(tc.body))
				req.Header.Set("Authorization", "Bearer "+tc.token)
				req.Header.Set("Content-Type", tc.contentType)
				r := s.Send(t, req)
				if r.Status != tc.status {
					t.Fatalf("%d %s, want %d", r.Status, r.Body, tc.status)
				}
				if f, _ := r.Map(t)["field"].(string); tc.field != "" && f != tc.field {
					t.Fatalf("field %q in %s, want %q", f, r.Body, tc.field)
				}
				if tc.status == 404 && !strings.Contains(string(r.Body), "nobody.here") {
					t.Fatalf("%s does not name the topic", r.Body)
				}
			})
		}
	})
}
