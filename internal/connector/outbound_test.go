package connector

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// TestCheckOutbound: an outbound connector has no topic, a type that cannot publish is refused
// naming direction, and each type's outbound config is checked against its own schema, the
// field at fault named.
func TestCheckOutbound(t *testing.T) {
	out := func(typ, cfg string) Connector {
		return Connector{Solution: "demo", Name: "o1", Type: typ, Direction: DirectionOut, Config: json.RawMessage(cfg)}
	}
	for _, tc := range []struct {
		name  string
		c     Connector
		field string // "" = valid
	}{
		{"nats", out("nats", `{"url":"nats://127.0.0.1:4222","subject":"alerts.high","jetstream":true,"expect_stream":"ALERTS","timeout":"2s","retry":{"attempts":5,"backoff":"50ms"}}`), ""},
		{"nats, core, no default subject", out("nats", `{"url":"nats://b:4222"}`), ""},
		{"mqtt 5", out("mqtt", `{"url":"mqtt://b:1883","topic":"alerts/high","qos":2,"retain":true,"id_property":"message-id","username":"u","password":"p"}`), ""},
		{"mqtt 3.1.1 over websockets", out("mqtt", `{"url":"ws://b:9001/mqtt","protocol":"3.1.1","qos":0}`), ""},
		{"amqp", out("amqp", `{"url":"amqp://guest:guest@b:5672/","exchange":"alerts","exchange_kind":"topic","routing_key":"alerts.high","mandatory":false,"persistent":false}`), ""},
		{"redis", out("redis", `{"url":"redis://b:6379/0","stream":"alerts","field":"payload","maxlen":1000,"exact_maxlen":true}`), ""},
		{"kafka", out("kafka", `{"brokers":["k:9092"],"topic":"alerts","sasl":{"mechanism":"scram-sha-256","username":"u"},"sasl_password":"p","tls":true}`), ""},
		{"direction sideways", Connector{Solution: "demo", Name: "o1", Type: "nats", Direction: "sideways", Config: json.RawMessage(`{"url":"nats://b"}`)}, "direction"},
		{"a topic", Connector{Solution: "demo", Name: "o1", Type: "nats", Direction: DirectionOut, Topic: "alerts", Config: json.RawMessage(`{"url":"nats://b"}`)}, "topic"},
		{"cron cannot publish", out("cron", `{"schedule":"@hourly"}`), "direction"},
		{"webhook cannot publish", out("webhook", `{"style":"none"}`), "direction"},
		{"unknown type", out("pigeon", `{}`), "type"},
		{"an inbound field", out("nats", `{"url":"nats://b","subjects":["a"]}`), "config"},
		{"no url", out("mqtt", `{"topic":"a"}`), "config"},
		{"timeout too long", out("nats", `{"url":"nats://b","timeout":"1m"}`), "config.timeout"},
		{"timeout not a duration", out("nats", `{"url":"nats://b","timeout":"soon"}`), "config.timeout"},
		{"attempts 0", out("nats", `{"url":"nats://b","retry":{"attempts":0}}`), "config.retry.attempts"},
		{"attempts 11", out("nats", `{"url":"nats://b","retry":{"attempts":11}}`), "config.retry.attempts"},
		{"backoff too long", out("nats", `{"url":"nats://b","retry":{"backoff":"1h"}}`), "config.retry.backoff"},
		{"retry, unknown field", out("nats", `{"url":"nats://b","retry":{"forever":true}}`), "config.retry"},
		{"nats, wildcard subject", out("nats", `{"url":"nats://b","subject":"alerts.*"}`), "config.subject"},
		{"nats, expect_stream without jetstream", out("nats", `{"url":"nats://b","expect_stream":"S"}`), "config.expect_stream"},
		{"mqtt, wildcard topic", out("mqtt", `{"url":"mqtt://b","topic":"alerts/#"}`), "config.topic"},
		{"mqtt, credentials in the url", out("mqtt", `{"url":"mqtt://u:p@b"}`), "config.url"},
		{"mqtt, id_property with 3.1.1", out("mqtt", `{"url":"mqtt://b","protocol":"3.1.1","id_property":"id"}`), "config.id_property"},
		{"mqtt, qos 3", out("mqtt", `{"url":"mqtt://b","qos":3}`), "config.qos"},
		{"amqp, url with a query", out("amqp", `{"url":"amqp://b/?certfile=/etc/passwd"}`), "config.url"},
		{"amqp, declaring the default exchange", out("amqp", `{"url":"amqp://b/","exchange_kind":"direct"}`), "config.exchange_kind"},
		{"amqp, declaring amq.topic", out("amqp", `{"url":"amqp://b/","exchange":"amq.topic","exchange_kind":"topic"}`), "config.exchange_kind"},
		{"redis, not redis", out("redis", `{"url":"http://b"}`), "config.url"},
		{"redis, exact_maxlen alone", out("redis", `{"url":"redis://b","exact_maxlen":true}`), "config.exact_maxlen"},
		{"redis, maxlen 0", out("redis", `{"url":"redis://b","maxlen":0}`), "config.maxlen"},
		{"kafka, bad topic", out("kafka", `{"brokers":["k:9092"],"topic":"a b"}`), "config.topic"},
		{"kafka, sasl without password", out("kafka", `{"brokers":["k:9092"],"sasl":{"mechanism":"plain","username":"u"}}`), "config.sasl_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Check(tc.c)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Direction != DirectionOut || c.Topic != "" {
					t.Fatalf("checked %+v", c)
				}
				return
			}
			var fe *solution.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
	// Inbound is the default, and keeps wanting a topic.
	c, err := Check(Connector{Solution: "demo", Name: "i1", Type: "cron", Topic: "ticks", Config: json.RawMessage(`{"schedule":"@hourly"}`)})
	if err != nil || c.Direction != DirectionIn {
		t.Fatalf("inbound by default: %+v, %v", c, err)
	}
	var fe *solution.FieldError
	if _, err := Check(Connector{Solution: "demo", Name: "i1", Type: "nats", Direction: DirectionIn, Config: json.RawMessage(`{"url":"nats://b","subjects":["a"]}`)}); !errors.As(err, &fe) || fe.Field != "topic" {
		t.Fatalf("inbound without a topic: %v", err)
	}
}

