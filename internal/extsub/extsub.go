// Package extsub turns an application's external subscriptions (Compass's
// EventAPISubscription: where an application's events live on a bus of its own) into
// connectors: the URL's scheme picks the connector type, the subscription's topic is what the
// connector reads, its basic credentials log in, and its attributes set what each type needs
// more. The connector is then checked as any other, so what it cannot run is refused here,
// naming the field.
package extsub

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Subscription is an EventAPISubscription.
type Subscription struct {
	// URL is the bus: nats://, mqtt://, amqp://, kafka://, redis://, or https:// for a sender
	// that posts its events to Switchboard (a webhook).
	URL string
	// Topic is what is read there: a NATS subject, an MQTT topic filter, an AMQP queue, a
	// Kafka topic, a Redis stream.
	Topic string
	// Username and Password log in (Compass's basic credentials); OAuth credentials are not
	// taken by any bus here.
	Username, Password string
	OAuth              bool
	// Attributes set what a type needs beyond that; each type takes the keys Attributes lists.
	Attributes map[string]string
}

// Attributes are the attribute keys each connector type takes, with what they set.
var Attributes = map[string][]string{
	"nats":    {"queue", "stream", "consumer", "deliver"},
	"mqtt":    {"qos", "protocol", "client_id"},
	"amqp":    {"exchange", "routing_key", "prefetch"},
	"kafka":   {"group", "start", "sasl_mechanism", "tls"},
	"redis":   {"group", "start"},
	"webhook": {"style", "secret", "header"},
}

// typeOf is the connector type of a URL scheme.
var typeOf = map[string]string{
	"nats": "nats", "tls": "nats",
	"mqtt": "mqtt", "mqtts": "mqtt", "tcp": "mqtt", "ssl": "mqtt", "ws": "mqtt", "wss": "mqtt",
	"amqp": "amqp", "amqps": "amqp",
	"kafka": "kafka",
	"redis": "redis", "rediss": "redis",
	"https": "webhook", "http": "webhook",
}

// Connector is the inbound connector named name of solution sol that brings s's events to
// topic. Errors are *solution.FieldError naming the subscription's field (url, topic, auth,
// attributes.<key>) or, from the connector's own checks, config.<field>.
func Connector(sol, name, topic string, s Subscription) (connector.Connector, error) {
	u, err := url.Parse(s.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return connector.Connector{}, fieldErr("url", "want an absolute URL such as nats://bus:4222, mqtt://bus:1883, amqp://bus:5672, kafka://bus:9092, redis://bus:6379 or https://…")
	}
	typ, ok := typeOf[strings.ToLower(u.Scheme)]
	if !ok {
		return connector.Connector{}, fieldErr("url", fmt.Sprintf("scheme %q: want nats, mqtt(s), amqp(s), kafka, redis(s) or https", u.Scheme))
	}
	if u.User != nil {
		return connector.Connector{}, fieldErr("url", "credentials go in auth, not in the URL")
	}
	if s.OAuth {
		return connector.Connector{}, fieldErr("auth", "OAuth credentials do not log in to a "+typ+" bus here; give basic credentials (username and password)")
	}
	if s.Topic == "" && typ != "webhook" {
		return connector.Connector{}, fieldErr("topic", "required: what to read on the bus")
	}
	for k := range s.Attributes {
		if !slices.Contains(Attributes[typ], k) {
			return connector.Connector{}, fieldErr("attributes."+k, fmt.Sprintf("not an attribute of a %s subscription (it takes %s)", typ, strings.Join(Attributes[typ], ", ")))
		}
	}
	cfg, err := configs[typ](u, s)
	if err != nil {
		return connector.Connector{}, err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return connector.Connector{}, fmt.Errorf("external subscription %s: %w", name, err)
	}
	return connector.Check(connector.Connector{Solution: sol, Name: name, Type: typ, Topic: topic, Config: raw})
}

func fieldErr(field, reason string) error { return &solution.FieldError{Field: field, Reason: reason} }

