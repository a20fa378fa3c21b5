package connector

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestMQTTConfig(t *testing.T) {
	topics17 := make([]string, 17)
	for i := range topics17 {
		topics17[i] = "t/" + strconv.Itoa(i)
	}
	many, _ := json.Marshal(topics17)
	for _, tc := range []struct {
		name  string
		cfg   string
		field string // "" = valid
	}{
		{"minimal", `{"url":"mqtt://broker:1883","topics":["sensors/+/temp"]}`, ""},
		{"everything, 5", `{"url":"mqtts://broker:8883","topics":["a/#","$share/g1/alerts/#"],"qos":2,"protocol":"5","client_id":"c1","username":"u","password":"p","clean_start":false,"session_expiry":"2h","max_in_flight":1024,"connect_timeout":"5s","id_property":"message-id"}`, ""},
		{"3.1.1 over websockets", `{"url":"ws://broker:9001/mqtt","topics":["#"],"qos":0,"protocol":"3.1.1"}`, ""},
		{"no url", `{"topics":["a"]}`, "config"},
		{"unknown field", `{"url":"mqtt://b","topics":["a"],"colour":"red"}`, "config"},
		{"url not a URL", `{"url":"broker:1883","topics":["a"]}`, "config.url"},
		{"url of another scheme", `{"url":"http://broker","topics":["a"]}`, "config.url"},
		{"credentials in the url", `{"url":"mqtt://u:p@broker","topics":["a"]}`, "config.url"},
		{"no topics", `{"url":"mqtt://b","topics":[]}`, "config.topics"},
		{"too many topics", `{"url":"mqtt://b","topics":` + string(many) + `}`, "config.topics"},
		{"# not last", `{"url":"mqtt://b","topics":["ok","a/#/b"]}`, "config.topics.1"},
		{"wildcard inside a level", `{"url":"mqtt://b","topics":["a/b+"]}`, "config.topics.0"},
		{"shared without a group", `{"url":"mqtt://b","topics":["$share//a"]}`, "config.topics.0"},
		{"shared without a filter", `{"url":"mqtt://b","topics":["$share/g"]}`, "config.topics.0"},
		{"qos 3", `{"url":"mqtt://b","topics":["a"],"qos":3}`, "config.qos"},
		{"protocol 4", `{"url":"mqtt://b","topics":["a"],"protocol":"4"}`, "config.protocol"},
		{"max_in_flight 0", `{"url":"mqtt://b","topics":["a"],"max_in_flight":0}`, "config.max_in_flight"},
		{"max_in_flight too many", `{"url":"mqtt://b","topics":["a"],"max_in_flight":2000}`, "config.max_in_flight"},
		{"bad connect_timeout", `{"url":"mqtt://b","topics":["a"],"connect_timeout":"forever"}`, "config.connect_timeout"},
		{"connect_timeout too long", `{"url":"mqtt://b","topics":["a"],"connect_timeout":"1h"}`, "config.connect_timeout"},
		{"bad session_expiry", `{"url":"mqtt://b","topics":["a"],"session_expiry":"soon"}`, "config.session_expiry"},
		{"session_expiry with 3.1.1", `{"url":"mqtt://b","topics":["a"],"protocol":"3.1.1","session_expiry":"1h"}`, "config.session_expiry"},
		{"id_property with 3.1.1", `{"url":"mqtt://b","topics":["a"],"protocol":"3.1.1","id_property":"message-id"}`, "config.id_property"},
		{"password without username", `{"url":"mqtt://b","topics":["a"],"password":"p"}`, "config.username"},
		{"empty client_id", `{"url":"mqtt://b","topics":["a"],"client_id":""}`, "config.client_id"},
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

	// Defaults: a session kept for QoS 1, a client id of its own per source.
	a, err := newMQTT(json.RawMessage(`{"url":"mqtt://b","topics":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newMQTT(json.RawMessage(`{"url":"mqtt://b","topics":["a"],"qos":0}`))
	sa, sb := a.(*mqttSource), b.(*mqttSource)
	if sa.qos != 1 || sa.cleanStart || sa.expiry != 3600 || sa.inFlight != 16 || !sa.v5 || sa.timeout != 10*time.Second {
		t.Fatalf("defaults %+v", sa)
	}
	if !sb.cleanStart || sb.expiry != 0 {
		t.Fatalf("QoS 0 defaults %+v", sb)
	}
	if !strings.HasPrefix(sa.clientID, "switchboard-") || sa.clientID == sb.clientID || len(sa.clientID) > 23 {
		t.Fatalf("client ids %q, %q", sa.clientID, sb.clientID)
	}
	if k, _ := KindOf("mqtt"); len(k.Secrets) != 1 || k.Secrets[0] != "password" {
		t.Fatalf("secrets %v", k.Secrets)
	}
}

// TestMQTTKeepsClientID: a made-up client id is kept in the connector's checkpoint when the
// broker's session is to be resumed, so that the next source (a restart, another instance)
// resumes it; new topics get a new id; a configured id, or a clean start, leaves the
// checkpoint alone.
func TestMQTTKeepsClientID(t *testing.T) {
	source := func(cfg string) *mqttSource {
		t.Helper()
		src, err := newMQTT(json.RawMessage(cfg))
		if err != nil {
			t.Fatal(err)
		}
		return src.(*mqttSource)
	}
	keep := func(s *mqttSource, cp Checkpoint) string {
		t.Helper()
		if err := s.keepClientID(context.Background(), cp); err != nil {
			t.Fatal(err)
		}
		return s.clientID
	}
	const plain = `{"url":"mqtt://b","topics":["a/#","b"]}`
	for _, tc := range []struct {
		name, first, next string
		sameID            bool // the next source takes the first's id
		saved             bool // the first source saved to the checkpoint
	}{
		{"made up, resumed", plain, plain, true, true},
		{"made up, protocol 3.1.1", `{"url":"mqtt://b","topics":["a"],"protocol":"3.1.1"}`, `{"url":"mqtt://b","topics":["a"],"protocol":"3.1.1"}`, true, true},
		{"new topics, new session", plain, `{"url":"mqtt://b","topics":["b"]}`, false, true},
		{"configured", `{"url":"mqtt://b","topics":["a"],"client_id":"mine"}`, `{"url":"mqtt://b","topics":["a"],"client_id":"mine"}`, true, false},
		{"clean start", `{"url":"mqtt://b","topics":["a"],"qos":0}`, `{"url":"mqtt://b","topics":["a"],"qos":0}`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := &memCheckpoint{}
			first := keep(source(tc.first), cp)
			if saved := cp.v != nil; saved != tc.saved {
				t.Fatalf("saved %q, want saved %v", cp.v, tc.saved)
			}
			next := source(tc.next)
			made := next.clientID
			if got := keep(next, cp); (got == first) != tc.sameID {
				t.Fatalf("next id %q, first %q: want the same %v", got, first, tc.sameID)
			}
			if !tc.sameID && tc.saved && !strings.Contains(string(cp.v), made) {
				t.Fatalf("checkpoint %s does not keep the new id %s", cp.v, made)
			}
		})
	}
	// A checkpoint that fails fails the run's start: the id could not be kept.
	if err := source(plain).keepClientID(context.Background(), failingCheckpoint{}); err == nil {
		t.Fatal("a failing checkpoint was not an error")
	}
}

type failingCheckpoint struct{}

func (failingCheckpoint) Load(context.Context) ([]byte, error) { return nil, errors.New("kv down") }
func (failingCheckpoint) Save(context.Context, []byte) error   { return errors.New("kv down") }

func mqttTestURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("SWITCHBOARD_TEST_MQTT_URL")
	if u == "" {
		t.Skip("SWITCHBOARD_TEST_MQTT_URL not set")
	}
	return u
}

func randSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// mqttPublish publishes with the broker's own client: each line a message, or data whole
// when one is given. props are MQTT 5 user properties.
func mqttPublish(t *testing.T, topic string, qos int, data []byte, lines []string, props ...string) {
	t.Helper()
	u, err := url.Parse(mqttTestURL(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("mosquitto_pub"); err != nil {
		t.Skip("mosquitto_pub not installed")
	}
	args := []string{"-h", u.Hostname(), "-p", cmpOr(u.Port(), "1883"), "-t", topic, "-q", strconv.Itoa(qos), "-V", "5", "-i", "sbpub-" + randSuffix()}
	for i := 0; i+1 < len(props); i += 2 {
		args = append(args, "-D", "publish", "user-property", props[i], props[i+1])
	}
	cmd := exec.Command("mosquitto_pub", args...)
	if lines != nil {
		cmd.Args = append(cmd.Args, "-l")
		cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	} else {
		cmd.Args = append(cmd.Args, "-s")
		cmd.Stdin = bytes.NewReader(data)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
}

func newMQTTSource(t *testing.T, cfg map[string]any) *mqttSource {
	t.Helper()
	cfg["url"] = mqttTestURL(t)
	raw, _ := json.Marshal(cfg)
	if _, err := Check(Connector{Solution: "demo", Name: "m1", Type: "mqtt", Topic: "sensors", Config: raw}); err != nil {
		t.Fatalf("config %s: %v", raw, err)
	}
	src, err := newMQTT(raw)
	if err != nil {
		t.Fatal(err)
	}
	return src.(*mqttSource)
}

type mqttRun struct {
	cancel context.CancelFunc
	done   chan error
}

// startMQTT runs src until subscribed; stop ends the run and wants nil soon after.
func startMQTT(t *testing.T, src *mqttSource, sink Sink) *mqttRun {
	t.Helper()
	ready := make(chan struct{}, 1)
	src.subscribed = func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &mqttRun{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, sink, &memCheckpoint{}) }()
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

func (r *mqttRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5s of cancel")
	}
}

// forgetMQTTSession removes a test's session from the broker (clean start, no expiry).
func forgetMQTTSession(t *testing.T, protocol, clientID string) {
	src := newMQTTSource(t, map[string]any{"topics": []string{"sbtest/none"}, "protocol": protocol, "client_id": clientID, "clean_start": true, "qos": 0})
	startMQTT(t, src, &recordSink{}).stop(t)
}

// TestMQTTDelivers: messages published by the broker's client reach the sink with their
// topic as subject, QoS as an extension and (5, with id_property) the id they carry.
func TestMQTTDelivers(t *testing.T) {
	mqttTestURL(t)
	for _, tc := range []struct {
		protocol string
		qos      int
	}{{"5", 0}, {"5", 1}, {"5", 2}, {"3.1.1", 0}, {"3.1.1", 1}, {"3.1.1", 2}} {
		t.Run(fmt.Sprintf("%s qos %d", tc.protocol, tc.qos), func(t *testing.T) {
			base := "sbtest/" + randSuffix()
			cfg := map[string]any{"topics": []string{base + "/+/temp"}, "protocol": tc.protocol, "qos": tc.qos, "clean_start": true}
			if tc.protocol == "5" {
				cfg["id_property"] = "message-id"
			}
			src := newMQTTSource(t, cfg)
			rec := &recordSink{}
			run := startMQTT(t, src, rec)
			mqttPublish(t, base+"/kitchen/temp", 2, []byte(`{"c":21.5}`), nil, "message-id", "m-1")
			mqttPublish(t, base+"/kitchen/humidity", 2, []byte(`{"rh":40}`), nil) // not subscribed
			mqttPublish(t, base+"/hall/temp", 2, []byte("19 degrees"), nil)
			eventually(t, "two messages", func() bool { return len(rec.got()) >= 2 })
			run.stop(t)
			got := rec.got()
			if len(got) != 2 {
				t.Fatalf("got %d messages: %+v", len(got), got)
			}
			wantID := ""
			if tc.protocol == "5" {
				wantID = "m-1"
			}
			m := got[0]
			if string(m.Data) != `{"c":21.5}` || m.Subject != base+"/kitchen/temp" || m.ID != wantID || m.Extensions["mqttqos"] != strconv.Itoa(tc.qos) {
				t.Fatalf("first message %+v", m)
			}
			if m := got[1]; string(m.Data) != "19 degrees" || m.Subject != base+"/hall/temp" || m.ID != "" {
				t.Fatalf("second message %+v", m)
			}
		})
	}
}

// TestMQTTRedelivery: a message whose Publish failed is not acknowledged: Run fails, and
// the next run (same client id, session kept) gets it again from the broker; once stored
// it is acknowledged and does not come back.
func TestMQTTRedelivery(t *testing.T) {
	mqttTestURL(t)
	for _, protocol := range []string{"5", "3.1.1"} {
		t.Run(protocol, func(t *testing.T) {
			base := "sbtest/" + randSuffix()
			clientID := "sbtest-" + randSuffix()
			t.Cleanup(func() { forgetMQTTSession(t, protocol, clientID) })
			cfg := map[string]any{"topics": []string{base + "/#"}, "protocol": protocol, "qos": 1, "client_id": clientID, "clean_start": false}
			if protocol == "5" {
				cfg["id_property"] = "message-id"
			}
			src := newMQTTSource(t, cfg)

			failing := &recordSink{fail: func(int, []Message) error { return errors.New("store down") }}
			run := startMQTT(t, src, failing)
			mqttPublish(t, base+"/orders", 1, []byte("order 1"), nil, "message-id", "o-1")
			select {
			case err := <-run.done:
				if err == nil || !strings.Contains(err.Error(), "store down") || !strings.Contains(err.Error(), "mqtt ") {
					t.Fatalf("run with a failing sink: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("run did not fail with its sink")
			}

			// The same source runs again, as the manager does after its back-off.
			rec := &recordSink{}
			run = startMQTT(t, src, rec)
			eventually(t, "the message again", func() bool { return rec.count("order 1") == 1 })
			m := rec.got()[0]
			if m.Subject != base+"/orders" || (protocol == "5" && m.ID != "o-1") {
				t.Fatalf("redelivered %+v", m)
			}
			run.stop(t)

			// Acknowledged: a third run sees only what is new.
			rec = &recordSink{}
			run = startMQTT(t, src, rec)
			mqttPublish(t, base+"/marker", 1, []byte("marker"), nil)
			eventually(t, "the marker", func() bool { return rec.count("marker") == 1 })
			run.stop(t)
			if n := rec.count("order 1"); n != 0 {
				t.Fatalf("the stored message came back %d times", n)
			}
		})
	}
}

// TestMQTTRejectedAcked: a message the sink rejects (too large) is acknowledged and does not
// come back; the run goes on.
func TestMQTTRejectedAcked(t *testing.T) {
	mqttTestURL(t)
	for _, protocol := range []string{"5", "3.1.1"} {
		t.Run(protocol, func(t *testing.T) {
			base := "sbtest/" + randSuffix()
			clientID := "sbtest-" + randSuffix()
			t.Cleanup(func() { forgetMQTTSession(t, protocol, clientID) })
			src := newMQTTSource(t, map[string]any{"topics": []string{base + "/#"}, "protocol": protocol, "qos": 1, "client_id": clientID})
			rec := &recordSink{}
			run := startMQTT(t, src, rec)
			big := bytes.Repeat([]byte("x"), MaxMessageBytes+1)
			mqttPublish(t, base+"/big", 1, big, nil)
			mqttPublish(t, base+"/small", 1, []byte("small"), nil)
			eventually(t, "the small message", func() bool { return rec.count("small") == 1 })
			run.stop(t)
			rec.mu.Lock()
			calls := rec.calls
			rec.mu.Unlock()
			if calls < 1 || len(rec.got()) != 1 {
				t.Fatalf("%d calls, stored %d", calls, len(rec.got()))
			}

			rec = &recordSink{}
			run = startMQTT(t, src, rec)
			mqttPublish(t, base+"/marker", 1, []byte("marker"), nil)
			eventually(t, "the marker", func() bool { return rec.count("marker") == 1 })
			run.stop(t)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, m := range rec.msgs {
				if m.Subject != base+"/marker" {
					t.Fatalf("came back: %s", m.Subject)
				}
			}
		})
	}
}

// TestMQTTSharedSubscription: two sources in one group share the messages: each is stored
// once, by one of them.
func TestMQTTSharedSubscription(t *testing.T) {
	mqttTestURL(t)
	for _, protocol := range []string{"5", "3.1.1"} {
		t.Run(protocol, func(t *testing.T) {
			base := "sbtest/" + randSuffix()
			filter := "$share/g" + randSuffix() + "/" + base + "/#"
			var recs []*recordSink
			for range 2 {
				rec := &recordSink{}
				recs = append(recs, rec)
				run := startMQTT(t, newMQTTSource(t, map[string]any{"topics": []string{filter}, "protocol": protocol, "qos": 1, "clean_start": true}), rec)
				defer run.stop(t)
			}
			const n = 20
			var lines []string
			for i := range n {
				lines = append(lines, "m"+strconv.Itoa(i))
			}
			mqttPublish(t, base+"/jobs", 1, nil, lines)
			total := func() int { return len(recs[0].got()) + len(recs[1].got()) }
			eventually(t, "all messages", func() bool { return total() >= n })
			seen := map[string]bool{}
			for _, rec := range recs {
				if len(rec.got()) == 0 {
					t.Fatalf("one member got none (%d and %d)", len(recs[0].got()), len(recs[1].got()))
				}
				for _, m := range rec.got() {
					if seen[string(m.Data)] {
						t.Fatalf("%s delivered to both", m.Data)
					}
					seen[string(m.Data)] = true
				}
			}
			if len(seen) != n {
				t.Fatalf("%d distinct messages, want %d", len(seen), n)
			}
		})
	}
}

// TestMQTTConnectFails: a refused connection, or a server that never answers, makes Run
// return an error in time; a cancelled context makes it return nil.
func TestMQTTConnectFails(t *testing.T) {
	u, err := url.Parse(mqttTestURL(t))
	if err != nil {
		t.Fatal(err)
	}
	silentAddr, accepted := silentListener(t)
	refused := "mqtt://" + u.Hostname() + ":1"
	silent := "mqtt://" + silentAddr
	for _, protocol := range []string{"5", "3.1.1"} {
		for _, target := range []string{refused, silent} {
			t.Run(protocol+" "+target, func(t *testing.T) {
				raw, _ := json.Marshal(map[string]any{"url": target, "topics": []string{"a"}, "protocol": protocol, "connect_timeout": "1s"})
				src, err := newMQTT(raw)
				if err != nil {
					t.Fatal(err)
				}
				began := time.Now()
				done := make(chan error, 1)
				go func() { done <- src.Run(context.Background(), &recordSink{}, &memCheckpoint{}) }()
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "mqtt "+target) {
						t.Fatalf("run: %v", err)
					}
					t.Logf("after %v: %v", time.Since(began).Round(time.Millisecond), err)
				case <-time.After(10 * time.Second):
					t.Fatal("run hangs")
				}
			})
		}
		t.Run(protocol+" cancelled while connecting", func(t *testing.T) {
			raw, _ := json.Marshal(map[string]any{"url": silent, "topics": []string{"a"}, "protocol": protocol, "connect_timeout": "30s"})
			src, _ := newMQTT(raw)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			before := accepted()
			go func() { done <- src.Run(ctx, &recordSink{}, &memCheckpoint{}) }()
			eventually(t, "the connection", func() bool { return accepted() > before })
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run after cancel: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("run did not return after cancel")
			}
		})
	}
}

// TestMQTTConnectionLost: a connection the broker ends (here another client taking over the
// client id) makes Run return an error, for the manager to run it again.
func TestMQTTConnectionLost(t *testing.T) {
	mqttTestURL(t)
	for _, protocol := range []string{"5", "3.1.1"} {
		t.Run(protocol, func(t *testing.T) {
			clientID := "sbtest-" + randSuffix()
			cfg := map[string]any{"topics": []string{"sbtest/" + randSuffix()}, "protocol": protocol, "client_id": clientID, "clean_start": true}
			first := startMQTT(t, newMQTTSource(t, cfg), &recordSink{})
			second := startMQTT(t, newMQTTSource(t, cfg), &recordSink{})
			select {
			case err := <-first.done:
				if err == nil || !strings.Contains(err.Error(), "mqtt ") {
					t.Fatalf("run of the client taken over: %v", err)
				}
				t.Log(err)
			case <-time.After(15 * time.Second):
				t.Fatal("run goes on after its connection ended")
			}
			second.stop(t)
		})
	}
}
