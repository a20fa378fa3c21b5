package extsub

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestConnector(t *testing.T) {
	for _, tc := range []struct {
		name string
		sub  Subscription
		typ  string
		cfg  string // JSON; "" when refused
		err  string // the field refused
	}{
		{"nats core", Subscription{URL: "nats://bus:4222", Topic: "orders.>", Username: "app", Password: "pw", Attributes: map[string]string{"queue": "sb"}},
			"nats", `{"url":"nats://bus:4222","subjects":["orders.>"],"user":"app","password":"pw","queue":"sb"}`, ""},
		{"nats jetstream", Subscription{URL: "nats://bus:4222", Topic: "orders.created", Attributes: map[string]string{"stream": "ORDERS", "deliver": "all"}},
			"nats", `{"url":"nats://bus:4222","jetstream":{"stream":"ORDERS","consumer":"switchboard","filter_subject":"orders.created","deliver":"all"}}`, ""},
		{"mqtt", Subscription{URL: "mqtts://bus:8883", Topic: "plant/+/temp", Username: "u", Password: "p", Attributes: map[string]string{"qos": "2"}},
			"mqtt", `{"url":"mqtts://bus:8883","topics":["plant/+/temp"],"username":"u","password":"p","qos":2}`, ""},
		{"amqp queue", Subscription{URL: "amqp://bus:5672", Topic: "orders"},
			"amqp", `{"url":"amqp://bus:5672","queue":"orders"}`, ""},
		{"amqp bound to an exchange", Subscription{URL: "amqp://bus:5672", Topic: "sb-orders", Attributes: map[string]string{"exchange": "shop", "routing_key": "order.*"}},
			"amqp", `{"url":"amqp://bus:5672","queue":"sb-orders","declare":{"durable":true},"bindings":[{"exchange":"shop","routing_key":"order.*"}]}`, ""},
		{"kafka with SASL", Subscription{URL: "kafka://bus:9092", Topic: "orders", Username: "u", Password: "p", Attributes: map[string]string{"tls": "true", "sasl_mechanism": "scram-sha-256"}},
			"kafka", `{"brokers":["bus:9092"],"topics":["orders"],"group":"switchboard","sasl":{"mechanism":"scram-sha-256","username":"u"},"sasl_password":"p","tls":true}`, ""},
		{"redis", Subscription{URL: "redis://bus:6379/0", Topic: "orders", Password: "p", Attributes: map[string]string{"group": "g"}},
			"redis", `{"url":"redis://bus:6379/0","stream":"orders","group":"g","password":"p"}`, ""},
		{"https is a webhook", Subscription{URL: "https://shop.example.com/events", Password: "a-shared-secret"},
			"webhook", `{"style":"shared","secret":"a-shared-secret"}`, ""},

		{"no scheme", Subscription{URL: "bus:4222", Topic: "x"}, "", "", "url"},
		{"unknown scheme", Subscription{URL: "gopher://bus", Topic: "x"}, "", "", "url"},
		{"credentials in the URL", Subscription{URL: "nats://u:p@bus:4222", Topic: "x"}, "", "", "url"},
		{"oauth", Subscription{URL: "nats://bus:4222", Topic: "x", OAuth: true}, "", "", "auth"},
		{"no topic", Subscription{URL: "mqtt://bus:1883"}, "", "", "topic"},
		{"unknown attribute", Subscription{URL: "mqtt://bus:1883", Topic: "x", Attributes: map[string]string{"exchange": "e"}}, "", "", "attributes.exchange"},
		{"bad qos", Subscription{URL: "mqtt://bus:1883", Topic: "x", Attributes: map[string]string{"qos": "high"}}, "", "", "attributes.qos"},
		{"a qos the type refuses", Subscription{URL: "mqtt://bus:1883", Topic: "x", Attributes: map[string]string{"qos": "7"}}, "", "", "config.qos"},
		{"redis with a username", Subscription{URL: "redis://bus:6379", Topic: "x", Username: "u", Password: "p"}, "", "", "auth"},
		{"consumer without stream", Subscription{URL: "nats://bus:4222", Topic: "x", Attributes: map[string]string{"consumer": "c"}}, "", "", "attributes"},
		{"a kafka topic the type refuses", Subscription{URL: "kafka://bus:9092", Topic: "a topic"}, "", "", "config.topics.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Connector("demo", "shop-orders", "shop.orders", tc.sub)
			if tc.err != "" {
				var fe *solution.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.err {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			json.Unmarshal(c.Config, &got)        //nolint:errcheck // compared below
			json.Unmarshal([]byte(tc.cfg), &want) //nolint:errcheck // a literal
			if c.Type != tc.typ || c.Topic != "shop.orders" || c.Solution != "demo" || c.Name != "shop-orders" || !reflect.DeepEqual(got, want) {
				t.Errorf("connector %s %s %s\n got config %s\nwant %s", c.Type, c.Name, c.Topic, c.Config, tc.cfg)
			}
		})
	}
}
