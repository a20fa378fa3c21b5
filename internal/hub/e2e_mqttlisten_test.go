package hub_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// mqttListen starts a hub with an MQTT listener on a free port.
func mqttListen(t *testing.T, opts ...func(*hub.Config)) *hubtest.Server {
	t.Helper()
	return hubtest.Start(t, append([]func(*hub.Config){func(c *hub.Config) { c.MQTTListen = "127.0.0.1:0" }}, opts...)...)
}

// mqttDevice connects to the hub's listener as MQTT 3.1.1 client id of solution sol.
func mqttDevice(s *hubtest.Server, id, sol, password string) (mqtt311.Client, error) {
	c := mqtt311.NewClient(mqtt311.NewClientOptions().AddBroker("tcp://" + s.Hub.MQTTAddr()).SetProtocolVersion(4).
		SetClientID(id).SetUsername(sol).SetPassword(password).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(10 * time.Second))
	if err := mqttWait(c.Connect()); err != nil {
		return nil, err
	}
	return c, nil
}

func mustMQTTDevice(t *testing.T, s *hubtest.Server, id, sol, password string) mqtt311.Client {
	t.Helper()
	c, err := mqttDevice(s, id, sol, password)
	if err != nil {
		t.Fatalf("device %s of %s: %v", id, sol, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func mqttWait(tok mqtt311.Token) error {
	if !tok.WaitTimeout(10 * time.Second) {
		return errors.New("timed out")
	}
	return tok.Error()
}

func mqttPub(t *testing.T, c mqtt311.Client, topic string, qos byte, payload any) {
	t.Helper()
	if err := mqttWait(c.Publish(topic, qos, false, payload)); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// deviceHandler deploys, in sol, a handler of topic that records each event's data (its first
// 200 bytes as JSON) under seen:<subject>.
func deviceHandler(t *testing.T, s *hubtest.Server, sol, token, topic string) {
	t.Helper()
	if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", token, map[string]any{"name": "record", "topics": []string{topic},
		"script": `Keystore.set({key = "seen:" .. event.subject, value = string.sub(to_json(event.data), 1, 200)})`,
	}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
}

func listenerConnector(t *testing.T, s *hubtest.Server, sol, token, name, topic string, filters ...string) {
	t.Helper()
	if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/connectors", token, map[string]any{"name": name, "type": "mqtt", "topic": topic,
		"config": map[string]any{"listener": true, "topics": filters}}); r.Status != http.StatusCreated {
		t.Fatalf("create connector %s: %d %s", name, r.Status, r.Body)
	}
}

// seen is what the handler recorded of subject ("" when nothing).
func seen(t *testing.T, s *hubtest.Server, sol, token, subject string) string {
	t.Helper()
	r := s.Do(t, "GET", ksPath(sol, "seen:"+subject), token, nil)
	if r.Status != http.StatusOK {
		return ""
	}
	v, _ := r.Map(t)["value"].(string)
	return v
}

// waitReading publishes QoS 1 probes on topic until the solution's connector has made an
// event of one: a connector's subscription is in place some time after it is created.
func waitReading(t *testing.T, s *hubtest.Server, sol, token string, dev mqtt311.Client, topic string) {
	t.Helper()
	hubtest.Eventually(t, "the listener connector of "+sol+" to read", func() bool {
		mqttPub(t, dev, topic, 1, `"probe"`)
		return seen(t, s, sol, token, topic) != ""
	})
}

// TestMQTTListen: devices publish QoS 0 and 1 (paho.mqtt.golang, and mosquitto_pub as the
// docs show it) to the hub's own MQTT listener with their solution's id and token; a listener
// connector makes events of them, the MQTT topic as subject, which a handler receives. An MQTT
// 5 client is refused: the listener speaks 3.1.1.
func TestMQTTListen(t *testing.T) {
	t.Parallel()
	s := mqttListen(t)
	tok := createSolution(t, s, "plant", nil)
	deviceHandler(t, s, "plant", tok, "sensors.reading")
	listenerConnector(t, s, "plant", tok, "devices", "sensors.reading", "sensors/#")
	dev := mustMQTTDevice(t, s, "boiler-1", "plant", tok)
	waitReading(t, s, "plant", tok, dev, "sensors/probe")

	mqttPub(t, dev, "sensors/boiler/temp", 1, `{"c":21.5}`)
	mqttPub(t, dev, "sensors/hall/humidity", 0, "40")
	mqttPub(t, dev, "elsewhere/x", 1, "not subscribed")
	hubtest.Eventually(t, "the QoS 1 and QoS 0 messages", func() bool {
		return seen(t, s, "plant", tok, "sensors/boiler/temp") != "" && seen(t, s, "plant", tok, "sensors/hall/humidity") != ""
	})
	if got := seen(t, s, "plant", tok, "sensors/boiler/temp"); got != `{"c":21.5}` {
		t.Errorf("QoS 1 message as %s", got)
	}
	if got := seen(t, s, "plant", tok, "sensors/hall/humidity"); got != "40" {
		t.Errorf("QoS 0 message as %s", got)
	}

	if _, err := exec.LookPath("mosquitto_pub"); err == nil {
		host, port, _ := net.SplitHostPort(s.Hub.MQTTAddr())
		out, err := exec.Command("mosquitto_pub", "-h", host, "-p", port, "-u", "plant", "-P", tok,
			"-t", "sensors/cellar/temp", "-q", "1", "-m", `{"c": 12}`).CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_pub: %v: %s", err, out)
		}
		hubtest.Eventually(t, "mosquitto_pub's message", func() bool { return seen(t, s, "plant", tok, "sensors/cellar/temp") != "" })
	}

	r := s.Do(t, "GET", "/api/v1/solutions/plant/connectors/devices", tok, nil)
	var c connectorAnswer
	r.JSON(t, &c)
	if c.Status.State != "running" || c.Status.Published < 3 || c.Status.Rejected != 0 {
		t.Errorf("connector %s", r.Body)
	}
	if seen(t, s, "plant", tok, "elsewhere/x") != "" {
		t.Error("a topic the connector does not subscribe to became an event")
	}

	// MQTT 5: refused at CONNECT (nats-server speaks 3.1.1).
	conn, err := net.Dial("tcp", s.Hub.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v5 := paho.NewClient(paho.ClientConfig{Conn: conn})
	ca, err := v5.Connect(ctx, &paho.Connect{ClientID: "v5", CleanStart: true, KeepAlive: 30,
		Username: "plant", UsernameFlag: true, Password: []byte(tok), PasswordFlag: true})
	if err == nil && ca.ReasonCode == 0 {
		t.Error("an MQTT 5 client was let in")
	}
}

// TestMQTTListenIsolation: a device gets in with its own solution's id and token only (a wrong
// token, another solution's, an unknown solution and the hub's tokens are refused alike), and
// sees and touches nothing of another solution or of the hub: not their messages, not
// JetStream, KV or system subjects. Solution tokens open nothing on --nats-listen.
func TestMQTTListenIsolation(t *testing.T) {
	t.Parallel()
	natsAddr := hubtest.FreeAddr(t)
	s := mqttListen(t, func(c *hub.Config) { c.NATSListen = natsAddr })
	plantTok := createSolution(t, s, "plant", nil)
	officeTok := createSolution(t, s, "office", nil)
	natsToken, err := os.ReadFile(filepath.Join(s.DataDir, "nats-token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, sol, password string }{
		{"wrong token", "plant", plantTok + "x"},
		{"another solution's token", "plant", officeTok},
		{"unknown solution", "ghost", plantTok},
		{"the admin token", "plant", s.AdminToken},
		{"the nats token", "plant", strings.TrimSpace(string(natsToken))},
		{"no token", "plant", ""},
	} {
		c, err := mqttDevice(s, "intruder", tc.sol, tc.password)
		if err == nil {
			c.Disconnect(0)
			t.Errorf("%s: let in", tc.name)
			continue
		}
		// The same answer whether the solution exists or not.
		if err.Error() != "not Authorized" {
			t.Errorf("%s: refused with %q, want the CONNACK of not authorized", tc.name, err)
		}
	}
	for _, opt := range []nats.Option{nats.UserInfo("plant", plantTok), nats.Token(plantTok)} {
		if nc, err := nats.Connect("nats://"+natsAddr, opt); err == nil {
			nc.Close()
			t.Error("a solution's token opened the hub's NATS")
		}
	}

	deviceHandler(t, s, "plant", plantTok, "sensors.reading")
	deviceHandler(t, s, "office", officeTok, "office.reading")
	listenerConnector(t, s, "plant", plantTok, "devices", "sensors.reading", "sensors/#")
	listenerConnector(t, s, "office", officeTok, "everything", "office.reading", "#")
	plant := mustMQTTDevice(t, s, "dev-1", "plant", plantTok)
	office := mustMQTTDevice(t, s, "dev-1", "office", officeTok) // one client id, two solutions: two sessions
	waitReading(t, s, "plant", plantTok, plant, "sensors/probe")
	waitReading(t, s, "office", officeTok, office, "office/probe")

	var mu sync.Mutex
	var officeGot []string
	if err := mqttWait(office.Subscribe("#", 1, func(_ mqtt311.Client, m mqtt311.Message) {
		mu.Lock()
		officeGot = append(officeGot, m.Topic())
		mu.Unlock()
	})); err != nil {
		t.Fatal(err)
	}
	for _, filter := range []string{"$JS/API/#", "$KV/#", "$SYS/#", "$MQTT/msgs/#", "_INBOX/#"} {
		tok := office.Subscribe(filter, 0, func(mqtt311.Client, mqtt311.Message) {})
		if err := mqttWait(tok); err != nil {
			t.Fatal(err)
		}
		if q := tok.(*mqtt311.SubscribeToken).Result()[filter]; q != 0x80 {
			t.Errorf("subscribe to %s granted (QoS %d)", filter, q)
		}
	}
	// The plant's device aims at the office's topics, and at the hub's KV and JetStream.
	for _, topic := range []string{"office/reading", "sensors/reading", "$KV/sb_solutions/office", "$JS/API/STREAM/DELETE/KV_sb_solutions", "$JS/API/STREAM/PURGE/$MQTT_msgs"} {
		mqttPub(t, plant, topic, 1, "{}")
	}
	hubtest.Eventually(t, "the plant's own message", func() bool { return seen(t, s, "plant", plantTok, "sensors/reading") != "" })
	// The office's connector reads "#": the plant's messages would be in its session before this.
	mqttPub(t, office, "office/marker", 1, `"m"`)
	hubtest.Eventually(t, "the office's marker", func() bool { return seen(t, s, "office", officeTok, "office/marker") != "" })
	if got := seen(t, s, "office", officeTok, "office/reading"); got != "" {
		t.Errorf("the office's connector got the plant's message: %s", got)
	}
	mu.Lock()
	got := append([]string(nil), officeGot...)
	mu.Unlock()
	if len(got) != 1 || got[0] != "office/marker" {
		t.Errorf("the office's device received %v, want its own marker only", got)
	}
	// The hub's state is whole, and the plant's devices go on.
	if r := s.Do(t, "GET", "/api/v1/solutions/office", s.AdminToken, nil); r.Status != http.StatusOK {
		t.Errorf("the office after the plant's attempts: %d %s", r.Status, r.Body)
	}
	mqttPub(t, plant, "sensors/after", 1, `"after"`)
	hubtest.Eventually(t, "the plant's device to go on", func() bool { return seen(t, s, "plant", plantTok, "sensors/after") != "" })
}

// TestMQTTListenBounds: devices beyond a solution's bound and beyond the server's are
// refused (the solution's listener connector counts, and is never refused); a message larger
// than 1 MiB closes its device's connection, one below is an event.
func TestMQTTListenBounds(t *testing.T) {
	t.Parallel()
	s := mqttListen(t, func(c *hub.Config) { c.MQTTMaxConnections, c.MQTTMaxConnectionsPerSolution = 3, 2 })
	plantTok := createSolution(t, s, "plant", nil)
	officeTok := createSolution(t, s, "office", nil)
	deviceHandler(t, s, "plant", plantTok, "sensors.reading")
	listenerConnector(t, s, "plant", plantTok, "devices", "sensors.reading", "sensors/#")
	dev := mustMQTTDevice(t, s, "dev-1", "plant", plantTok)
	waitReading(t, s, "plant", plantTok, dev, "sensors/probe")

	// The plant: its connector and one device are its two.
	if c, err := mqttDevice(s, "dev-2", "plant", plantTok); err == nil {
		c.Disconnect(0)
		t.Fatal("a device beyond the solution's bound was let in")
	}
	// The office: one device makes three in all.
	mustMQTTDevice(t, s, "dev-1", "office", officeTok)
	if c, err := mqttDevice(s, "dev-2", "office", officeTok); err == nil {
		c.Disconnect(0)
		t.Fatal("a device beyond the server's bound was let in")
	}
	logs := s.Logs.String()
	if !strings.Contains(logs, "too many for the solution") || !strings.Contains(logs, "too many in all") {
		t.Errorf("the refusals are not logged:\n%s", logs)
	}

	mqttPub(t, dev, "sensors/large", 1, `"`+strings.Repeat("x", 512<<10)+`"`)
	hubtest.Eventually(t, "the 512 KiB message", func() bool { return seen(t, s, "plant", plantTok, "sensors/large") != "" })
	_ = mqttWait(dev.Publish("sensors/huge", 1, false, make([]byte, 1<<20+1)))
	hubtest.Eventually(t, "the connection to close", func() bool { return !dev.IsConnectionOpen() })
	// Its place is free again.
	var again mqtt311.Client
	hubtest.Eventually(t, "the device to connect again", func() bool {
		c, err := mqttDevice(s, "dev-1", "plant", plantTok)
		again = c
		return err == nil
	})
	defer again.Disconnect(0)
	if seen(t, s, "plant", plantTok, "sensors/huge") != "" {
		t.Error("the message over 1 MiB became an event")
	}
}

// TestMQTTListenLifecycle: a paused listener connector's session keeps what devices publish
// meanwhile; a deleted one's session ends (what is published before it is made again is not
// kept for it); a deleted solution's devices are disconnected and its token opens nothing, and
// a solution made again under its id starts afresh.
func TestMQTTListenLifecycle(t *testing.T) {
	t.Parallel()
	s := mqttListen(t)
	tok := createSolution(t, s, "plant", nil)
	deviceHandler(t, s, "plant", tok, "sensors.reading")
	listenerConnector(t, s, "plant", tok, "devices", "sensors.reading", "sensors/#")
	dev := mustMQTTDevice(t, s, "dev-1", "plant", tok)
	waitReading(t, s, "plant", tok, dev, "sensors/probe")

	if r := s.Do(t, "POST", "/api/v1/solutions/plant/connectors/devices/pause", tok, nil); r.Status != http.StatusOK {
		t.Fatalf("pause: %d %s", r.Status, r.Body)
	}
	mqttPub(t, dev, "sensors/while-paused", 1, `"kept"`)
	if r := s.Do(t, "POST", "/api/v1/solutions/plant/connectors/devices/resume", tok, nil); r.Status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.Status, r.Body)
	}
	// The pause answers before the connector's session has gone: a message that reached the
	// stopping session unacknowledged is sent again once the server's ack wait (30 s) has
	// passed, as the docs say; kept either way.
	waitFor(t, "the message published while paused", 45*time.Second, func() bool { return seen(t, s, "plant", tok, "sensors/while-paused") != "" })

	if r := s.Do(t, "DELETE", "/api/v1/solutions/plant/connectors/devices", tok, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete connector: %d %s", r.Status, r.Body)
	}
	hubtest.Eventually(t, "the deleted connector's session to end", func() bool {
		return strings.Contains(s.Logs.String(), "listener session ended")
	})
	mqttPub(t, dev, "sensors/gap", 1, `"gap"`)
	listenerConnector(t, s, "plant", tok, "devices", "sensors.reading", "sensors/#")
	waitReading(t, s, "plant", tok, dev, "sensors/after")
	if err := mqttWait(dev.Publish("fresh/retained", 1, true, "old")); err != nil {
		t.Fatal(err)
	}
	if got := seen(t, s, "plant", tok, "sensors/gap"); got != "" {
		t.Errorf("a message published while no connector was there reached the new one: %s", got)
	}

	if r := s.Do(t, "DELETE", "/api/v1/solutions/plant", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete solution: %d %s", r.Status, r.Body)
	}
	hubtest.Eventually(t, "the device to be disconnected", func() bool { return !dev.IsConnectionOpen() })
	if c, err := mqttDevice(s, "dev-1", "plant", tok); err == nil {
		c.Disconnect(0)
		t.Fatal("the deleted solution's token let a device in")
	}
	accounts := func() []string {
		ents, _ := os.ReadDir(filepath.Join(s.DataDir, "jetstream", "jetstream"))
		var out []string
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "sb_plant_") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	if got := accounts(); len(got) != 0 {
		t.Errorf("the deleted solution's MQTT state is still on disk: %v", got)
	}
	tok2 := createSolution(t, s, "plant", nil)
	dev2 := mustMQTTDevice(t, s, "dev-1", "plant", tok2)
	sub := make(chan string, 4)
	if err := mqttWait(dev2.Subscribe("#", 1, func(_ mqtt311.Client, m mqtt311.Message) { sub <- m.Topic() })); err != nil {
		t.Fatal(err)
	}
	mqttPub(t, dev2, "fresh/marker", 1, "m")
	// The old solution's retained message does not come first: its state is gone.
	select {
	case got := <-sub:
		if got != "fresh/marker" {
			t.Errorf("the solution made again first received %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new solution's device did not receive its own message")
	}
	if got := accounts(); len(got) != 1 {
		t.Errorf("accounts on disk: %v, want the new solution's one", got)
	}
}

// TestMQTTListenGuarded: the listener is one of the hub's own listeners: an mqtt connector
// whose url points at it is refused by the connector guard (reading it is "listener": true).
func TestMQTTListenGuarded(t *testing.T) {
	t.Parallel()
	s := mqttListen(t)
	tok := createSolution(t, s, "plant", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/plant/connectors", tok, map[string]any{"name": "sneaky", "type": "mqtt", "topic": "sensors.reading",
		"config": map[string]any{"url": "mqtt://" + s.Hub.MQTTAddr(), "topics": []string{"#"}, "username": "plant", "password": tok, "connect_timeout": "2s"}}); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var last string
	waitFor(t, "the guard to refuse the listener's address", 30*time.Second, func() bool {
		r := s.Do(t, "GET", "/api/v1/solutions/plant/connectors/sneaky", tok, nil)
		var c connectorAnswer
		r.JSON(t, &c)
		last = c.Status.LastError
		return last != ""
	})
	if !strings.Contains(last, "hub's own listeners") {
		t.Errorf("last_error %q, want the guard's refusal", last)
	}
}
