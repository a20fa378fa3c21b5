package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
)

// TestPendingCounter: the events of a solution stored and not yet done by every handler they
// reached, by topic, and none of another solution's; done, they are no longer counted.
func TestPendingCounter(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	d := newDispatcher(t, b, s, rec, nil)
	p := NewPendingCounter(b.JetStream())

	counts := func(sol string) map[string]uint64 {
		t.Helper()
		got, ok, err := p.Count(ctx, sol)
		if err != nil || !ok {
			t.Fatalf("count %s: %v, %v", sol, ok, err)
		}
		return got
	}
	if got := counts("demo"); len(got) != 0 {
		t.Fatalf("before any event: %v", got)
	}

	mustPut(t, s, Handler{Solution: "demo", Name: "one", Topics: []string{"orders.new"}, Script: "return true"})
	mustPut(t, s, Handler{Solution: "demo", Name: "two", Topics: []string{"orders.*", "audit"}, Script: "return true"})
	mustPut(t, s, Handler{Solution: "demox", Name: "one", Topics: []string{"orders.new"}, Script: "return true"})
	for _, e := range []Event{
		{Solution: "demo", Topic: "orders.new"}, {Solution: "demo", Topic: "orders.new"}, {Solution: "demo", Topic: "orders.new"},
		{Solution: "demo", Topic: "audit"}, {Solution: "demo", Topic: "audit"},
		{Solution: "demox", Topic: "orders.new"},
	} {
		if err := d.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Stored before any instance started: every one waits, counted once however many
	// handlers it reached.
	if got, want := counts("demo"), map[string]uint64{"orders.new": 3, "audit": 2}; !maps.Equal(got, want) {
		t.Fatalf("demo: %v, want %v", got, want)
	}
	if got, want := counts("demox"), map[string]uint64{"orders.new": 1}; !maps.Equal(got, want) {
		t.Fatalf("demox: %v, want %v", got, want)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every event done and no longer counted", func() bool {
		return len(counts("demo")) == 0 && len(counts("demox")) == 0
	})
}

// TestPendingCounterServers: the count on the embedded server and on an outside one
// (SWITCHBOARD_TEST_NATS_URL, such as a nats-server 2.9), read by a consumer of the test's own
// so that no instance of the hub on a shared server takes the events away.
func TestPendingCounterServers(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
	}{
		{"embedded", ""},
		{"outside", os.Getenv("SWITCHBOARD_TEST_NATS_URL")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "outside" && tc.url == "" {
				t.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222 with JetStream)")
			}
			ctx := context.Background()
			b, err := bus.Open(ctx, bus.Config{URL: tc.url, DataDir: t.TempDir(), Name: "pending-test"})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			js := b.JetStream()
			if err := ensureEventStreams(ctx, js, 1); err != nil {
				t.Fatal(err)
			}
			raw := make([]byte, 4)
			rand.Read(raw) //nolint:errcheck // never fails
			sol := "pending" + hex.EncodeToString(raw)
			cons, err := js.CreateConsumer(ctx, EventsStream, jetstream.ConsumerConfig{Durable: "sbtest_" + sol,
				FilterSubject: eventSubject(sol, ">"), AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverNewPolicy})
			if err != nil {
				t.Fatal(err)
			}
			defer js.DeleteConsumer(context.WithoutCancel(ctx), EventsStream, "sbtest_"+sol) //nolint:errcheck // test clean-up
			for _, topic := range []string{"orders.new", "orders.new", "orders.new", "audit", "audit"} {
				if _, err := js.Publish(ctx, eventSubject(sol, topic), []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
			}
			p := NewPendingCounter(js)
			st, err := js.Stream(ctx, EventsStream)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := p.Count(ctx, sol)
			if err != nil {
				t.Fatal(err)
			}
			if st.CachedInfo().Config.Retention != jetstream.InterestPolicy {
				// Kept by limits (an older stream on a server before 2.10): done events stay.
				if ok {
					t.Fatalf("a count %v of a stream kept by limits", got)
				}
				return
			}
			if want := map[string]uint64{"orders.new": 3, "audit": 2}; !ok || !maps.Equal(got, want) {
				t.Fatalf("count %v (ok %v), want %v", got, ok, want)
			}
			batch, err := cons.Fetch(5, jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			acked := 0
			for m := range batch.Messages() {
				if err := m.DoubleAck(ctx); err != nil {
					t.Fatal(err)
				}
				acked++
			}
			if acked != 5 {
				t.Fatalf("fetched %d of 5 (%v)", acked, batch.Error())
			}
			if got, ok, err := p.Count(ctx, sol); err != nil || !ok || len(got) != 0 {
				t.Fatalf("once acknowledged: %v, %v, %v", got, ok, err)
			}
		})
	}
}
