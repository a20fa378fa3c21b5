package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// freezer is a TCP proxy to a broker whose connections can be frozen: from then on what
// either side sends is dropped and the sockets stay open, as over a half-open connection.
// Connections made after a freeze pass.
type freezer struct {
	addr string

	mu       sync.Mutex
	frozen   []*atomic.Bool
	accepted int
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{addr: l.Addr().String()}
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			frozen := &atomic.Bool{}
			f.mu.Lock()
			f.frozen = append(f.frozen, frozen)
			f.accepted++
			conns = append(conns, c, b)
			f.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 && !frozen.Load() {
						if _, err := dst.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						if !errors.Is(err, io.EOF) || !frozen.Load() {
							dst.Close()
						}
						return
					}
				}
			}
			go pipe(b, c)
			go pipe(c, b)
		}
	}()
	return f
}

// freeze makes every connection so far silent.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fr := range f.frozen {
		fr.Store(true)
	}
}

func (f *freezer) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted
}

// TestOutboundHalfOpen: a connection gone silent without closing (a half-open one) makes an
// attempt time out; the connection is dropped, and the next attempt, on a new connection,
// goes through, all within the publish's timeout.
func TestOutboundHalfOpen(t *testing.T) {
	natsURL, _ := natsServer(t)
	type tc struct{ name, typ, target, cfg string }
	cases := []tc{{"nats", "nats", strings.TrimPrefix(natsURL, "nats://"), `{"url":"nats://%s","token":"source-token-0123456789","subject":"a.b"}`}}
	if u, err := url.Parse(mqttURL()); err == nil && u.Host != "" {
		cases = append(cases,
			tc{"mqtt5", "mqtt", u.Host, `{"url":"mqtt://%s","topic":"sbtest/halfopen","qos":1}`},
			tc{"mqtt311", "mqtt", u.Host, `{"url":"mqtt://%s","topic":"sbtest/halfopen","qos":1,"protocol":"3.1.1"}`})
	}
	if u, err := url.Parse(amqpURL()); err == nil && u.Host != "" {
		cases = append(cases, tc{"amqp", "amqp", u.Host, `{"url":"amqp://` + u.User.String() + `@%s/","exchange":"amq.topic","routing_key":"sbtest.halfopen","mandatory":false}`})
	}
	e := newOutEnv(t, OutboundOptions{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFreezer(t, c.target)
			cfg := strings.Replace(fmt.Sprintf(c.cfg, f.addr), "{", `{"timeout":"3s","retry":{"attempts":2,"backoff":"10ms"},`, 1)
			if _, _, err := e.store.Put(context.Background(), Connector{Solution: "demo", Name: c.name, Type: c.typ, Direction: DirectionOut, Config: json.RawMessage(cfg)}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.out.Publish(context.Background(), "demo", c.name, Outgoing{Data: []byte("first")}); err != nil {
				t.Fatalf("first publish: %v", err)
			}
			f.freeze()
			if _, err := e.out.Publish(context.Background(), "demo", c.name, Outgoing{Data: []byte("second")}); err != nil {
				t.Fatalf("publish over a frozen connection: %v, want it through on a new one", err)
			}
			if n := f.connections(); n != 2 {
				t.Fatalf("%d connections, want 2", n)
			}
		})
	}
}

// mqttURL and amqpURL are the test brokers', "" when not given.
func mqttURL() string { return os.Getenv("SWITCHBOARD_TEST_MQTT_URL") }
func amqpURL() string { return os.Getenv("SWITCHBOARD_TEST_AMQP_URL") }
