package hub_test

import (
	"bytes"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

type connectorAnswer struct {
	Name   string         `json:"name"`
	Type   string         `json:"type"`
	Topic  string         `json:"topic"`
	Config map[string]any `json:"config"`
	Paused bool           `json:"paused"`
	Status struct {
		State     string `json:"state"`
		Instance  string `json:"instance"`
		LastError string `json:"last_error"`
		Received  uint64 `json:"received"`
		Published uint64 `json:"published"`
		Rejected  uint64 `json:"rejected"`
	} `json:"status"`
}

// TestConnectorCron: a cron connector publishes a tick every second to the solution's handler
// until it is paused; a config its type refuses is a 400 naming the field; another
// solution's token reaches none of it; deleting the solution deletes its connectors.
func TestConnectorCron(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	token := createSolution(t, s, "demo", nil)
	otherToken := createSolution(t, s, "other", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", token, map[string]any{
		"name": "count", "topics": []string{"ticks.second"},
		"script": `Keystore.incr({key = "ticks"}); Keystore.set({key = "last", value = event.data.scheduled_at})`,
	}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}

	r := s.Do(t, "GET", "/api/v1/connector-types", otherToken, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"type":"cron"`) || !strings.Contains(string(r.Body), `"schedule":{`) {
		t.Fatalf("connector-types: %d %s", r.Status, r.Body)
	}

	tick := map[string]any{"name": "tick", "type": "cron", "topic": "ticks.second", "config": map[string]any{"schedule": "@every 1s"}}
	r = s.Do(t, "POST", "/api/v1/solutions/demo/connectors", token, tick)
	if r.Status != http.StatusCreated {
		t.Fatalf("create connector: %d %s", r.Status, r.Body)
	}
	var c connectorAnswer
	r.JSON(t, &c)
	if c.Name != "tick" || c.Type != "cron" || c.Topic != "ticks.second" || c.Config["schedule"] != "@every 1s" || c.Status.State == "" {
		t.Errorf("created: %s", r.Body)
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/connectors", token, tick); r.Status != http.StatusConflict || r.Map(t)["field"] != "name" {
		t.Errorf("create again: %d %s; want 409 naming name", r.Status, r.Body)
	}

	ticks := func() int {
		r := s.Do(t, "GET", "/api/v1/solutions/demo/keystore/keys/ticks", token, nil)
		if r.Status == http.StatusNotFound {
			return 0
		}
		if r.Status != http.StatusOK {
			t.Fatalf("read ticks: %d %s", r.Status, r.Body)
		}
		n, _ := strconv.Atoi(r.Map(t)["value"].(string))
		return n
	}
	hubtest.Eventually(t, "two ticks handled", func() bool { return ticks() >= 2 })

	get := func(path string) connectorAnswer {
		t.Helper()
		r := s.Do(t, "GET", path, token, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		var c connectorAnswer
		r.JSON(t, &c)
		return c
	}
	hubtest.Eventually(t, "the status to count what was published", func() bool {
		c := get("/api/v1/solutions/demo/connectors/tick")
		return c.Status.State == "running" && c.Status.Published >= 2 && c.Status.Received >= c.Status.Published && c.Status.Instance != ""
	})
	r = s.Do(t, "GET", "/api/v1/solutions/demo/connectors", token, nil)
	var l struct{ Items []connectorAnswer }
	r.JSON(t, &l)
	if r.Status != http.StatusOK || len(l.Items) != 1 || l.Items[0].Name != "tick" || l.Items[0].Status.State != "running" {
		t.Errorf("list: %d %s", r.Status, r.Body)
	}

	// Paused, it stops ticking.
	r = s.Do(t, "POST", "/api/v1/solutions/demo/connectors/tick/pause", token, nil)
	r.JSON(t, &c)
	if r.Status != http.StatusOK || !c.Paused || c.Status.State != "paused" {
		t.Fatalf("pause: %d %s", r.Status, r.Body)
	}
	if c := get("/api/v1/solutions/demo/connectors/tick"); c.Status.State != "paused" {
		t.Errorf("paused connector's state: %q", c.Status.State)
	}
	// A tick may have been on its way as the pause came; none comes after that.
	atPause := ticks()
	time.Sleep(2500 * time.Millisecond)
	if n := ticks(); n > atPause+1 {
		t.Errorf("%d ticks handled in the 2.5s after the pause", n-atPause)
	}

	// Bad config: the field at fault is named.
	for _, tc := range []struct {
		config any
		field  string
	}{
		{map[string]any{"schedule": "nonsense"}, "config.schedule"},
		{map[string]any{"schedule": "@every 1s", "nope": true}, "config"},
		{map[string]any{"schedule": "@every 1s", "timezone": "Mars/Olympus"}, "config.timezone"},
	} {
		r := s.Do(t, "PUT", "/api/v1/solutions/demo/connectors/tick", token, map[string]any{"type": "cron", "topic": "ticks.second", "config": tc.config})
		if r.Status != http.StatusBadRequest || r.Map(t)["field"] != tc.field {
			t.Errorf("PUT config %v: %d %s; want 400 naming %s", tc.config, r.Status, r.Body, tc.field)
		}
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/connectors", token, map[string]any{"name": "x", "type": "nope", "topic": "a.b"}); r.Status != http.StatusBadRequest || r.Map(t)["field"] != "type" {
		t.Errorf("unknown type: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "PUT", "/api/v1/solutions/demo/connectors/missing", token, map[string]any{"type": "cron", "topic": "a.b", "config": map[string]any{"schedule": "@every 1s"}}); r.Status != http.StatusNotFound {
		t.Errorf("PUT a missing connector: %d %s", r.Status, r.Body)
	}

	// Another solution's token reaches none of it.
	for _, rq := range []struct{ method, path string }{
		{"GET", "/api/v1/solutions/demo/connectors"},
		{"GET", "/api/v1/solutions/demo/connectors/tick"},
		{"POST", "/api/v1/solutions/demo/connectors/tick/resume"},
		{"DELETE", "/api/v1/solutions/demo/connectors/tick"},
	} {
		if r := s.Do(t, rq.method, rq.path, otherToken, nil); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Errorf("%s %s with another solution's token: %d %s", rq.method, rq.path, r.Status, r.Body)
		}
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/other/connectors", otherToken, nil); r.Status != http.StatusOK || strings.Contains(string(r.Body), "tick") {
		t.Errorf("other's connectors: %d %s", r.Status, r.Body)
	}

	// Resumed, it ticks again.
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/connectors/tick/resume", token, nil); r.Status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.Status, r.Body)
	}
	paused := ticks()
	hubtest.Eventually(t, "a tick after resuming", func() bool { return ticks() > paused })

	if r := s.Do(t, "DELETE", "/api/v1/solutions/demo/connectors/tick", token, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/demo/connectors/tick", token, nil); r.Status != http.StatusNotFound {
		t.Errorf("get deleted: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "DELETE", "/api/v1/solutions/demo/connectors/tick", token, nil); r.Status != http.StatusNotFound {
		t.Errorf("delete again: %d %s", r.Status, r.Body)
	}

	// A deleted solution's connectors go with it: one of that name made afresh starts empty.
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/connectors", token, tick); r.Status != http.StatusCreated {
		t.Fatalf("create again: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "DELETE", "/api/v1/solutions/demo", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete solution: %d %s", r.Status, r.Body)
	}
	token = createSolution(t, s, "demo", nil)
	r = s.Do(t, "GET", "/api/v1/solutions/demo/connectors", token, nil)
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"items":[]}` {
		t.Errorf("connectors of the solution made afresh: %d %s", r.Status, r.Body)
	}
}

// TestOpenAPIConnectors: the connector routes answer as openapi.json says.
func TestOpenAPIConnectors(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "demo", nil)
	doc := loadOpenAPI(t, s)
	admin := "Bearer " + s.AdminToken
	const base = "/api/v1/solutions/{solution}/connectors"
	exchanges := []struct {
		name, method, template, path, body string
		status                             int
	}{
		{"types", "GET", "/api/v1/connector-types", "/api/v1/connector-types", "", 200},
		{"create", "POST", base, "/api/v1/solutions/demo/connectors", `{"name":"tick","type":"cron","topic":"ticks.minute","config":{"schedule":"@every 1m"}}`, 201},
		{"create again", "POST", base, "/api/v1/solutions/demo/connectors", `{"name":"tick","type":"cron","topic":"ticks.minute","config":{"schedule":"@every 1m"}}`, 409},
		{"create with a bad schedule", "POST", base, "/api/v1/solutions/demo/connectors", `{"name":"bad","type":"cron","topic":"ticks.minute","config":{"schedule":"nonsense"}}`, 400},
		{"list", "GET", base, "/api/v1/solutions/demo/connectors", "", 200},
		{"get", "GET", base + "/{name}", "/api/v1/solutions/demo/connectors/tick", "", 200},
		{"get unknown", "GET", base + "/{name}", "/api/v1/solutions/demo/connectors/nope", "", 404},
		{"replace", "PUT", base + "/{name}", "/api/v1/solutions/demo/connectors/tick", `{"type":"cron","topic":"ticks.hour","config":{"schedule":"@hourly","timezone":"Europe/Berlin"}}`, 200},
		{"replace unknown", "PUT", base + "/{name}", "/api/v1/solutions/demo/connectors/nope", `{"type":"cron","topic":"ticks.hour","config":{"schedule":"@hourly"}}`, 404},
		{"pause", "POST", base + "/{name}/pause", "/api/v1/solutions/demo/connectors/tick/pause", "", 200},
		{"resume", "POST", base + "/{name}/resume", "/api/v1/solutions/demo/connectors/tick/resume", "", 200},
		{"delete", "DELETE", base + "/{name}", "/api/v1/solutions/demo/connectors/tick", "", 204},
		{"delete unknown", "DELETE", base + "/{name}", "/api/v1/solutions/demo/connectors/tick", "", 404},
	}
	for _, ex := range exchanges {
		t.Run(ex.name, func(t *testing.T) {
			newReq := func() *http.Request {
				req, _ := http.NewRequest(ex.method, s.URL+ex.path, strings.NewReader(ex.body))
				if ex.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				req.Header.Set("Authorization", admin)
				return req
			}
			r := s.Send(t, newReq())
			if r.Status != ex.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, ex.status)
			}
			validateExchange(t, doc, ex.template, newReq(), r)
		})
	}
}

