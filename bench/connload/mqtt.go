package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// mqtt: MQTT 5 through paho.golang, QoS 1 both ways, as the connector's default. The raw
// consumer acknowledges each message when its handler returns (paho's own acknowledgement);
// the connector acknowledges by hand once a batch is stored.
type mqttBroker struct {
	u   *url.URL
	pub *autopaho.ConnectionManager
}

func newMQTT(ctx context.Context, c config) (broker, error) {
	u, err := url.Parse(c.mqtt)
	if err != nil {
		return nil, fmt.Errorf("-mqtt: %w", err)
	}
	pub, err := mqttConnect(ctx, u, "connload-pub-"+randomSuffix(), 0, nil)
	if err != nil {
		return nil, err
	}
	return &mqttBroker{u: u, pub: pub}, nil
}

// mqttConnect connects with a clean session; receiveMax 0 leaves the broker's default.
func mqttConnect(ctx context.Context, u *url.URL, clientID string, receiveMax uint16, onMsg func(paho.PublishReceived) (bool, error)) (*autopaho.ConnectionManager, error) {
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectTimeout:                10 * time.Second,
		ClientConfig:                  paho.ClientConfig{ClientID: clientID},
	}
	if receiveMax > 0 {
		cfg.ConnectPacketBuilder = func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			cp.Properties.ReceiveMaximum = &receiveMax
			return cp, nil
		}
	}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onMsg}
	}
	// autopaho retries forever: the first connection is bounded here.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cm, err := autopaho.NewConnection(cctx, cfg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("mqtt %s: %w", u.Redacted(), err)
	}
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	if err := cm.AwaitConnection(actx); err != nil {
		cancel()
		return nil, fmt.Errorf("mqtt %s: %w", u.Redacted(), err)
	}
	go func() { <-cm.Done(); cancel() }()
	return cm, nil
}

func mqttDisconnect(cm *autopaho.ConnectionManager) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cm.Disconnect(ctx) //nolint:errcheck // going anyway
}

func (b *mqttBroker) close() { mqttDisconnect(b.pub) }

func (b *mqttBroker) dest(_ context.Context, tag string) (destination, error) {
	return &mqttDest{b: b, topic: "connload/" + tag}, nil
}

type mqttDest struct {
	b     *mqttBroker
	topic string
}

func (d *mqttDest) publish(ctx context.Context, id string, body []byte) error {
	_, err := d.b.pub.Publish(ctx, &paho.Publish{QoS: 1, Topic: d.topic, Payload: body,
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "id", Value: id}}}})
	return err
}

func (d *mqttDest) consume(ctx context.Context, inFlight int, got func([]byte)) (func(), error) {
	cm, err := mqttConnect(ctx, d.b.u, "connload-raw-"+randomSuffix(), uint16(inFlight), func(pr paho.PublishReceived) (bool, error) {
		got(pr.Packet.Payload)
		return true, nil // handled: paho acknowledges it now
	})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sa, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: d.topic, QoS: 1}}})
	if err == nil && len(sa.Reasons) > 0 && sa.Reasons[0] >= 0x80 {
		err = fmt.Errorf("refused (reason %d)", sa.Reasons[0])
	}
	if err != nil {
		mqttDisconnect(cm)
		return nil, fmt.Errorf("mqtt subscribe %s: %w", d.topic, err)
	}
	return func() { mqttDisconnect(cm) }, nil
}

func (d *mqttDest) connector(inFlight int) (string, map[string]any) {
	return "mqtt", map[string]any{"url": d.b.u.String(), "topics": []string{d.topic}, "qos": 1,
		"clean_start": true, "max_in_flight": inFlight, "id_property": "id"}
}

func (d *mqttDest) close(context.Context) {}
