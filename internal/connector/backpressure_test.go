package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The tests here check, for each type, that a Publish that waits (as it does while the
// handlers are behind) stops the source from taking more than one batch ahead: the rest stays
// with the broker, which the source's lag shows, and comes once Publish goes on.

// gateSink is a sink whose Publish waits until open is closed, keeping what it is given.
type gateSink struct {
	open chan struct{}

	mu       sync.Mutex
	calls    int
	largest  int
	received map[string]int // by data
}

func newGateSink() *gateSink {
	return &gateSink{open: make(chan struct{}), received: map[string]int{}}
}

func (g *gateSink) Publish(ctx context.Context, ms []Message) error {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.largest = max(g.largest, len(ms))
	for _, m := range ms {
		g.received[string(m.Data)]++
	}
	return nil
}

// waiting reports whether a Publish call came (and waits, until open).
func (g *gateSink) waiting() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls > 0
}

// all reports whether every one of n messages, data "0" to n-1, came exactly once.
func (g *gateSink) all(t *testing.T, n int) bool {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for d, c := range g.received {
		if c > 1 {
			t.Fatalf("message %s came %d times", d, c)
		}
	}
	for i := range n {
		if g.received[strconv.Itoa(i)] != 1 {
			return false
		}
	}
	return len(g.received) == n
}

// lagIs asks l for its lag.
func lagIs(l Lagger) (uint64, bool) { return l.Lag(context.Background()) }

// TestRedisStopsPulling: while Publish waits, XREADGROUP is not called again: the group has
// one batch (COUNT) delivered, and XINFO's lag shows the rest.
func TestRedisStopsPulling(t *testing.T) {
	e := newRedisEnv(t)
	const n, count = 40, 4
	for i := range n {
		e.add(t, "body", strconv.Itoa(i))
	}
	src := e.source(t, fmt.Sprintf(`,"start":"0","field":"body","count":%d`, count))
	if _, ok := lagIs(src); ok {
		t.Fatal("a lag before running")
	}
	sink := newGateSink()
	stop, _ := redisRun(src, sink)
	defer stop()
	eventually(t, "one batch taken and the rest left in the stream", func() bool {
		lag, ok := lagIs(src)
		return sink.waiting() && ok && lag == n-count && e.pending(t) == count
	})
	close(sink.open)
	eventually(t, "every entry", func() bool { return sink.all(t, n) })
	eventually(t, "no lag", func() bool { lag, ok := lagIs(src); return ok && lag == 0 && e.pending(t) == 0 })
	if sink.largest > count {
		t.Fatalf("a batch of %d, more than COUNT %d", sink.largest, count)
	}
}

// TestAMQPStopsPulling: while Publish waits, the broker delivers no more than the prefetch;
// the lag is the queue's ready messages.
func TestAMQPStopsPulling(t *testing.T) {
	u := amqpTestURL(t)
	b := openAMQPBroker(t, u)
	queue := "sbtest-q-" + amqpSuffix()
	b.queue(queue)
	const n, prefetch = 30, 4
	for i := range n {
		b.publish("", queue, amqp.Publishing{MessageId: fmt.Sprint("m-", i), Body: []byte(strconv.Itoa(i))})
	}
	src := newAMQPSource(t, fmt.Sprintf(`{"url":%q,"queue":%q,"prefetch":%d}`, u, queue, prefetch))
	sink := newGateSink()
	run := runAMQP(t, src, sink)
	l := src.(Lagger)
	eventually(t, "prefetch delivered and the rest ready", func() bool {
		lag, ok := lagIs(l)
		return sink.waiting() && ok && lag == n-prefetch
	})
	close(sink.open)
	eventually(t, "every message", func() bool { return sink.all(t, n) })
	eventually(t, "no lag", func() bool { lag, ok := lagIs(l); return ok && lag == 0 })
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := lagIs(l); ok {
		t.Fatal("a lag once stopped")
	}
}

