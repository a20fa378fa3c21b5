package connector

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// mqttSubscriber subscribes to filter with the broker's client (MQTT 5, QoS 2), handing on
// what it receives.
func mqttSubscriber(t *testing.T, filter string) <-chan *paho.Publish {
	t.Helper()
	u, err := url.Parse(mqttTestURL(t))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *paho.Publish, 16)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			got <- pr.Packet
			return true, nil
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "sbsub-" + randSuffix(), CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 2}}}); err != nil {
		t.Fatal(err)
	}
	return got
}

func receive(t *testing.T, got <-chan *paho.Publish) *paho.Publish {
	t.Helper()
	select {
	case p := <-got:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10s")
		return nil
	}
}

// TestMQTTOut: publishes at each QoS, with MQTT 5 and 3.1.1, reach a subscriber; with 5 they
// carry their content type, headers as user properties and the id in id_property.
func TestMQTTOut(t *testing.T) {
	u := mqttTestURL(t)
	for _, tc := range []struct {
		protocol string
		qos      int
	}{{"5", 0}, {"5", 1}, {"5", 2}, {"3.1.1", 0}, {"3.1.1", 1}, {"3.1.1", 2}} {
		t.Run(fmt.Sprintf("%s qos %d", tc.protocol, tc.qos), func(t *testing.T) {
			base := "sbtest/out-" + randSuffix()
			got := mqttSubscriber(t, base+"/#")
			cfg := fmt.Sprintf(`{"url":%q,"protocol":%q,"qos":%d,"topic":%q}`, u, tc.protocol, tc.qos, base+"/default")
			if tc.protocol == "5" {
				cfg = strings.Replace(cfg, "{", `{"id_property":"message-id",`, 1)
			}
			s := newSender(t, "mqtt", cfg)
			m := Outgoing{To: base + "/alerts", Data: []byte(`{"level":3}`), ID: "m-1"}
			if tc.protocol == "5" {
				m.ContentType, m.Headers = "application/json", map[string]string{"x-source": "sensor-7"}
			}
			r, err := send(t, s, m)
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			p := receive(t, got)
			if p.Topic != base+"/alerts" || string(p.Payload) != `{"level":3}` {
				t.Fatalf("received %s %q", p.Topic, p.Payload)
			}
			if tc.protocol == "5" {
				if r.ID != "m-1" || p.Properties == nil || p.Properties.ContentType != "application/json" ||
					p.Properties.User.Get("x-source") != "sensor-7" || p.Properties.User.Get("message-id") != "m-1" {
					t.Fatalf("properties %+v, receipt %+v", p.Properties, r)
				}
			}
			// The config's topic when the publish names none.
			if _, err := send(t, s, Outgoing{Data: []byte("plain")}); err != nil {
				t.Fatal(err)
			}
			if p := receive(t, got); p.Topic != base+"/default" || string(p.Payload) != "plain" {
				t.Fatalf("default topic: %s %q", p.Topic, p.Payload)
			}
		})
	}
}

// TestMQTTOutRetainAndReconnect: a retained publish is kept by the broker for a later
// subscriber; a connection lost is opened anew by the next publish.
func TestMQTTOutRetainAndReconnect(t *testing.T) {
	u := mqttTestURL(t)
	for _, protocol := range []string{"5", "3.1.1"} {
		t.Run(protocol, func(t *testing.T) {
			topic := "sbtest/out-" + randSuffix() + "/state"
			s := newSender(t, "mqtt", fmt.Sprintf(`{"url":%q,"protocol":%q,"topic":%q}`, u, protocol, topic))
			yes, no := true, false
			if _, err := send(t, s, Outgoing{Data: []byte("on"), Retain: &yes}); err != nil {
				t.Fatal(err)
			}
			// An empty retained message clears it when done.
			t.Cleanup(func() { send(t, s, Outgoing{Data: nil, Retain: &yes}) }) //nolint:errcheck // best effort
			got := mqttSubscriber(t, topic)
			if p := receive(t, got); string(p.Payload) != "on" || !p.Retain {
				t.Fatalf("retained: %q retain=%v", p.Payload, p.Retain)
			}
			// Lost: the next publish connects again.
			if protocol == "5" {
				l, _, _ := s.(*mqttSender).v5.get(context.Background())
				l.raw.Close()
				eventually(t, "the client to see the connection gone", func() bool { return !l.alive() })
			} else {
				c, _, _ := s.(*mqttSender).v311.get(context.Background())
				c.Disconnect(0)
				eventually(t, "the client to see the connection gone", func() bool { return !c.IsConnectionOpen() })
			}
			if _, err := send(t, s, Outgoing{Data: []byte("again"), Retain: &no}); err != nil {
				t.Fatalf("after the connection was lost: %v", err)
			}
			if p := receive(t, got); string(p.Payload) != "again" {
				t.Fatalf("after the connection was lost: %q", p.Payload)
			}
		})
	}
}

// TestMQTTOutNoBroker: a broker that is not there is a failure attempted again, naming it.
func TestMQTTOutNoBroker(t *testing.T) {
	for _, protocol := range []string{"5", "3.1.1"} {
		_, err := send(t, newSender(t, "mqtt", fmt.Sprintf(`{"url":"mqtt://127.0.0.1:1","protocol":%q,"topic":"a"}`, protocol)), Outgoing{Data: []byte("x")})
		if err == nil || isPermanent(err) || !strings.Contains(err.Error(), "mqtt://127.0.0.1:1") {
			t.Errorf("%s: %v", protocol, err)
		}
	}
}
