package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/asyncapi"
	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/extsub"
	"github.com/switchboardhq/switchboard/internal/gateway"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// extSubs bridges applications' external subscriptions with connectors: one inbound connector
// per subscription, named ext-<application>-<event API>-<n> (ids shortened), bringing the
// bus's messages to the topic {application}.{the subscription's topic}.
type extSubs struct {
	connectors *connector.Store
	// listener: the MQTT listener is on, where an application with event APIs also publishes,
	// read by a connector gw-<application> that hands its events to the gateway.
	listener bool
}

// Check implements application.Subscriptions.
func (x extSubs) Check(s application.Subscription) error {
	// Names stand in for those of the application, which may not exist yet.
	_, err := x.connector("check", "check", "app", "app-id", "api-id", 0, s)
	return err
}

// Sync implements application.Subscriptions: the application's connectors become those its
// event APIs' subscriptions ask for.
func (x extSubs) Sync(ctx context.Context, a application.Application) error {
	prefix, gw := "ext-"+short(a.ID)+"-", "gw-"+short(a.ID)
	want := map[string]connector.Connector{}
	if x.listener && len(a.EventAPIs) > 0 {
		cfg, _ := json.Marshal(map[string]any{"listener": true, "topics": []string{a.Name + "/#"}, "application": a.ID})
		c, err := connector.Check(connector.Connector{Solution: a.Solution, Name: gw, Type: "mqtt", Topic: a.Name, Config: cfg})
		if err != nil {
			return fmt.Errorf("the MQTT connector of application %s: %w", a.Name, err)
		}
		want[c.Name] = c
	}
	for _, e := range a.EventAPIs {
		for i, s := range e.ExternalSubscriptions {
			c, err := x.connector(a.Solution, "", a.Name, a.ID, e.ID, i, s)
			if err != nil {
				return fmt.Errorf("event API %s, subscription %d: %w", e.ID, i, err)
			}
			want[c.Name] = c
		}
	}
	var errs []error
	for _, c := range x.connectors.List(a.Solution) {
		if _, keep := want[c.Name]; (strings.HasPrefix(c.Name, prefix) || c.Name == gw) && !keep {
			if err := x.connectors.Delete(ctx, a.Solution, c.Name); err != nil && !errors.Is(err, connector.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	for _, c := range want {
		if cur, ok := x.connectors.Get(a.Solution, c.Name); ok && cur.Topic == c.Topic && string(cur.Config) == string(c.Config) {
			continue
		}
		if _, _, err := x.connectors.Put(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("connector %s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

// connector is the connector of subscription i of event API apiID of application app.
func (x extSubs) connector(sol, name, app, appID, apiID string, i int, s application.Subscription) (connector.Connector, error) {
	if name == "" {
		name = fmt.Sprintf("ext-%s-%s-%d", short(appID), short(apiID), i)
	}
	topic, err := subscriptionTopic(app, s.Topic)
	if err != nil {
		return connector.Connector{}, &solution.FieldError{Field: "topic", Reason: err.Error()}
	}
	sub := extsub.Subscription{URL: s.URL, Topic: s.Topic, Attributes: s.Attributes}
	if s.Auth != nil {
		if s.Auth.Basic != nil {
			sub.Username, sub.Password = s.Auth.Basic.Username, s.Auth.Basic.Password
		}
		sub.OAuth = s.Auth.OAuth != nil
	}
	return extsub.Connector(sol, name, topic, sub)
}

// subscriptionTopic is the topic an external subscription's events go to:
// {application}.{its topic}, whose wildcards and shared-subscription prefix are left out
// (orders/# of shop: shop.orders) — the handlers' topics say which events they take.
func subscriptionTopic(app, topic string) (string, error) {
	if rest, ok := strings.CutPrefix(topic, "$share/"); ok {
		if _, after, ok := strings.Cut(rest, "/"); ok {
			topic = after
		}
	}
	var keep []string
	for _, seg := range strings.FieldsFunc(topic, func(r rune) bool { return r == '/' || r == '.' }) {
		if seg != "*" && seg != ">" && seg != "+" && seg != "#" {
			keep = append(keep, seg)
		}
	}
	if len(keep) == 0 {
		return app, nil
	}
	return asyncapi.Topic(app, strings.Join(keep, "."))
}

// short is the first 8 hexadecimal digits of an id.
func short(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	return id[:min(8, len(id))]
}

// listenerGateway hands what applications publish on the MQTT listener to the event gateway.
type listenerGateway struct{ g *gateway.Gateway }

func (l listenerGateway) DeliverMQTT(ctx context.Context, sol, appID, topic string, payload []byte) error {
	_, err := l.g.DeliverMQTT(ctx, gateway.Caller{Solution: sol, Application: appID}, topic, payload)
	var me *gateway.MQTTError
	if errors.As(err, &me) && me.Reason != "store_failed" {
		return &connector.RefusedError{Reason: me.Message}
	}
	return err
}