// configs make each type's config.
var configs = map[string]func(u *url.URL, s Subscription) (map[string]any, error){
	"nats": func(u *url.URL, s Subscription) (map[string]any, error) {
		cfg := map[string]any{"url": u.String()}
		setLogin(cfg, "user", "password", s)
		a := s.Attributes
		if a["stream"] != "" {
			js := map[string]any{"stream": a["stream"], "consumer": cmpOr(a["consumer"], "switchboard"), "filter_subject": s.Topic}
			if a["deliver"] != "" {
				js["deliver"] = a["deliver"]
			}
			cfg["jetstream"] = js
			return cfg, nil
		}
		if a["consumer"] != "" || a["deliver"] != "" {
			return nil, fieldErr("attributes", "consumer and deliver go with stream (a JetStream stream)")
		}
		cfg["subjects"] = []string{s.Topic}
		if a["queue"] != "" {
			cfg["queue"] = a["queue"]
		}
		return cfg, nil
	},
	"mqtt": func(u *url.URL, s Subscription) (map[string]any, error) {
		cfg := map[string]any{"url": u.String(), "topics": []string{s.Topic}}
		setLogin(cfg, "username", "password", s)
		a := s.Attributes
		if a["qos"] != "" {
			q, err := strconv.Atoi(a["qos"])
			if err != nil {
				return nil, fieldErr("attributes.qos", "want 0, 1 or 2")
			}
			cfg["qos"] = q
		}
		for _, k := range []string{"protocol", "client_id"} {
			if a[k] != "" {
				cfg[k] = a[k]
			}
		}
		return cfg, nil
	},
	"amqp": func(u *url.URL, s Subscription) (map[string]any, error) {
		cfg := map[string]any{"url": u.String(), "queue": s.Topic}
		setLogin(cfg, "username", "password", s)
		a := s.Attributes
		if a["exchange"] != "" {
			// The queue is declared here and bound to the application's exchange.
			cfg["declare"] = map[string]any{"durable": true}
			cfg["bindings"] = []map[string]any{{"exchange": a["exchange"], "routing_key": cmpOr(a["routing_key"], "#")}}
		} else if a["routing_key"] != "" {
			return nil, fieldErr("attributes.routing_key", "goes with exchange")
		}
		if a["prefetch"] != "" {
			n, err := strconv.Atoi(a["prefetch"])
			if err != nil {
				return nil, fieldErr("attributes.prefetch", "want a number")
			}
			cfg["prefetch"] = n
		}
		return cfg, nil
	},
	"kafka": func(u *url.URL, s Subscription) (map[string]any, error) {
		a := s.Attributes
		cfg := map[string]any{"brokers": []string{u.Host}, "topics": []string{s.Topic}, "group": cmpOr(a["group"], "switchboard")}
		if a["start"] != "" {
			cfg["start"] = a["start"]
		}
		if s.Username != "" {
			cfg["sasl"] = map[string]any{"mechanism": cmpOr(a["sasl_mechanism"], "plain"), "username": s.Username}
			cfg["sasl_password"] = s.Password
		} else if a["sasl_mechanism"] != "" {
			return nil, fieldErr("attributes.sasl_mechanism", "goes with basic credentials in auth")
		}
		switch a["tls"] {
		case "", "false":
		case "true":
			cfg["tls"] = true
		default:
			return nil, fieldErr("attributes.tls", "want true or false")
		}
		return cfg, nil
	},
	"redis": func(u *url.URL, s Subscription) (map[string]any, error) {
		a := s.Attributes
		cfg := map[string]any{"url": u.String(), "stream": s.Topic, "group": cmpOr(a["group"], "switchboard")}
		if s.Username != "" {
			return nil, fieldErr("auth", "a Redis stream logs in with a password only: give it as the basic credentials' password, with no username")
		}
		if s.Password != "" {
			cfg["password"] = s.Password
		}
		if a["start"] != "" {
			cfg["start"] = a["start"]
		}
		return cfg, nil
	},
	// An https URL is a sender that posts its events to Switchboard: a webhook connector,
	// whose address (/hooks/{solution}/{name}) the sender is given. Its style says how the
	// calls prove where they come from; a shared secret is the basic credentials' password.
	"webhook": func(_ *url.URL, s Subscription) (map[string]any, error) {
		a := s.Attributes
		cfg := map[string]any{"style": cmpOr(a["style"], "shared")}
		secret := cmpOr(a["secret"], s.Password)
		if secret != "" {
			cfg["secret"] = secret
		}
		if a["header"] != "" {
			cfg["header"] = a["header"]
		}
		return cfg, nil
	},
}

// setLogin puts basic credentials in a config under the type's names for them.
func setLogin(cfg map[string]any, userKey, passKey string, s Subscription) {
	if s.Username != "" {
		cfg[userKey] = s.Username
	}
	if s.Password != "" {
		cfg[passKey] = s.Password
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