// TestConnectorWebhook: a webhook connector's calls, with the shared secret, become events
// its solution's handler runs for; the secret is never shown back, and a call without it is
// refused.
func TestConnectorWebhook(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	token := createSolution(t, s, "demo", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", token, map[string]any{
		"name": "hook", "topics": []string{"hooks.in"}, "script": `Keystore.set({key = "got", value = event.data.n})`,
	}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	r := s.Do(t, "POST", "/api/v1/solutions/demo/connectors", token, map[string]any{
		"name": "in", "type": "webhook", "topic": "hooks.in", "config": map[string]any{"style": "shared", "secret": "s3cret-value"},
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", r.Status, r.Body)
	}
	var c connectorAnswer
	r.JSON(t, &c)
	if c.Config["secret"] != "(set)" || strings.Contains(string(r.Body), "s3cret-value") {
		t.Errorf("created webhook shows its secret: %s", r.Body)
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/demo/connectors", token, nil); strings.Contains(string(r.Body), "s3cret-value") {
		t.Errorf("listed webhook shows its secret: %s", r.Body)
	}

	call := func(secret string) hubtest.Response {
		req, _ := http.NewRequest("POST", s.URL+"/hooks/demo/in", strings.NewReader(`{"n": 7}`))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("X-Webhook-Secret", secret)
		}
		return s.Send(t, req)
	}
	if r := call("wrong-secret"); r.Status != http.StatusUnauthorized {
		t.Errorf("call with a wrong secret: %d %s", r.Status, r.Body)
	}
	if r := call("s3cret-value"); r.Status != http.StatusAccepted {
		t.Fatalf("call: %d %s", r.Status, r.Body)
	}
	hubtest.Eventually(t, "the handler to run", func() bool {
		r := s.Do(t, "GET", "/api/v1/solutions/demo/keystore/keys/got", token, nil)
		return r.Status == http.StatusOK && r.Map(t)["value"] == "7"
	})
}

