package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// natsServer is an embedded NATS server listening on a free port, with a token.
func natsServer(t *testing.T) (url string, nc *nats.Conn) {
	t.Helper()
	addr := freeAddr(t)
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Name: "src", Listen: addr, Token: "source-token-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	url = "nats://" + b.ListenAddr()
	nc, err = nats.Connect(url, nats.Token("source-token-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return url, nc
}

func TestNATSConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg, field string
	}{
		{`{"url":"nats://127.0.0.1:4222","subjects":["orders.>"],"queue":"q1"}`, ""},
		{`{"url":"nats://127.0.0.1:4222","jetstream":{"stream":"ORDERS","consumer":"sb","deliver":"all"}}`, ""},
		{`{"subjects":["a"]}`, "config"},
		{`{"url":"http://x","subjects":["a"]}`, "config.url"},
		{`{"url":"nats://x"}`, "config"},
		{`{"url":"nats://x","subjects":["a"],"jetstream":{"stream":"S","consumer":"c"}}`, "config"},
		{`{"url":"nats://x","jetstream":{"stream":"S","consumer":"c"},"queue":"q"}`, "config.queue"},
		{`{"url":"nats://x","subjects":["a"],"connect_timeout":"forever"}`, "config.connect_timeout"},
		{`{"url":"nats://x","subjects":["a"],"max_in_flight":0}`, "config.max_in_flight"},
		{`{"url":"nats://sb:hunter2@x:4222","subjects":["a"]}`, "config.url"},
		{`{"url":"nats://a:4222, nats://tok@b:4222","subjects":["a"]}`, "config.url"},
		{`{"url":"nats://a:4222,nats://b:4222","subjects":["a"]}`, ""},
	} {
		_, err := Check(Connector{Solution: "demo", Name: "n", Type: "nats", Topic: "t", Config: json.RawMessage(tc.cfg)})
		var fe *solution.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.cfg, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%s: %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
	r := Connector{Type: "nats", Config: json.RawMessage(`{"url":"nats://x","token":"secret-token","subjects":["a"]}`)}.Redacted()
	if string(r.Config) != `{"subjects":["a"],"token":"(set)","url":"nats://x"}` {
		t.Errorf("redacted %s", r.Config)
	}
}

func runSource(t *testing.T, cfg string, sink Sink) (stop func() error) {
	t.Helper()
	src, err := newNATSSource(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink, &memCheckpoint{}) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
			return nil
		}
	}
}

func TestNATSCore(t *testing.T) {
	url, nc := natsServer(t)
	sink := &recordSink{}
	stop := runSource(t, fmt.Sprintf(`{"url":%q,"token":"source-token-0123456789","subjects":["orders.>"],"queue":"sb"}`, url), sink)
	// Core NATS keeps nothing for a subscriber not there yet: publish until one arrives.
	eventually(t, "a first message", func() bool {
		nc.Publish("orders.warmup", []byte(`{}`)) //nolint:errcheck // retried
		return len(sink.got()) > 0
	})
	m := nats.NewMsg("orders.created")
	m.Header.Set(nats.MsgIdHdr, "o-1")
	m.Data = []byte(`{"n":1}`)
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	nc.Publish("other.thing", []byte(`{}`)) //nolint:errcheck // must not arrive
	eventually(t, "the message", func() bool {
		for _, g := range sink.got() {
			if g.ID == "o-1" {
				return g.Subject == "orders.created" && string(g.Data) == `{"n":1}`
			}
		}
		return false
	})
	for _, g := range sink.got() {
		if g.Subject == "other.thing" {
			t.Fatal("a message of another subject arrived")
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
}

// TestNATSJetStream: a durable consumer's messages are acknowledged only once stored: a
// failed Publish leaves the message to come again, with the same id.
func TestNATSJetStream(t *testing.T) {
	url, nc := natsServer(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "orders.created", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"url":%q,"token":"source-token-0123456789","jetstream":{"stream":"ORDERS","consumer":"sb","deliver":"all"}}`, url)
	sink := &recordSink{fail: func(call int, _ []Message) error {
		if call == 1 {
			return errors.New("storage unavailable")
		}
		return nil
	}}
	src, err := newNATSSource(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(ctx, sink, &memCheckpoint{}); err == nil {
		t.Fatal("Run went on after its sink failed")
	}
	stop := runSource(t, cfg, sink)
	eventually(t, "the message again", func() bool { return len(sink.got()) == 1 })
	if g := sink.got()[0]; g.ID != "ORDERS:1" || g.Subject != "orders.created" {
		t.Fatalf("message %+v", g)
	}
	c, err := js.Consumer(ctx, "ORDERS", "sb")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ack", func() bool {
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	if err := stop(); err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
}

func TestNATSRefused(t *testing.T) {
	addr := freeAddr(t)
	src, err := newNATSSource(json.RawMessage(fmt.Sprintf(`{"url":"nats://%s","subjects":["a"],"connect_timeout":"1s"}`, addr)))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(context.Background(), &recordSink{}, &memCheckpoint{}); err == nil {
		t.Fatal("Run against a closed port succeeded")
	}
}

// TestNATSJetStreamStopHandsBack: a run that stops mid-stream (its instance closing) still
// acknowledges the message it stored, and hands back what it fetched ahead, so that the next
// run gets every message at once rather than after the consumer's ack wait (30s).
func TestNATSJetStreamStopHandsBack(t *testing.T) {
	url, nc := natsServer(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		if _, err := js.Publish(ctx, "orders.created", fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	const inFlight = 4 // stored (and fetched) up to 4 at a time
	cfg := fmt.Sprintf(`{"url":%q,"token":"source-token-0123456789","max_in_flight":%d,"jetstream":{"stream":"ORDERS","consumer":"sb","deliver":"all"}}`, url, inFlight)
	src, err := newNATSSource(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	sink := &recordSink{fail: func(call int, _ []Message) error {
		if call == 3 {
			stopRun() // the hub closes while this message is being stored; it is stored
		}
		return nil
	}}
	if err := src.Run(rctx, sink, &memCheckpoint{}); err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
	sink.mu.Lock()
	calls := sink.calls
	sink.mu.Unlock()
	if got := len(sink.got()); calls != 3 || got < 3 || got > 3*inFlight {
		t.Fatalf("first run stored %d messages in %d calls, want 3 calls of 1 to %d", got, calls, inFlight)
	}
	stop := runSource(t, cfg, sink)
	eventually(t, "every message, well within the ack wait", func() bool {
		seen := map[string]bool{}
		for _, m := range sink.got() {
			seen[m.ID] = true
		}
		return len(seen) == n
	})
	if err := stop(); err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
	for id, c := range func() map[string]int {
		count := map[string]int{}
		for _, m := range sink.got() {
			count[m.ID]++
		}
		return count
	}() {
		if c > 1 {
			t.Errorf("message %s stored %d times: its ack was lost", id, c)
		}
	}
}
