package connector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// get takes one message from queue name, waiting for it.
func (b *amqpBroker) get(name string) amqp.Delivery {
	b.t.Helper()
	var d amqp.Delivery
	eventually(b.t, "a message on "+name, func() bool {
		var ok bool
		var err error
		d, ok, err = b.ch.Get(name, true)
		if err != nil {
			b.t.Fatal(err)
		}
		return ok
	})
	return d
}

// TestAMQPOut: a publish to an exchange (declared by the connector) reaches the queue bound
// for its routing key, persistent, with its headers, content type and message id; the
// default exchange reaches a queue by name.
func TestAMQPOut(t *testing.T) {
	u := amqpTestURL(t)
	b := openAMQPBroker(t, u)
	exchange, queue := "sbtest-out-"+amqpSuffix(), "sbtest-out-"+amqpSuffix()
	t.Cleanup(func() { b.ch.ExchangeDelete(exchange, false, false) }) //nolint:errcheck // best effort
	s := newSender(t, "amqp", fmt.Sprintf(`{"url":%q,"exchange":%q,"exchange_kind":"topic","routing_key":"alerts.default"}`, u, exchange))
	// The first publish declares the exchange; with nothing bound, the message is returned.
	_, err := send(t, s, Outgoing{To: "alerts.high", Data: []byte("lost")})
	if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), "unroutable") || !strings.Contains(err.Error(), "NO_ROUTE") {
		t.Fatalf("unroutable: %v", err)
	}
	b.queue(queue)
	if err := b.ch.QueueBind(queue, "alerts.#", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	r, err := send(t, s, Outgoing{To: "alerts.high", Data: []byte(`{"level":3}`), ContentType: "application/json", Headers: map[string]string{"x-source": "sensor-7"}, ID: "m-1"})
	if err != nil || r.ID != "m-1" {
		t.Fatalf("publish: %+v, %v", r, err)
	}
	d := b.get(queue)
	if string(d.Body) != `{"level":3}` || d.RoutingKey != "alerts.high" || d.Exchange != exchange || d.ContentType != "application/json" ||
		d.MessageId != "m-1" || d.DeliveryMode != amqp.Persistent || d.Headers["x-source"] != "sensor-7" || d.AppId != "switchboard" {
		t.Fatalf("received %+v", d)
	}
	if _, err := send(t, s, Outgoing{Data: []byte("default key")}); err != nil {
		t.Fatal(err)
	}
	if d := b.get(queue); string(d.Body) != "default key" || d.RoutingKey != "alerts.default" {
		t.Fatalf("default routing key: %q %q", d.Body, d.RoutingKey)
	}

	// The default exchange: the routing key is the queue. Not mandatory, not persistent.
	direct := newSender(t, "amqp", fmt.Sprintf(`{"url":%q,"mandatory":false,"persistent":false}`, u))
	if _, err := send(t, direct, Outgoing{To: queue, Data: []byte("direct")}); err != nil {
		t.Fatal(err)
	}
	if d := b.get(queue); string(d.Body) != "direct" || d.DeliveryMode != amqp.Transient {
		t.Fatalf("default exchange: %q mode %d", d.Body, d.DeliveryMode)
	}
	if _, err := send(t, direct, Outgoing{To: "sbtest-no-such-queue-" + amqpSuffix(), Data: []byte("dropped")}); err != nil {
		t.Fatalf("not mandatory, unroutable: %v", err)
	}
}

// TestAMQPOutRefused: an exchange that does not exist is a refusal, not attempted again, and
// the next publish works on a new channel; wrong credentials are refused too.
func TestAMQPOutRefused(t *testing.T) {
	u := amqpTestURL(t)
	b := openAMQPBroker(t, u)
	queue := "sbtest-out-" + amqpSuffix()
	b.queue(queue)
	s := newSender(t, "amqp", fmt.Sprintf(`{"url":%q,"exchange":"sbtest-missing-%s"}`, u, amqpSuffix()))
	_, err := send(t, s, Outgoing{To: "k", Data: []byte("x")})
	if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("missing exchange: %v", err)
	}
	ok := newSender(t, "amqp", fmt.Sprintf(`{"url":%q}`, u))
	for i := range 2 {
		if _, err := send(t, ok, Outgoing{To: queue, Data: []byte("x")}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	bad := strings.Replace(u, "guest:guest@", "guest:wrong@", 1)
	if bad == u {
		t.Skip("the test URL has no guest:guest credentials to spoil")
	}
	_, err = send(t, newSender(t, "amqp", fmt.Sprintf(`{"url":%q}`, bad)), Outgoing{To: queue, Data: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "authentication refused") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestAMQPOutReconnect: a connection the broker closed is opened anew by the next publish.
func TestAMQPOutReconnect(t *testing.T) {
	u := amqpTestURL(t)
	b := openAMQPBroker(t, u)
	queue := "sbtest-out-" + amqpSuffix()
	b.queue(queue)
	s := newSender(t, "amqp", fmt.Sprintf(`{"url":%q}`, u))
	if _, err := send(t, s, Outgoing{To: queue, Data: []byte("one")}); err != nil {
		t.Fatal(err)
	}
	l, _, _ := s.(*amqpSender).conn.get(context.Background())
	l.conn.CloseDeadline(time.Now().Add(time.Second)) //nolint:errcheck // the test's doing
	if _, err := send(t, s, Outgoing{To: queue, Data: []byte("two")}); err != nil {
		t.Fatalf("after the connection closed: %v", err)
	}
	if d := b.get(queue); string(d.Body) != "one" {
		t.Fatalf("first %q", d.Body)
	}
	if d := b.get(queue); string(d.Body) != "two" {
		t.Fatalf("second %q", d.Body)
	}
}
