package connector

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/servicenet"
)

// outCases are an outbound config of every type and scheme, for an address given as %s.
var outCases = []struct{ name, typ, cfg string }{
	{"nats", "nats", `{"url":"nats://%s","subject":"a"}`},
	{"nats-jetstream", "nats", `{"url":"nats://%s","subject":"a","jetstream":true}`},
	{"nats-tls", "nats", `{"url":"tls://%s","subject":"a"}`},
	{"mqtt5", "mqtt", `{"url":"mqtt://%s","topic":"a"}`},
	{"mqtt5-tls", "mqtt", `{"url":"mqtts://%s","topic":"a"}`},
	{"mqtt5-ws", "mqtt", `{"url":"ws://%s/mqtt","topic":"a"}`},
	{"mqtt311", "mqtt", `{"url":"mqtt://%s","topic":"a","protocol":"3.1.1"}`},
	{"mqtt311-wss", "mqtt", `{"url":"wss://%s/mqtt","topic":"a","protocol":"3.1.1"}`},
	{"amqp", "amqp", `{"url":"amqp://%s/","routing_key":"a"}`},
	{"amqps", "amqp", `{"url":"amqps://%s/","routing_key":"a"}`},
	{"redis", "redis", `{"url":"redis://%s/0","stream":"s"}`},
	{"rediss", "redis", `{"url":"rediss://%s/0","stream":"s"}`},
	{"kafka", "kafka", `{"brokers":["%s"],"topic":"t"}`},
	{"kafka-tls", "kafka", `{"brokers":["%s"],"topic":"t","tls":true}`},
	{"smtp", "smtp", `{"host":"{host}","port":{port},"tls":"none"}`},
	{"smtp-starttls", "smtp", `{"host":"{host}","port":{port}}`},
	{"smtp-tls", "smtp", `{"host":"{host}","port":{port},"tls":"tls"}`},
}

// outConfig is cfg for a broker at addr: %s is addr, {host} and {port} its parts.
func outConfig(cfg, addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return strings.NewReplacer("%s", addr, "{host}", host, "{port}", port).Replace(cfg)
}

// outData is what the tests publish: an e-mail as smtp takes it, bytes to every other type.
var outData = []byte(`{"recipient":"ops@example.com","sender":"hub@example.com","message":"x"}`)

// TestSendersDialThroughGuard: every outbound type connects through the guard of its
// publish, whatever the scheme, so an address the guard refuses is never connected to, and
// the refusal ({error=… not allowed}) is not attempted again.
func TestSendersDialThroughGuard(t *testing.T) {
	addr, accepted := silentListener(t)
	g, err := servicenet.New(context.Background(), servicenet.Options{Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	e := newOutEnv(t, OutboundOptions{Guard: g})
	for _, c := range outCases {
		t.Run(c.name, func(t *testing.T) {
			cfg := strings.Replace(outConfig(c.cfg, addr), "{", `{"timeout":"5s","retry":{"attempts":3,"backoff":"1ms"},`, 1)
			if _, _, err := e.store.Put(context.Background(), Connector{Solution: "demo", Name: c.name, Type: c.typ, Direction: DirectionOut, Config: json.RawMessage(cfg)}); err != nil {
				t.Fatal(err)
			}
			_, err := e.out.Publish(context.Background(), "demo", c.name, Outgoing{Data: outData})
			var pe *PublishError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), "not allowed") {
				t.Fatalf("publish: %v, want the guard's refusal", err)
			}
			if pe.Attempts != 1 {
				t.Errorf("%d attempts at a refused address, want 1", pe.Attempts)
			}
			if n := accepted(); n != 0 {
				t.Fatalf("the refused address was connected to %d times", n)
			}
		})
	}
}

// TestSendersSilentBroker: a broker that accepts the connection and never answers holds a
// publish no longer than its timeout: it fails as a timeout, after its attempts, whatever the
// type, and the instance's publishes are free again.
func TestSendersSilentBroker(t *testing.T) {
	addr, accepted := silentListener(t)
	e := newOutEnv(t, OutboundOptions{PerSolution: 64, Total: 64})
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(outCases))
	n := 0
	for _, c := range outCases {
		if strings.Contains(c.name, "tls") || strings.HasSuffix(c.name, "amqps") || strings.HasSuffix(c.name, "rediss") || strings.HasSuffix(c.name, "wss") {
			continue // a TLS handshake that never answers is the same silence
		}
		cfg := strings.Replace(outConfig(c.cfg, addr), "{", `{"timeout":"2s","retry":{"attempts":2,"backoff":"10ms"},`, 1)
		if _, _, err := e.store.Put(context.Background(), Connector{Solution: "demo", Name: c.name, Type: c.typ, Direction: DirectionOut, Config: json.RawMessage(cfg)}); err != nil {
			t.Fatal(err)
		}
		n++
		// All at once: each is bounded by its own timeout, not by the others.
		go func() {
			_, err := e.out.Publish(context.Background(), "demo", c.name, Outgoing{Data: outData})
			results <- result{c.name, err}
		}()
	}
	deadline := time.After(20 * time.Second)
	for range n {
		select {
		case r := <-results:
			var pe *PublishError
			if !errors.As(r.err, &pe) || !pe.Timeout {
				t.Errorf("%s: %v, want a timeout", r.name, r.err)
			}
		case <-deadline:
			t.Fatal("publishes to a silent broker were still waiting after 20s (their timeout is 2s)")
		}
	}
	if accepted() == 0 {
		t.Error("no connection reached the silent listener")
	}
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	if e.out.total != 0 || len(e.out.busy) != 0 {
		t.Errorf("publishes still counted under way: %d %v", e.out.total, e.out.busy)
	}
}
