package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// newSender is the sender of an outbound config of typ, checked as the store checks it.
func newSender(t *testing.T, typ, cfg string) Sender {
	t.Helper()
	if _, err := Check(Connector{Solution: "demo", Name: "o1", Type: typ, Direction: DirectionOut, Config: json.RawMessage(cfg)}); err != nil {
		t.Fatalf("config %s: %v", cfg, err)
	}
	k, _ := OutKindOf(typ)
	s, err := k.New(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func send(t *testing.T, s Sender, m Outgoing) (Receipt, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if m.ID == "" {
		m.ID = "msg-" + randSuffix()
	}
	return s.Send(ctx, m)
}

// TestNATSOutCore: core publishes reach a subscriber with their headers, content type and
// message id; a connection lost is opened anew by the next publish.
func TestNATSOutCore(t *testing.T) {
	url, nc := natsServer(t)
	sub, err := nc.SubscribeSync("alerts.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush() //nolint:errcheck // the publish below waits for the server anyway
	s := newSender(t, "nats", fmt.Sprintf(`{"url":%q,"token":"source-token-0123456789","subject":"alerts.default"}`, url))
	r, err := send(t, s, Outgoing{To: "alerts.high", Data: []byte(`{"level":3}`), ContentType: "application/json", Headers: map[string]string{"X-Source": "sensor-7"}, ID: "m-1"})
	if err != nil || r.ID != "m-1" {
		t.Fatalf("publish: %+v, %v", r, err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "alerts.high" || string(m.Data) != `{"level":3}` || m.Header.Get("Content-Type") != "application/json" ||
		m.Header.Get("X-Source") != "sensor-7" || m.Header.Get(nats.MsgIdHdr) != "m-1" {
		t.Fatalf("received %s %q %v", m.Subject, m.Data, m.Header)
	}
	// The config's subject when the publish names none.
	if _, err := send(t, s, Outgoing{Data: []byte("plain")}); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || m.Subject != "alerts.default" || string(m.Data) != "plain" {
		t.Fatalf("default subject: %v %v", m, err)
	}
	// Lost: the next publish connects again.
	l, _, err := s.(*natsSender).conn.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l.nc.Close()
	if _, err := send(t, s, Outgoing{To: "alerts.again", Data: []byte("again")}); err != nil {
		t.Fatalf("after the connection was lost: %v", err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "again" {
		t.Fatalf("after the connection was lost: %v %v", m, err)
	}
}

// TestNATSOutJetStream: a JetStream publish returns the stream's ack; the message id dedupes
// one sent again; a subject no stream takes, or another stream than expected, is refused.
func TestNATSOutJetStream(t *testing.T) {
	url, nc := natsServer(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, "nats", fmt.Sprintf(`{"url":%q,"token":"source-token-0123456789","jetstream":true,"expect_stream":"ORDERS"}`, url))
	r, err := send(t, s, Outgoing{To: "orders.new", Data: []byte(`{"n":1}`), ID: "order-1", Headers: map[string]string{"X-Shop": "north"}})
	if err != nil || r.ID != "order-1" || r.Fields["stream"] != "ORDERS" || r.Fields["sequence"] != uint64(1) || r.Fields["duplicate"] != false {
		t.Fatalf("publish: %+v, %v", r, err)
	}
	r, err = send(t, s, Outgoing{To: "orders.new", Data: []byte(`{"n":1}`), ID: "order-1"})
	if err != nil || r.Fields["duplicate"] != true {
		t.Fatalf("sent again: %+v, %v", r, err)
	}
	m, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "orders.new" || string(m.Data) != `{"n":1}` || m.Header.Get("X-Shop") != "north" {
		t.Fatalf("stored %s %q %v", m.Subject, m.Data, m.Header)
	}
	if info, _ := stream.Info(ctx); info.State.Msgs != 1 {
		t.Fatalf("%d messages stored, want 1", info.State.Msgs)
	}

	for _, tc := range []struct{ name, cfg, subject, want string }{
		{"no stream", `{"url":%q,"token":"source-token-0123456789","jetstream":true}`, "nowhere.x", "no JetStream stream takes subject nowhere.x"},
		{"another stream", `{"url":%q,"token":"source-token-0123456789","jetstream":true,"expect_stream":"OTHER"}`, "orders.new", "expected stream does not match"},
	} {
		s := newSender(t, "nats", fmt.Sprintf(tc.cfg, url))
		_, err := send(t, s, Outgoing{To: tc.subject, Data: []byte("x")})
		if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a permanent error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestNATSOutRefused: a wrong token is a refusal not attempted again; a server that is not
// there is a failure that is.
func TestNATSOutRefused(t *testing.T) {
	url, _ := natsServer(t)
	_, err := send(t, newSender(t, "nats", fmt.Sprintf(`{"url":%q,"token":"wrong-token","subject":"a"}`, url)), Outgoing{Data: []byte("x")})
	if err == nil || !isPermanent(err) || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Errorf("wrong token: %v", err)
	}
	_, err = send(t, newSender(t, "nats", `{"url":"nats://127.0.0.1:1","subject":"a"}`), Outgoing{Data: []byte("x")})
	if err == nil || isPermanent(err) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("no server: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a refused connection took the whole timeout: %v", err)
	}
}