// TestConnectorDialsThroughGuard: a solution's token configures broker connectors, and their
// connections go through the connector guard: the hub's own listeners (its NATS first of all),
// link-local metadata addresses and, with --connector-networks, addresses outside those
// networks are refused on the address dialed, shown as the connector's last error.
func TestConnectorDialsThroughGuard(t *testing.T) {
	natsAddr := hubtest.FreeAddr(t)
	s := hubtest.Start(t, func(c *hub.Config) {
		c.NATSListen = natsAddr
		c.ConnectorNetworks = "127.0.0.0/8, 169.254.0.0/16"
	})
	tok := s.CreateSolution(t, "iot")
	r := s.Do(t, "GET", "/api/v1/connector-types", tok, nil)
	if !strings.Contains(string(r.Body), `"type":"nats"`) || strings.Contains(string(r.Body), "admin_only") {
		t.Fatalf("types: %s", r.Body)
	}
	cases := []struct{ name, url, want string }{
		{"own-nats", "nats://" + natsAddr, "hub's own listeners"},
		{"own-api", strings.Replace(s.URL, "http://", "nats://", 1), "hub's own listeners"},
		{"metadata", "nats://169.254.169.254:4222", "link-local"},
		{"outside", "nats://10.0.0.1:4222", "outside"},
	}
	for _, c := range cases {
		body := map[string]any{"name": c.name, "type": "nats", "topic": "nats.in",
			"config": map[string]any{"url": c.url, "subjects": []string{"a.>"}, "connect_timeout": "2s"}}
		if r := s.Do(t, "POST", "/api/v1/solutions/iot/connectors", tok, body); r.Status != http.StatusCreated {
			t.Fatalf("%s: a solution's token: %d %s, want 201", c.name, r.Status, r.Body)
		}
	}
	for _, c := range cases {
		var last string
		waitFor(t, c.name+" refused by the guard", 30*time.Second, func() bool {
			r := s.Do(t, "GET", "/api/v1/solutions/iot/connectors/"+c.name, tok, nil)
			st, _ := r.Map(t)["status"].(map[string]any)
			last, _ = st["last_error"].(string)
			return strings.Contains(last, "not allowed")
		})
		if !strings.Contains(last, c.want) {
			t.Errorf("%s: last_error %q, want it to name %q", c.name, last, c.want)
		}
	}
}