// TestOutboundSecretsRedacted: an outbound connector's secrets, named by its outbound kind,
// are never shown back.
func TestOutboundSecretsRedacted(t *testing.T) {
	for _, tc := range []struct{ typ, cfg, secret string }{
		{"nats", `{"url":"nats://b","token":"tok-secret-1","password":"pw-secret-1"}`, "secret-1"},
		{"mqtt", `{"url":"mqtt://b","username":"u","password":"pw-secret-2"}`, "secret-2"},
		{"amqp", `{"url":"amqp://u:pw-secret-3@b/"}`, "secret-3"},
		{"redis", `{"url":"redis://:pw-secret-4@b:6379/0"}`, "secret-4"},
		{"kafka", `{"brokers":["k:9092"],"sasl":{"mechanism":"plain","username":"u"},"sasl_password":"pw-secret-5"}`, "secret-5"},
	} {
		r := Connector{Type: tc.typ, Direction: DirectionOut, Config: json.RawMessage(tc.cfg)}.Redacted()
		if strings.Contains(string(r.Config), tc.secret) || !strings.Contains(string(r.Config), "(set)") {
			t.Errorf("%s: redacted %s", tc.typ, r.Config)
		}
	}
}

// TestOutCommon: timeout and retry default as documented.
func TestOutCommon(t *testing.T) {
	c, err := parseOutCommon(json.RawMessage(`{"url":"nats://b"}`))
	if err != nil || c.Timeout != 5*time.Second || c.Attempts != 3 || c.Backoff != 200*time.Millisecond {
		t.Fatalf("defaults %+v, %v", c, err)
	}
	c, err = parseOutCommon(json.RawMessage(`{"timeout":"30s","retry":{"attempts":1,"backoff":"1s"}}`))
	if err != nil || c.Timeout != 30*time.Second || c.Attempts != 1 || c.Backoff != time.Second {
		t.Fatalf("given %+v, %v", c, err)
	}
}

