package connector

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	mqtt311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestMQTTListenerConfig(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, field string // field "" = valid
	}{
		{"minimal", `{"listener":true,"topics":["sensors/#"]}`, ""},
		{"everything", `{"listener":true,"topics":["a/+/b","c"],"qos":2,"protocol":"3.1.1","max_in_flight":64,"connect_timeout":"5s"}`, ""},
		{"qos 0", `{"listener":true,"topics":["#"],"qos":0}`, ""},
		{"neither url nor listener", `{"topics":["a"]}`, "config"},
		{"listener false, no url", `{"listener":false,"topics":["a"]}`, "config.url"},
		{"url too", `{"listener":true,"url":"mqtt://b","topics":["a"]}`, "config.url"},
		{"username", `{"listener":true,"topics":["a"],"username":"u"}`, "config.username"},
		{"password", `{"listener":true,"topics":["a"],"password":"p"}`, "config.password"},
		{"client_id", `{"listener":true,"topics":["a"],"client_id":"c"}`, "config.client_id"},
		{"application without listener", `{"url":"mqtt://b","topics":["a"],"application":"id-1"}`, "config.application"},
		{"clean_start", `{"listener":true,"topics":["a"],"clean_start":true}`, "config.clean_start"},
		{"session_expiry", `{"listener":true,"topics":["a"],"session_expiry":"1h"}`, "config.session_expiry"},
		{"id_property", `{"listener":true,"topics":["a"],"id_property":"x"}`, "config.id_property"},
		{"protocol 5", `{"listener":true,"topics":["a"],"protocol":"5"}`, "config.protocol"},
		{"shared subscription", `{"listener":true,"topics":["a","$share/g/b"]}`, "config.topics.1"},
		{"# not last", `{"listener":true,"topics":["a/#/b"]}`, "config.topics.0"},
		{"no topics", `{"listener":true,"topics":[]}`, "config.topics"},
		{"qos 3", `{"listener":true,"topics":["a"],"qos":3}`, "config.qos"},
		{"max_in_flight too many", `{"listener":true,"topics":["a"],"max_in_flight":5000}`, "config.max_in_flight"},
		{"bad connect_timeout", `{"listener":true,"topics":["a"],"connect_timeout":"never"}`, "config.connect_timeout"},
		{"listener not a boolean", `{"listener":"yes","topics":["a"]}`, "config.listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(Connector{Solution: "demo", Name: "m1", Type: "mqtt", Topic: "sensors", Config: json.RawMessage(tc.cfg)})
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *solution.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
	src, err := newMQTT(json.RawMessage(`{"listener":true,"topics":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := src.(*mqttListenerSource); s.qos != 1 || s.inFlight != 16 || s.timeout != 10*time.Second {
		t.Fatalf("defaults %+v", s)
	}
}

// listenerBus is a bus with an MQTT listener whose one tenant, demo, logs in with "demo-token".
func listenerBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Name: "test", MQTT: &bus.MQTTConfig{
		Listen: "127.0.0.1:0",
		Login: func(user, password string) bus.Grant {
			if user == "demo" && password == "demo-token" {
				return bus.Grant{Account: "sb_demo_1"}
			}
			return bus.Grant{}
		},
		Account: func(user string) string {
			if user == "demo" {
				return "sb_demo_1"
			}
			return ""
		},
		MaxConnections: 100, MaxConnectionsPerAccount: 100, MaxPayload: MaxMessageBytes, StoragePerAccount: 16 << 20,
		// A message not acknowledged comes back after this, not the 30 s default.
		AckWait: time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// busListener is the Listener of a bus, as the hub's.
type busListener struct{ b *bus.Bus }

func (l busListener) Login(sol string) (string, string, string, error) {
	if sol != "demo" {
		return "", "", "", solution.ErrNotFound
	}
	return l.b.MQTTDialAddr(), sol, l.b.MQTTOwnPassword(sol), nil
}

// listenerDevice connects as demo's device id; clean false keeps its session. It reports
// whether the server had a session for id.
func listenerDevice(t *testing.T, b *bus.Bus, id, password string, clean bool) (mqtt311.Client, bool) {
	t.Helper()
	c := mqtt311.NewClient(mqtt311.NewClientOptions().AddBroker("tcp://" + b.MQTTDialAddr()).SetProtocolVersion(4).
		SetClientID(id).SetUsername("demo").SetPassword(password).SetCleanSession(clean).SetAutoReconnect(false))
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, tok.(*mqtt311.ConnectToken).SessionPresent()
}

func devicePublish(t *testing.T, c mqtt311.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// startListener runs src as demo's connector until subscribed.
func startListener(t *testing.T, b *bus.Bus, src *mqttListenerSource, sink Sink, cp Checkpoint) *mqttRun {
	t.Helper()
	ready := make(chan struct{}, 1)
	src.subscribed = func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(withListener(context.Background(), busListener{b}, "demo"))
	r := &mqttRun{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, sink, cp) }()
	t.Cleanup(cancel)
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("run ended before subscribing: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("not subscribed within 15s")
	}
	return r
}

func listenerSource(t *testing.T, cfg string) *mqttListenerSource {
	t.Helper()
	src, err := newMQTT(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return src.(*mqttListenerSource)
}

// TestMQTTListenerRedelivery: a listener connector's session outlives its runs: a message
// whose Publish failed is sent again to the next run, one published while no run was there
// is kept for it, and one stored is not sent again. The session is the checkpoint's.
func TestMQTTListenerRedelivery(t *testing.T) {
	b := listenerBus(t)
	dev, _ := listenerDevice(t, b, "boiler", "demo-token", true)
	src := listenerSource(t, `{"listener":true,"topics":["sensors/#"]}`)
	cp := &memCheckpoint{}

	failing := &recordSink{fail: func(int, []Message) error { return errors.New("store down") }}
	run := startListener(t, b, src, failing, cp)
	sess := parseListenerMark(cp.v)
	if sess == nil || !strings.HasPrefix(sess.ClientID, "switchboard-") || sess.QoS != 1 || len(sess.Topics) != 1 {
		t.Fatalf("checkpoint %s", cp.v)
	}
	devicePublish(t, dev, "sensors/boiler/temp", 1, `{"c":80}`)
	select {
	case err := <-run.done:
		if err == nil || !strings.Contains(err.Error(), "store down") {
			t.Fatalf("run with a failing sink: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not fail with its sink")
	}
	devicePublish(t, dev, "sensors/boiler/pressure", 2, "2 bar") // no run: kept by the session
	devicePublish(t, dev, "other/topic", 1, "not subscribed")

	rec := &recordSink{}
	run = startListener(t, b, src, rec, cp)
	eventually(t, "both messages", func() bool { return len(rec.got()) >= 2 })

	// The one sent again comes after the ack wait, so after the one kept meanwhile.
	bySubject := map[string]Message{}
	for _, m := range rec.got() {
		bySubject[m.Subject] = m
	}
	if m := bySubject["sensors/boiler/temp"]; string(m.Data) != `{"c":80}` || m.Extensions["mqttqos"] != "1" {
		t.Fatalf("the message sent again: %+v", rec.got())
	}
	if m := bySubject["sensors/boiler/pressure"]; string(m.Data) != "2 bar" || len(rec.got()) != 2 {
		t.Fatalf("the message kept: %+v", rec.got())
	}
	run.stop(t)
	if s := parseListenerMark(cp.v); s == nil || s.ClientID != sess.ClientID {
		t.Fatalf("checkpoint changed: %s", cp.v)
	}

	rec = &recordSink{}
	run = startListener(t, b, src, rec, cp)
	devicePublish(t, dev, "sensors/marker", 0, "marker")
	eventually(t, "the marker", func() bool { return rec.count("marker") == 1 })
	run.stop(t)
	if got := rec.got(); len(got) != 1 {
		t.Fatalf("stored messages came back: %+v", got)
	}
}

// TestMQTTListenerNewTopics: a connector whose topics changed starts a new session, so the
// old subscriptions (and what was kept for them) are gone; without a listener a run fails
// clearly.
func TestMQTTListenerNewTopics(t *testing.T) {
	b := listenerBus(t)
	dev, _ := listenerDevice(t, b, "boiler", "demo-token", true)
	cp := &memCheckpoint{}
	run := startListener(t, b, listenerSource(t, `{"listener":true,"topics":["a/#"]}`), &recordSink{}, cp)
	run.stop(t)
	old := parseListenerMark(cp.v)
	devicePublish(t, dev, "a/kept-for-the-old-session", 1, "old")

	rec := &recordSink{}
	run = startListener(t, b, listenerSource(t, `{"listener":true,"topics":["b/#"]}`), rec, cp)
	devicePublish(t, dev, "a/after", 1, "old topic")
	devicePublish(t, dev, "b/marker", 1, "marker")
	eventually(t, "the marker", func() bool { return rec.count("marker") == 1 })
	run.stop(t)
	if got := rec.got(); len(got) != 1 {
		t.Fatalf("got %+v, want the marker alone", got)
	}
	if s := parseListenerMark(cp.v); s == nil || s.ClientID != old.ClientID || s.Topics[0] != "b/#" {
		t.Fatalf("checkpoint %s", cp.v)
	}

	err := listenerSource(t, `{"listener":true,"topics":["a"]}`).Run(context.Background(), &recordSink{}, &memCheckpoint{})
	if !errors.Is(err, ErrNoListener) {
		t.Fatalf("run without a listener: %v", err)
	}
}

// TestListenerSessionsEnd: deleting a listener connector ends its session (the server keeps
// nothing more for it) and forgets its checkpoint; a paused one keeps its session.
func TestListenerSessionsEnd(t *testing.T) {
	ctx := context.Background()
	b := listenerBus(t)
	s := openStore(t, b)
	pub := &publisher{}
	m, err := NewManager(ctx, b, s, pub, "a", quiet())
	if err != nil {
		t.Fatal(err)
	}
	m.UseListener(busListener{b})
	m.Start()
	t.Cleanup(m.Close)
	sweeper := StartListenerSessions(m, busListener{b}, quiet())
	t.Cleanup(sweeper.Close)
	dev, _ := listenerDevice(t, b, "boiler", "demo-token", true)

	put := func(name string) {
		t.Helper()
		if _, _, err := s.Put(ctx, Connector{Solution: "demo", Name: name, Type: "mqtt", Topic: "sensors",
			Config: json.RawMessage(`{"listener":true,"topics":["sensors/#"]}`)}); err != nil {
			t.Fatal(err)
		}
	}
	mark := func(name string) *listenerSession {
		e, err := m.marks.Get(ctx, "demo."+name)
		if err != nil {
			return nil
		}
		return parseListenerMark(e.Value())
	}
	put("kept")
	put("gone")
	// Once both subscribed, a message reaches each.
	eventually(t, "both connectors to read", func() bool {
		devicePublish(t, dev, "sensors/probe", 1, "probe")
		seen := map[string]bool{}
		for _, e := range pub.events() {
			seen[e.Source] = true
		}
		return seen["/solutions/demo/connectors/kept"] && seen["/solutions/demo/connectors/gone"]
	})
	gone, kept := mark("gone"), mark("kept")
	if gone == nil || kept == nil {
		t.Fatal("no checkpoints")
	}
	if _, err := s.SetPaused(ctx, "demo", "kept", true); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "demo", "gone"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted connector's checkpoint to go", func() bool {
		_, err := m.marks.Get(ctx, "demo.gone")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	// The server has no session of that client id left; the paused one's it keeps.
	if _, present := listenerDevice(t, b, gone.ClientID, b.MQTTOwnPassword("demo"), false); present {
		t.Error("the deleted connector's session is still there")
	}
	if mark("kept") == nil {
		t.Error("the paused connector's checkpoint went")
	}
	c, present := listenerDevice(t, b, kept.ClientID, b.MQTTOwnPassword("demo"), false)
	if !present {
		t.Error("the paused connector's session went")
	}
	c.Disconnect(0)
}
