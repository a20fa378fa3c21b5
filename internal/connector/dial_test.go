package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/servicenet"
)

// TestSourcesDialThroughGuard: every type that connects to an address of its config does so
// through the guard of its run, whatever the scheme, so an address the guard refuses is never
// connected to — the listener here, which would accept, sees no connection.
func TestSourcesDialThroughGuard(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted := make(chan struct{}, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	addr := l.Addr().String()
	g, err := servicenet.New(context.Background(), servicenet.Options{Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, typ, cfg string }{
		{"nats", "nats", `{"url":"nats://%s","subjects":["a"],"connect_timeout":"2s"}`},
		{"nats-tls", "nats", `{"url":"tls://%s","subjects":["a"],"connect_timeout":"2s"}`},
		{"mqtt5", "mqtt", `{"url":"mqtt://%s","topics":["a"]}`},
		{"mqtt5-tls", "mqtt", `{"url":"mqtts://%s","topics":["a"]}`},
		{"mqtt5-ws", "mqtt", `{"url":"ws://%s/mqtt","topics":["a"]}`},
		{"mqtt311", "mqtt", `{"url":"mqtt://%s","topics":["a"],"protocol":"3.1.1"}`},
		{"mqtt311-wss", "mqtt", `{"url":"wss://%s/mqtt","topics":["a"],"protocol":"3.1.1"}`},
		{"amqp", "amqp", `{"url":"amqp://%s/","queue":"q","connect_timeout":"2s"}`},
		{"amqps", "amqp", `{"url":"amqps://%s/","queue":"q","connect_timeout":"2s"}`},
		{"redis", "redis", `{"url":"redis://%s/0","stream":"s","group":"g"}`},
		{"rediss", "redis", `{"url":"rediss://%s/0","stream":"s","group":"g"}`},
		{"kafka", "kafka", `{"brokers":["%s"],"topics":["t"],"group":"g","connect_timeout":"2s"}`},
		{"kafka-tls", "kafka", `{"brokers":["%s"],"topics":["t"],"group":"g","connect_timeout":"2s","tls":true}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, ok := KindOf(c.typ)
			if !ok {
				t.Fatalf("no type %s", c.typ)
			}
			src, err := k.New(json.RawMessage(fmt.Sprintf(c.cfg, addr)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(WithGuard(context.Background(), g), 20*time.Second)
			defer cancel()
			err = src.Run(ctx, sinkFunc(func([]Message) error { return nil }), &memCheckpoint{})
			if err == nil || !strings.Contains(err.Error(), "not allowed") {
				t.Fatalf("Run: %v, want the guard's refusal", err)
			}
			select {
			case <-accepted:
				t.Fatal("the refused address was connected to")
			default:
			}
		})
	}
}