// TestCheckOutgoing: what no broker is given — data over 1 MiB, headers beyond their bounds
// or able to break a protocol's framing — is refused naming the argument.
func TestCheckOutgoing(t *testing.T) {
	many := map[string]string{}
	for i := range MaxOutHeaders + 1 {
		many["h"+strings.Repeat("x", i)] = "v"
	}
	for _, tc := range []struct {
		name string
		m    Outgoing
		arg  string // "" = taken
	}{
		{"plain", Outgoing{Data: []byte("x"), Headers: map[string]string{"X-Source": "sensor-7"}, ContentType: "text/plain"}, ""},
		{"1 MiB", Outgoing{Data: make([]byte, MaxMessageBytes)}, ""},
		{"over 1 MiB", Outgoing{Data: make([]byte, MaxMessageBytes+1)}, "data"},
		{"too many headers", Outgoing{Headers: many}, "headers"},
		{"header name with a colon", Outgoing{Headers: map[string]string{"a:b": "v"}}, "headers"},
		{"header name with a space", Outgoing{Headers: map[string]string{"a b": "v"}}, "headers"},
		{"empty header name", Outgoing{Headers: map[string]string{"": "v"}}, "headers"},
		{"header value with a line break", Outgoing{Headers: map[string]string{"X-A": "v\r\nNats-Msg-Id: forged"}}, "headers.X-A"},
		{"header value too long", Outgoing{Headers: map[string]string{"X-A": strings.Repeat("v", 4097)}}, "headers.X-A"},
		{"header value not UTF-8", Outgoing{Headers: map[string]string{"X-A": "\xff"}}, "headers.X-A"},
		{"content type with a line break", Outgoing{ContentType: "text/plain\r\nX: y"}, "content_type"},
		{"key too long", Outgoing{Key: strings.Repeat("k", 1025)}, "key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkOutgoing(tc.m)
			var ae *ArgError
			switch {
			case tc.arg == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.arg != "" && (!errors.As(err, &ae) || ae.Arg != tc.arg):
				t.Fatalf("%v, want an error naming %s", err, tc.arg)
			}
		})
	}
}

// TestDestinationArgs: each type checks where a message goes, naming its own argument.
func TestDestinationArgs(t *testing.T) {
	for _, tc := range []struct {
		typ, cfg, to, arg string
	}{
		{"nats", `{"url":"nats://b"}`, "", "subject"},
		{"nats", `{"url":"nats://b"}`, "a..b", "subject"},
		{"nats", `{"url":"nats://b"}`, "a.>", "subject"},
		{"nats", `{"url":"nats://b"}`, "a b", "subject"},
		{"mqtt", `{"url":"mqtt://b"}`, "", "topic"},
		{"mqtt", `{"url":"mqtt://b"}`, "a/+/b", "topic"},
		{"mqtt", `{"url":"mqtt://b"}`, "a/\x00", "topic"},
		{"amqp", `{"url":"amqp://b/"}`, strings.Repeat("k", 256), "routing_key"},
		{"redis", `{"url":"redis://b"}`, "", "stream"},
		{"kafka", `{"brokers":["k:9092"]}`, "", "topic"},
		{"kafka", `{"brokers":["k:9092"]}`, "a/b", "topic"},
	} {
		k, _ := OutKindOf(tc.typ)
		s, err := k.New(json.RawMessage(tc.cfg))
		if err != nil {
			t.Fatal(err)
		}
		// Refused before any connection: the ctx never matters.
		_, err = s.Send(t.Context(), Outgoing{To: tc.to, Data: []byte("x")})
		var ae *ArgError
		if !errors.As(err, &ae) || ae.Arg != tc.arg {
			t.Errorf("%s to %q: %v, want an error naming %s", tc.typ, tc.to, err, tc.arg)
		}
		s.Close()
	}
	// MQTT's arguments past the destination.
	k, _ := OutKindOf("mqtt")
	s, _ := k.New(json.RawMessage(`{"url":"mqtt://b","topic":"a","protocol":"3.1.1"}`))
	defer s.Close()
	q := 3
	for _, tc := range []struct {
		m   Outgoing
		arg string
	}{
		{Outgoing{QoS: &q}, "qos"},
		{Outgoing{Headers: map[string]string{"a": "b"}}, "headers"},
		{Outgoing{ContentType: "text/plain"}, "content_type"},
	} {
		_, err := s.Send(t.Context(), tc.m)
		var ae *ArgError
		if !errors.As(err, &ae) || ae.Arg != tc.arg {
			t.Errorf("mqtt 3.1.1 %+v: %v, want an error naming %s", tc.m, err, tc.arg)
		}
	}
}