// TestWebhookBodiesBounded: a webhook's body is read as every other body is: a stalled one is
// 408 and gives its admission back, and bodies a solution holds beyond its bound are refused
// (429 with Retry-After) while another solution's webhook is served.
func TestWebhookBodiesBounded(t *testing.T) {
	const mib = 1 << 20
	s := hubtest.Start(t, func(c *hub.Config) {
		c.BodyReadTimeout = 500 * time.Millisecond
		c.BodyGrace = 500 * time.Millisecond
		c.MaxBodyHeldPerSolution = 8 * mib
	})
	for _, sol := range []string{"a", "b"} {
		s.CreateSolution(t, sol)
		if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", s.AdminToken, map[string]any{"name": "h", "topics": []string{"hooks.in"}, "script": "return 1"}); r.Status != http.StatusCreated {
			t.Fatalf("handler: %d %s", r.Status, r.Body)
		}
		if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/connectors", s.AdminToken, map[string]any{"name": "open", "type": "webhook", "topic": "hooks.in", "config": map[string]any{"style": "none"}}); r.Status != http.StatusCreated {
			t.Fatalf("webhook: %d %s", r.Status, r.Body)
		}
	}
	start := time.Now()
	h := holdRequest(t, s, "/hooks/a/open", 1000)
	var r hubtest.Response
	select {
	case r = <-h.done:
	case <-time.After(20 * time.Second):
		t.Fatal("a stalled webhook body was not answered within 20s")
	}
	if r.Status != http.StatusRequestTimeout {
		t.Fatalf("stalled webhook body: %d %s after %s, want 408", r.Status, r.Body, time.Since(start))
	}
	h.conn.Close()

	big := holdRequest(t, s, "/hooks/a/open", 4*mib)
	big.send(t, 4*mib-2)
	waitHeld(t, s, "a", 4*mib)
	wantRefused(t, func() hubtest.Response {
		req, _ := http.NewRequest("POST", s.URL+"/hooks/a/open", bytes.NewReader(bytes.Repeat([]byte(" "), 3*mib)))
		return s.Send(t, req)
	}, http.StatusTooManyRequests, "solution_body_bytes")
	req, _ := http.NewRequest("POST", s.URL+"/hooks/b/open", strings.NewReader(`{"n":1}`))
	if r := s.Send(t, req); r.Status != http.StatusAccepted {
		t.Fatalf("another solution's webhook while a's bodies are held: %d %s", r.Status, r.Body)
	}
}

// TestConnectorConnectingUntilSubscribed: a connector is running only once its source is
// connected and subscribed; one whose broker accepts the connection and never answers stays
// connecting until its connect timeout ends the attempt, then backs off with that error.
func TestConnectorConnectingUntilSubscribed(t *testing.T) {
	t.Parallel()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn // kept open and never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "iot")
	if r := s.Do(t, "POST", "/api/v1/solutions/iot/connectors", tok, map[string]any{"name": "mute", "type": "nats", "topic": "nats.in",
		"config": map[string]any{"url": "nats://" + silent.Addr().String(), "subjects": []string{"a"}, "connect_timeout": "3s"}}); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var seen []string
	waitFor(t, "the attempt to end", 30*time.Second, func() bool {
		var c connectorAnswer
		s.Do(t, "GET", "/api/v1/solutions/iot/connectors/mute", tok, nil).JSON(t, &c)
		if len(seen) == 0 || seen[len(seen)-1] != c.Status.State {
			seen = append(seen, c.Status.State)
		}
		return c.Status.State == "backing-off"
	})
	if slices.Contains(seen, "running") || !slices.Contains(seen, "connecting") {
		t.Errorf("states seen %v: want connecting then backing-off, never running", seen)
	}
}
