package hub_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

func randHex() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// mqttSubscribe subscribes to filter on the test's Mosquitto with the broker's client.
func mqttSubscribe(t *testing.T, broker, filter string) <-chan *paho.Publish {
	t.Helper()
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *paho.Publish, 16)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "sbsub-" + randHex(), CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	return got
}

func receiveMQTT(t *testing.T, got <-chan *paho.Publish) *paho.Publish {
	t.Helper()
	select {
	case p := <-got:
		return p
	case <-time.After(15 * time.Second):
		t.Fatal("nothing received on the broker within 15s")
		return nil
	}
}

// TestOutboundMQTT: an endpoint and a handler publish to Mosquitto with Outbound.publish
// through their solution's outbound connector, and the test's own subscriber receives it;
// the connector's status counts the publishes; another solution cannot use the connector:
// it is told exactly what it is told of one that does not exist.
func TestOutboundMQTT(t *testing.T) {
	broker := os.Getenv("SWITCHBOARD_TEST_MQTT_URL")
	if broker == "" {
		t.Skip("SWITCHBOARD_TEST_MQTT_URL not set")
	}
	t.Parallel()
	s := hubtest.Start(t)
	tok := createSolution(t, s, "plant", nil)
	createSolution(t, s, "rival", nil)
	base := "sbtest/e2e-" + randHex()
	got := mqttSubscribe(t, broker, base+"/#")

	r := s.Do(t, "POST", "/api/v1/solutions/plant/connectors", tok, map[string]any{
		"name": "alerts", "type": "mqtt", "direction": "out",
		"config": map[string]any{"url": broker, "topic": base + "/default", "qos": 1, "username": "plant", "password": "s3cret-pw", "retry": map[string]any{"attempts": 2}},
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var c connectorAnswer
	r.JSON(t, &c)
	if c.Topic != "" || c.Config["password"] != "(set)" || strings.Contains(string(r.Body), "s3cret-pw") || !strings.Contains(string(r.Body), `"direction":"out"`) || c.Status.State != "ready" {
		t.Fatalf("created: %s", r.Body)
	}

	// An endpoint.
	s.Deploy(t, "plant", "POST", "/alarm", `
local res = Outbound.publish({connector = "alerts", topic = "`+base+`/alarms", data = {level = request.body.level, by = "endpoint"},
  headers = {["x-plant"] = "north"}})
return res`)
	r = s.Do(t, "POST", "/apps/plant/alarm", "", map[string]any{"level": 3})
	if r.Status != http.StatusOK || r.Map(t)["ok"] != true {
		t.Fatalf("endpoint: %d %s", r.Status, r.Body)
	}
	p := receiveMQTT(t, got)
	var payload map[string]any
	if err := json.Unmarshal(p.Payload, &payload); err != nil || p.Topic != base+"/alarms" || payload["level"] != float64(3) || payload["by"] != "endpoint" {
		t.Fatalf("received %s %s", p.Topic, p.Payload)
	}
	if p.Properties == nil || p.Properties.ContentType != "application/json" || p.Properties.User.Get("x-plant") != "north" {
		t.Fatalf("received properties %+v", p.Properties)
	}

	// A handler, to the connector's own topic, with a string as it is.
	if r := s.Do(t, "POST", "/api/v1/solutions/plant/handlers", tok, map[string]any{
		"name": "relay", "topics": []string{"readings.in"},
		"script": `local res = Outbound.publish({connector = "alerts", data = "reading " .. event.data.n})
if res.error then error(res.error) end`,
	}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/plant/events", tok, map[string]any{"topic": "readings.in", "data": map[string]any{"n": 7}}); r.Status != http.StatusAccepted {
		t.Fatalf("event: %d %s", r.Status, r.Body)
	}
	if p := receiveMQTT(t, got); p.Topic != base+"/default" || string(p.Payload) != "reading 7" {
		t.Fatalf("from the handler: %s %q", p.Topic, p.Payload)
	}
	hubtest.Eventually(t, "the status to count both publishes", func() bool {
		r := s.Do(t, "GET", "/api/v1/solutions/plant/connectors/alerts", tok, nil)
		var c connectorAnswer
		r.JSON(t, &c)
		return c.Status.State == "ready" && c.Status.Published == 2 && c.Status.Instance != ""
	})

	// Bad arguments are answers naming them, not failures of the script.
	s.Deploy(t, "plant", "POST", "/bad", `return {
  key = Outbound.publish({connector = "alerts", data = "x", key = "k"}),
  big = Outbound.publish({connector = "alerts", data = string.rep("x", 1048577)}),
  wild = Outbound.publish({connector = "alerts", topic = "a/#", data = "x"}),
  none = Outbound.publish({connector = "nope", data = "x"}),
}`)
	r = s.Do(t, "POST", "/apps/plant/bad", "", nil)
	var bad map[string]struct {
		Error  string
		Status int
	}
	r.JSON(t, &bad)
	for name, want := range map[string]string{
		"key":  "outbound.publish: key: a mqtt connector does not take it",
		"big":  "outbound.publish: data: 1048577 bytes, larger than 1048576",
		"wild": "outbound.publish: topic: \"a/#\": wildcards",
		"none": `outbound.publish: connector: no connector "nope" in this solution`,
	} {
		if !strings.HasPrefix(bad[name].Error, want) || bad[name].Status == 0 {
			t.Errorf("%s: %+v, want %q…", name, bad[name], want)
		}
	}

	// Another solution: its scripts see plant's connector as one that is not there.
	s.Deploy(t, "rival", "POST", "/steal", `return {
  theirs = Outbound.publish({connector = "alerts", topic = "`+base+`/stolen", data = "x"}),
  none = Outbound.publish({connector = "nope", topic = "`+base+`/stolen", data = "x"}),
}`)
	r = s.Do(t, "POST", "/apps/rival/steal", "", nil)
	var steal map[string]struct {
		Error  string
		Status int
	}
	r.JSON(t, &steal)
	theirs, none := steal["theirs"], steal["none"]
	if theirs.Status != http.StatusNotFound || theirs.Error != strings.Replace(none.Error, `"nope"`, `"alerts"`, 1) {
		t.Fatalf("another solution's connector: %+v; an unknown one: %+v", theirs, none)
	}
	select {
	case p := <-got:
		t.Fatalf("another solution published through plant's connector: %s %q", p.Topic, p.Payload)
	default:
	}
}

// TestOutboundGuard: an outbound connector's connections go through the connector guard: one
// pointed at the hub's own NATS is refused ({error=… not allowed}), and the connector's
// status says so.
func TestOutboundGuard(t *testing.T) {
	t.Parallel()
	natsAddr := hubtest.FreeAddr(t)
	s := hubtest.Start(t, func(c *hub.Config) { c.NATSListen = natsAddr })
	tok := createSolution(t, s, "iot", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/iot/connectors", tok, map[string]any{
		"name": "hub", "type": "nats", "direction": "out", "config": map[string]any{"url": "nats://" + natsAddr, "subject": "sb.events"},
	}); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	s.Deploy(t, "iot", "POST", "/p", `return Outbound.publish({connector = "hub", data = {x = 1}})`)
	r := s.Do(t, "POST", "/apps/iot/p", "", nil)
	m := r.Map(t)
	if e, _ := m["error"].(string); !strings.Contains(e, "not allowed") || !strings.Contains(e, "hub's own listeners") || !strings.Contains(e, "(1 attempt)") || m["status"] != float64(http.StatusBadGateway) {
		t.Fatalf("publish to the hub's own NATS: %d %s", r.Status, r.Body)
	}
	var c connectorAnswer
	s.Do(t, "GET", "/api/v1/solutions/iot/connectors/hub", tok, nil).JSON(t, &c)
	if c.Status.State != "failing" || !strings.Contains(c.Status.LastError, "not allowed") {
		t.Fatalf("status %+v", c.Status)
	}
}

// TestOutboundConnectorAPI: direction out takes no topic (400 naming topic), a type that
// cannot publish is refused naming direction, an update keeps the direction it is not given,
// connector-types shows each type's outbound schema, and outbound connectors run nowhere.
func TestOutboundConnectorAPI(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	tok := createSolution(t, s, "demo", nil)
	nats := map[string]any{"url": "nats://127.0.0.1:4222", "subject": "a.b"}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"a topic", map[string]any{"name": "o", "type": "nats", "direction": "out", "topic": "a.b", "config": nats}, "topic"},
		{"cron", map[string]any{"name": "o", "type": "cron", "direction": "out", "config": map[string]any{"schedule": "@hourly"}}, "direction"},
		{"webhook", map[string]any{"name": "o", "type": "webhook", "direction": "out", "config": map[string]any{"style": "none"}}, "direction"},
		{"sideways", map[string]any{"name": "o", "type": "nats", "direction": "sideways", "config": nats}, "direction"},
		{"an inbound field", map[string]any{"name": "o", "type": "nats", "direction": "out", "config": map[string]any{"url": "nats://b", "subjects": []string{"a"}}}, "config"},
		{"a bad timeout", map[string]any{"name": "o", "type": "nats", "direction": "out", "config": map[string]any{"url": "nats://b", "timeout": "1h"}}, "config.timeout"},
		{"inbound without a topic", map[string]any{"name": "o", "type": "nats", "config": map[string]any{"url": "nats://b", "subjects": []string{"a"}}}, "topic"},
	} {
		r := s.Do(t, "POST", "/api/v1/solutions/demo/connectors", tok, tc.body)
		if r.Status != http.StatusBadRequest || r.Map(t)["field"] != tc.field {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, r.Status, r.Body, tc.field)
		}
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/connectors", tok, map[string]any{"name": "out", "type": "nats", "direction": "out", "config": nats}); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	// Replaced without a direction: it stays outbound.
	r := s.Do(t, "PUT", "/api/v1/solutions/demo/connectors/out", tok, map[string]any{"type": "nats", "config": map[string]any{"url": "nats://127.0.0.1:4222", "subject": "c.d"}})
	var c connectorAnswer
	r.JSON(t, &c)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"direction":"out"`) || c.Config["subject"] != "c.d" {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, "GET", "/api/v1/connector-types", tok, nil)
	var types struct {
		Items []struct {
			Type     string
			Outbound *struct {
				Schema    map[string]any
				Arguments []string
			}
		}
	}
	r.JSON(t, &types)
	can := map[string]bool{}
	for _, k := range types.Items {
		if k.Outbound != nil {
			can[k.Type] = true
			if k.Outbound.Schema["properties"].(map[string]any)["timeout"] == nil || len(k.Outbound.Arguments) < 3 {
				t.Errorf("%s's outbound: %+v", k.Type, k.Outbound)
			}
		}
	}
	for _, typ := range []string{"nats", "mqtt", "amqp", "redis", "kafka"} {
		if !can[typ] {
			t.Errorf("%s cannot publish: %s", typ, r.Body)
		}
	}
	if can["cron"] || can["webhook"] {
		t.Errorf("cron or webhook can publish: %s", r.Body)
	}
	// Not run under a lease: its status is the outbound one of the instance answering.
	s.Do(t, "GET", "/api/v1/solutions/demo/connectors/out", tok, nil).JSON(t, &c)
	if c.Status.State != "ready" || c.Status.Received != 0 {
		t.Fatalf("status %+v", c.Status)
	}
}

// TestOpenAPIOutboundConnectors: the outbound connector exchanges answer as openapi.json says.
func TestOpenAPIOutboundConnectors(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "demo", nil)
	doc := loadOpenAPI(t, s)
	const base = "/api/v1/solutions/{solution}/connectors"
	for _, ex := range []struct {
		name, method, template, path, body string
		status                             int
	}{
		{"types", "GET", "/api/v1/connector-types", "/api/v1/connector-types", "", 200},
		{"create", "POST", base, "/api/v1/solutions/demo/connectors", `{"name":"alerts","type":"mqtt","direction":"out","config":{"url":"mqtt://127.0.0.1:1883","password":"p","username":"u"}}`, 201},
		{"create with a topic", "POST", base, "/api/v1/solutions/demo/connectors", `{"name":"bad","type":"mqtt","direction":"out","topic":"a.b","config":{"url":"mqtt://127.0.0.1:1883"}}`, 400},
		{"get", "GET", base + "/{name}", "/api/v1/solutions/demo/connectors/alerts", "", 200},
		{"list", "GET", base, "/api/v1/solutions/demo/connectors", "", 200},
		{"replace", "PUT", base + "/{name}", "/api/v1/solutions/demo/connectors/alerts", `{"type":"mqtt","config":{"url":"mqtt://127.0.0.1:1883","qos":2}}`, 200},
		{"pause", "POST", base + "/{name}/pause", "/api/v1/solutions/demo/connectors/alerts/pause", "", 200},
	} {
		t.Run(ex.name, func(t *testing.T) {
			newReq := func() *http.Request {
				req, _ := http.NewRequest(ex.method, s.URL+ex.path, strings.NewReader(ex.body))
				if ex.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				req.Header.Set("Authorization", "Bearer "+s.AdminToken)
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
