package connector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestAMQPConfig(t *testing.T) {
	c := func(cfg string) Connector {
		return Connector{Solution: "demo", Name: "rabbit", Type: "amqp", Topic: "orders", Config: json.RawMessage(cfg)}
	}
	for _, tc := range []struct {
		name, cfg string
		field     string // "" = valid
	}{
		{"minimal", `{"url":"amqp://127.0.0.1","queue":"orders"}`, ""},
		{"everything", `{"url":"amqps://rabbit.example.com:5671/prod","username":"sb","password":"pw","queue":"orders",
			"declare":{"durable":true,"exclusive":false,"auto_delete":false,"arguments":{"x-queue-type":"quorum","x-message-ttl":60000,"x-single-active-consumer":true}},
			"bindings":[{"exchange":"events","routing_key":"orders.#","exchange_kind":"topic"},{"exchange":"amq.fanout"}],
			"prefetch":1024,"consumer_tag":"switchboard-1","connect_timeout":"30s"}`, ""},
		{"credentials in the url", `{"url":"amqp://sb:s3cret@127.0.0.1:5672/%2f","queue":"q"}`, ""},
		{"declare with defaults", `{"url":"amqp://h","queue":"q","declare":{}}`, ""},
		{"no url", `{"queue":"q"}`, "config"},
		{"no queue", `{"url":"amqp://h"}`, "config"},
		{"unknown field", `{"url":"amqp://h","queue":"q","colour":"red"}`, "config"},
		{"other scheme", `{"url":"http://h","queue":"q"}`, "config.url"},
		{"not a url", `{"url":"amqp://u:p@[::1","queue":"q"}`, "config.url"},
		{"no host", `{"url":"amqp:///vhost","queue":"q"}`, "config.url"},
		{"query parameters", `{"url":"amqps://h/?certfile=/etc/shadow","queue":"q"}`, "config.url"},
		{"credentials twice", `{"url":"amqp://a:b@h","username":"c","password":"d","queue":"q"}`, "config.username"},
		{"password alone", `{"url":"amqp://h","password":"d","queue":"q"}`, "config.password"},
		{"empty queue", `{"url":"amqp://h","queue":""}`, "config.queue"},
		{"declare amq. queue", `{"url":"amqp://h","queue":"amq.mine","declare":{}}`, "config.queue"},
		{"unknown declare field", `{"url":"amqp://h","queue":"q","declare":{"passive":true}}`, "config.declare"},
		{"argument of a wrong type", `{"url":"amqp://h","queue":"q","declare":{"arguments":{"x-args":{"a":1}}}}`, "config.declare.arguments.x-args"},
		{"prefetch 0", `{"url":"amqp://h","queue":"q","prefetch":0}`, "config.prefetch"},
		{"prefetch too large", `{"url":"amqp://h","queue":"q","prefetch":1025}`, "config.prefetch"},
		{"bad timeout", `{"url":"amqp://h","queue":"q","connect_timeout":"soon"}`, "config.connect_timeout"},
		{"timeout too long", `{"url":"amqp://h","queue":"q","connect_timeout":"1h"}`, "config.connect_timeout"},
		{"binding without exchange", `{"url":"amqp://h","queue":"q","bindings":[{"routing_key":"a"}]}`, "config.bindings.0"},
		{"binding to the default exchange", `{"url":"amqp://h","queue":"q","bindings":[{"exchange":""}]}`, "config.bindings.0.exchange"},
		{"unknown exchange kind", `{"url":"amqp://h","queue":"q","bindings":[{"exchange":"e","exchange_kind":"x-delayed"}]}`, "config.bindings.0.exchange_kind"},
		{"declare amq. exchange", `{"url":"amqp://h","queue":"q","bindings":[{"exchange":"e"},{"exchange":"amq.topic","exchange_kind":"topic"}]}`, "config.bindings.1.exchange_kind"},
		{"too many bindings", `{"url":"amqp://h","queue":"q","bindings":[` + strings.Repeat(`{"exchange":"e"},`, 16) + `{"exchange":"e"}]}`, "config.bindings"},
		{"consumer tag with a space", `{"url":"amqp://h","queue":"q","consumer_tag":"a b"}`, "config.consumer_tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(c(tc.cfg))
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
}

// TestAMQPSecrets: the url and password are never shown back, nor in errors.
func TestAMQPSecrets(t *testing.T) {
	c := Connector{Type: "amqp", Config: json.RawMessage(`{"url":"amqp://sb:hunter2-url@h","queue":"q"}`)}
	if r := c.Redacted(); strings.Contains(string(r.Config), "hunter2") {
		t.Fatalf("redacted config %s", r.Config)
	}
	_, err := newAMQP(json.RawMessage(`{"url":"amqp://sb:hunter2-url@[::1","queue":"q"}`))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
	src, err := newAMQP(json.RawMessage(`{"url":"amqp://sb:hunter2-url@h:5673/v","queue":"q"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := src.(*amqpSource); strings.Contains(s.shownURL+s.dialURL, "hunter2") || s.shownURL != "amqp://sb@h:5673/v" {
		t.Fatalf("shown %q, dialled %q", s.shownURL, s.dialURL)
	}
}

func amqpTestURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("SWITCHBOARD_TEST_AMQP_URL")
	if u == "" {
		t.Skip("SWITCHBOARD_TEST_AMQP_URL not set")
	}
	return u
}

func amqpSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// amqpBroker is the test's own client of the broker: it publishes and looks at queues.
type amqpBroker struct {
	t    *testing.T
	conn *amqp.Connection
	ch   *amqp.Channel
}

func openAMQPBroker(t *testing.T, u string) *amqpBroker {
	t.Helper()
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return &amqpBroker{t: t, conn: conn, ch: ch}
}

// queue declares a queue deleted at the end of the test.
func (b *amqpBroker) queue(name string) {
	b.t.Helper()
	if _, err := b.ch.QueueDeclare(name, false, false, false, false, nil); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { b.ch.QueueDelete(name, false, false, false) })
}

func (b *amqpBroker) publish(exchange, key string, p amqp.Publishing) {
	b.t.Helper()
	if err := b.ch.PublishWithContext(context.Background(), exchange, key, false, false, p); err != nil {
		b.t.Fatal(err)
	}
}

// state is the queue's ready messages and consumers; -1, 0 when there is no such queue.
func (b *amqpBroker) state(name string) (ready, consumers int) {
	b.t.Helper()
	// On a channel of its own: asking for a missing queue closes the channel.
	ch, err := b.conn.Channel()
	if err != nil {
		b.t.Errorf("channel: %v", err)
		return -1, 0
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return -1, 0
	}
	if err != nil {
		b.t.Errorf("queue %s: %v", name, err)
		return -1, 0
	}
	return q.Messages, q.Consumers
}

// consuming waits for the connector's consumer on the queue (its bindings are made by then).
func (b *amqpBroker) consuming(name string) {
	b.t.Helper()
	eventually(b.t, "a consumer on "+name, func() bool { _, c := b.state(name); return c == 1 })
}

func newAMQPSource(t *testing.T, cfg string) Source {
	t.Helper()
	src, err := newAMQP(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// amqpTestSink is the connector's real sink over a recording publisher.
func amqpTestSink(name string) (*sink, *publisher) {
	pub := &publisher{}
	r := &runner{m: &Manager{log: quiet()}, c: Connector{Solution: "demo", Name: name, Type: "amqp", Topic: "orders"}}
	return &sink{r: r, pub: pub}, pub
}

// amqpRun is a Run in the background.
type amqpRun struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// runAMQP runs src until the end of the test or stop.
func runAMQP(t *testing.T, src Source, s Sink) *amqpRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &amqpRun{t: t, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = src.Run(ctx, s, &memCheckpoint{})
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

// wait is what Run returned, failing the test when it runs on for d.
func (r *amqpRun) wait(d time.Duration) error {
	r.t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(d):
		r.t.Fatalf("Run still running after %s", d)
		return nil
	}
}

// stop ends the run's context: Run must return soon.
func (r *amqpRun) stop() error {
	r.t.Helper()
	r.cancel()
	return r.wait(10 * time.Second)
}

func TestAMQPBindingDelivers(t *testing.T) {
	u := amqpTestURL(t)
	b := openAMQPBroker(t, u)
	sfx := amqpSuffix()
	queue, exchange := "sbtest-q-"+sfx, "sbtest-ex-"+sfx
	t.Cleanup(func() {
		b.ch.QueueDelete(queue, false, false, false)
		b.ch.ExchangeDelete(exchange, false, false)
	})
	src := newAMQPSource(t, fmt.Sprintf(`{"url":%q,"queue":%q,"declare":{"durable":false},
		"bindings":[{"exchange":%q,"routing_key":"orders.#","exchange_kind":"topic"}]}`, u, queue, exchange))
	s, pub := amqpTestSink("rabbit")
	run := runAMQP(t, src, s)
	b.consuming(queue)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	b.publish(exchange, "orders.created", amqp.Publishing{MessageId: "m-1", CorrelationId: "c-1", ContentType: "application/json; charset=utf-8", Body: []byte(`{"n":1}`), Timestamp: at})
	b.publish(exchange, "audit.created", amqp.Publishing{MessageId: "m-x", Body: []byte(`not bound`)})
	b.publish(exchange, "orders.eu.paid", amqp.Publishing{Body: []byte(`plain words`), ContentType: "text/plain"})
	eventually(t, "two events", func() bool { return len(pub.events()) == 2 })
	es := pub.events()
	e := es[0]
	if e.ID != "rabbit:m-1" || e.Subject != "orders.created" || string(e.Data.(json.RawMessage)) != `{"n":1}` || e.DataContentType != "application/json" ||
		!e.Time.Equal(at) || e.Extensions["amqpexchange"] != exchange || e.Extensions["amqpcorrelationid"] != "c-1" {
		t.Fatalf("first event %+v", e)
	}
	if e := es[1]; e.ID != "" || e.Subject != "orders.eu.paid" || e.Data != "plain words" || e.DataContentType != "text/plain" {
		t.Fatalf("second event %+v", e)
	}
	if err := run.stop(); err != nil {
		t.Fatalf("Run returned %v after its context ended, want nil", err)
	}
	if ready, _ := b.state(queue); ready != 0 {
		t.Fatalf("%d messages left in the queue, want all acknowledged", ready)
	}
}

// TestAMQPPrefetch: while the sink holds a batch, the broker delivers no more than prefetch.
func TestAMQPPrefetch(t *testing.T) {
	u := amqpTestURL(t)
	b := openAMQPBroker(t, u)
	queue := "sbtest-q-" + amqpSuffix()
	b.queue(queue)
	const n, prefetch = 20, 4
	for i := range n {
		b.publish("", queue, amqp.Publishing{MessageId: fmt.Sprint("m-", i), Body: []byte(fmt.Sprint(i))})
	}
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]bool{}
	largest := 0
	s := sinkFunc(func(ms []Message) error {
		<-release
		mu.Lock()
		defer mu.Unlock()
		largest = max(largest, len(ms))
		for _, m := range ms {
			seen[m.ID] = true
		}
		return nil
	})
	src := newAMQPSource(t, fmt.Sprintf(`{"url":%q,"queue":%q,"prefetch":%d}`, u, queue, prefetch))
	run := runAMQP(t, src, s)
	eventually(t, "prefetch messages delivered and the rest ready", func() bool {
		ready, consumers := b.state(queue)
		return consumers == 1 && ready == n-prefetch
	})
	close(release)
	eventually(t, "every message", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == n })
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	if largest > prefetch {
		t.Fatalf("a batch of %d, more than the prefetch of %d", largest, prefetch)
	}
	if ready, _ := b.state(queue); ready != 0 {
		t.Fatalf("%d messages left", ready)
	}
}

// TestAMQPRedeliveredAfterFailedPublish: a message whose Publish failed is not acknowledged:
// Run fails, the message is back in the queue, and the next run stores it with the same id.
func TestAMQPRedeliveredAfterFailedPublish(t *testing.T) {
	u := amqpTestURL(t)
	b := openAMQPBroker(t, u)
	queue := "sbtest-q-" + amqpSuffix()
	b.queue(queue)
	b.publish("", queue, amqp.Publishing{MessageId: "once", Body: []byte(`{"a":1}`)})
	cfg := fmt.Sprintf(`{"url":%q,"queue":%q}`, u, queue)
	var firstID string
	failing := sinkFunc(func(ms []Message) error {
		firstID = ms[0].ID
		// Delivered, not yet acknowledged: out of the ready messages.
		if ready, _ := b.state(queue); ready != 0 {
			t.Errorf("%d ready while the message is being stored", ready)
		}
		return errors.New("store down")
	})
	if err := runAMQP(t, newAMQPSource(t, cfg), failing).wait(15 * time.Second); err == nil || !strings.Contains(err.Error(), "store down") {
		t.Fatalf("Run returned %v, want the sink's error", err)
	}
	if ready, _ := b.state(queue); ready != 1 {
		t.Fatalf("%d ready after the failed Publish, want the message back", ready)
	}
	s, pub := amqpTestSink("rabbit")
	run := runAMQP(t, newAMQPSource(t, cfg), s)
	eventually(t, "the message again", func() bool { return len(pub.events()) == 1 })
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	if e := pub.events()[0]; firstID != "once" || e.ID != "rabbit:once" {
		t.Fatalf("first delivery %q, then event %+v", firstID, e)
	}
	if ready, _ := b.state(queue); ready != 0 {
		t.Fatalf("%d ready after it was stored", ready)
	}
}

// TestAMQPOversizedAcked: a message the sink rejects is acknowledged, not delivered again.
func TestAMQPOversizedAcked(t *testing.T) {
	u := amqpTestURL(t)
	b := openAMQPBroker(t, u)
	queue := "sbtest-q-" + amqpSuffix()
	b.queue(queue)
	b.publish("", queue, amqp.Publishing{MessageId: "big", Body: []byte(`"` + strings.Repeat("x", MaxMessageBytes) + `"`)})
	b.publish("", queue, amqp.Publishing{MessageId: "small", Body: []byte(`{}`)})
	s, pub := amqpTestSink("rabbit")
	run := runAMQP(t, newAMQPSource(t, fmt.Sprintf(`{"url":%q,"queue":%q}`, u, queue)), s)
	eventually(t, "the small message", func() bool { return len(pub.events()) == 1 })
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	if e := pub.events()[0]; e.ID != "rabbit:small" {
		t.Fatalf("event %+v", e)
	}
	if st := s.r.status; st.Rejected != 1 || st.Published != 1 {
		t.Fatalf("status %+v, want one rejected and one published", st)
	}
	if ready, _ := b.state(queue); ready != 0 {
		t.Fatalf("%d ready: the rejected message came back", ready)
	}
}

// TestAMQPQueueDeleted: the broker cancelling the consumer ends Run with an error.
func TestAMQPQueueDeleted(t *testing.T) {
	u := amqpTestURL(t)
	b := openAMQPBroker(t, u)
	queue := "sbtest-q-" + amqpSuffix()
	b.queue(queue)
	run := runAMQP(t, newAMQPSource(t, fmt.Sprintf(`{"url":%q,"queue":%q}`, u, queue)), sinkFunc(func([]Message) error { return nil }))
	b.consuming(queue)
	if _, err := b.ch.QueueDelete(queue, false, false, false); err != nil {
		t.Fatal(err)
	}
	if err := run.wait(15 * time.Second); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Run returned %v after its queue was deleted", err)
	}
}

// TestAMQPMissingQueue: without declare, a missing queue is an error saying so.
func TestAMQPMissingQueue(t *testing.T) {
	u := amqpTestURL(t)
	queue := "sbtest-missing-" + amqpSuffix()
	err := newAMQPSource(t, fmt.Sprintf(`{"url":%q,"queue":%q}`, u, queue)).Run(context.Background(), sinkFunc(func([]Message) error { return nil }), &memCheckpoint{})
	t.Logf("Run returned: %v", err)
	if err == nil || !strings.Contains(err.Error(), queue) || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("Run returned %v", err)
	}
}

// TestAMQPWrongCredentials: refused credentials end Run with an error that says so and does
// not carry the password, given in the url or apart.
func TestAMQPWrongCredentials(t *testing.T) {
	u, err := url.Parse(amqpTestURL(t))
	if err != nil {
		t.Fatal(err)
	}
	pw := "wrong-pw-" + amqpSuffix()
	u.User = url.UserPassword("guest", pw)
	bare := *u
	bare.User = nil
	for name, cfg := range map[string]string{
		"in the url": fmt.Sprintf(`{"url":%q,"queue":"q"}`, u.String()),
		"apart":      fmt.Sprintf(`{"url":%q,"username":"guest","password":%q,"queue":"q"}`, bare.String(), pw),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := newAMQPSource(t, cfg).Run(ctx, sinkFunc(func([]Message) error { return nil }), &memCheckpoint{})
			t.Logf("Run returned: %v", err)
			if err == nil || !strings.Contains(err.Error(), "authentication") || strings.Contains(err.Error(), pw) {
				t.Fatalf("Run returned %v", err)
			}
		})
	}
}

// TestAMQPRefused: nothing listening is an error, soon.
func TestAMQPRefused(t *testing.T) {
	addr := freeAddr(t)
	src := newAMQPSource(t, fmt.Sprintf(`{"url":"amqp://guest:guest@%s/","queue":"q","connect_timeout":"2s"}`, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := src.Run(ctx, sinkFunc(func([]Message) error { return nil }), &memCheckpoint{})
	t.Logf("Run returned: %v", err)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Run returned %v", err)
	}
}

// TestAMQPSilentBroker: a server that accepts and never answers fails the handshake within
// connect_timeout rather than holding Run.
func TestAMQPSilentBroker(t *testing.T) {
	addr, _ := silentListener(t)
	src := newAMQPSource(t, fmt.Sprintf(`{"url":"amqp://%s/","queue":"q","connect_timeout":"1s"}`, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	err := src.Run(ctx, sinkFunc(func([]Message) error { return nil }), &memCheckpoint{})
	t.Logf("Run returned: %v", err)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run returned %v", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("Run took %s", d)
	}
	// And a context ending during the handshake ends Run at once, with nil.
	ctx, cancel = context.WithCancel(context.Background())
	src = newAMQPSource(t, fmt.Sprintf(`{"url":"amqp://%s/","queue":"q","connect_timeout":"2m"}`, addr))
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sinkFunc(func([]Message) error { return nil }), &memCheckpoint{}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after its context ended", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run held on after its context ended")
	}
}