// TestNATSJetStreamStopsPulling: while Publish waits, the consumer delivers no more than
// its pull and its max ack pending allow; the lag is the consumer's pending count.
func TestNATSJetStreamStopsPulling(t *testing.T) {
	url, nc := natsServer(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	const n, inFlight = 100, 4
	for i := range n {
		if _, err := js.Publish(ctx, "orders.created", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	src, err := newNATSSource(json.RawMessage(fmt.Sprintf(`{"url":%q,"token":"source-token-0123456789","jetstream":{"stream":"ORDERS","consumer":"sb","deliver":"all"},"max_in_flight":%d}`, url, inFlight)))
	if err != nil {
		t.Fatal(err)
	}
	l := src.(Lagger)
	sink := newGateSink()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.Run(rctx, sink, &memCheckpoint{}) }()
	defer func() { cancel(); <-done }()
	eventually(t, "a batch taken and the rest left with the consumer", func() bool {
		lag, ok := lagIs(l)
		// The consumer lets at most 4 x max_in_flight go unacknowledged.
		return sink.waiting() && ok && lag < n && lag >= n-4*inFlight
	})
	close(sink.open)
	eventually(t, "every message", func() bool { return sink.all(t, n) })
	eventually(t, "no lag", func() bool { lag, ok := lagIs(l); return ok && lag == 0 })
}

// TestNATSCoreDrops: core NATS has no back-pressure: what arrives while Publish waits is kept
// in the client up to its bound, and what comes beyond is dropped and counted as dropped.
func TestNATSCoreDrops(t *testing.T) {
	url, nc := natsServer(t)
	s, pub := heldSink(Bounds{}, 0)
	open := make(chan struct{})
	gated := &gatedSink{sink: s, open: open}
	src, err := newNATSSource(json.RawMessage(fmt.Sprintf(`{"url":%q,"token":"source-token-0123456789","subjects":["bursts.>"],"max_in_flight":2}`, url)))
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := src.(Lagger); ok {
		if _, known := lagIs(l); known {
			t.Fatal("core NATS told a lag")
		}
	}
	const kept = 10
	src.(*natsSource).pendingMsgs = kept
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, gated, &memCheckpoint{}) }()
	defer func() { cancel(); <-done }()
	// Nothing is kept for a subscriber not there yet: publish until the first one waits.
	eventually(t, "a first message held", func() bool {
		nc.Publish("bursts.warmup", []byte(`"warmup"`)) //nolint:errcheck // retried
		return gated.waiting()
	})
	const n = 50
	for i := range n {
		if err := nc.Publish("bursts.b", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "drops counted while Publish waits", func() bool { return s.status().Dropped > 0 })
	close(open)
	burst := func() int {
		b := 0
		for _, e := range pub.events() {
			if e.Subject == "bursts.b" {
				b++
			}
		}
		return b
	}
	eventually(t, "what was not dropped stored", func() bool { return uint64(burst())+s.status().Dropped >= n })
	// The client's bound counts the message it is handing over too.
	if b, d := burst(), s.status().Dropped; b < kept-1 || uint64(b)+d != n {
		t.Errorf("stored %d and dropped %d of %d: want what the client kept (%d) stored and the rest dropped", b, d, n, kept-1)
	}
}

// gatedSink waits until open before handing on to sink.
type gatedSink struct {
	sink Sink
	open chan struct{}

	mu    sync.Mutex
	calls int
}

func (g *gatedSink) Publish(ctx context.Context, ms []Message) error {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.sink.Publish(ctx, ms)
}

func (g *gatedSink) Dropped(n int) { g.sink.(dropCounter).Dropped(n) }

func (g *gatedSink) waiting() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls > 0
}

// TestKafkaStopsPulling: while Publish waits, no offset is committed and the records stay
// behind the group's commit: the lag (high watermark less commit) counts them all.
func TestKafkaStopsPulling(t *testing.T) {
	topic, group := kafkaName("held"), kafkaName("g")
	e := newKafkaEnv(t, 1, topic)
	const n, inFlight = 60, 4
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}
	}
	e.produce(rs...)
	src := e.source(topic, group, fmt.Sprintf(`,"max_in_flight":%d`, inFlight))
	sink := newGateSink()
	run := runKafka(t, src, sink)
	eventually(t, "a batch taken, nothing committed", func() bool {
		lag, ok := lagIs(src)
		return sink.waiting() && ok && lag == n && e.committed(group, topic, 0) < 0
	})
	close(sink.open)
	eventually(t, "every record", func() bool { return sink.all(t, n) })
	eventually(t, "no lag", func() bool { lag, ok := lagIs(src); return ok && lag == 0 })
	if sink.largest > inFlight {
		t.Fatalf("a batch of %d, more than max_in_flight %d", sink.largest, inFlight)
	}
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestMQTTStopsPulling: while Publish waits, the broker sends no more than the receive
// maximum (max_in_flight) unacknowledged: every message still comes, once, in batches no
// larger, on the same connection.
func TestMQTTStopsPulling(t *testing.T) {
	topic := "sbtest/held/" + randSuffix()
	id := "sbtest-held-" + randSuffix()
	const n, inFlight = 30, 4
	src := newMQTTSource(t, map[string]any{"topics": []string{topic}, "qos": 1, "client_id": id, "max_in_flight": inFlight})
	t.Cleanup(func() { forgetMQTTSession(t, "5", id) })
	sink := newGateSink()
	run := startMQTT(t, src, sink)
	lines := make([]string, n)
	for i := range lines {
		lines[i] = strconv.Itoa(i)
	}
	mqttPublish(t, topic, 1, nil, lines)
	eventually(t, "a batch waiting", sink.waiting)
	close(sink.open)
	eventually(t, "every message", func() bool { return sink.all(t, n) })
	select {
	case err := <-run.done:
		t.Fatalf("the run ended while held: %v", err)
	default:
	}
	run.stop(t)
	if sink.largest > inFlight {
		t.Fatalf("a batch of %d, more than max_in_flight %d", sink.largest, inFlight)
	}
}
