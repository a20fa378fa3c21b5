package connector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	mqtt311 "github.com/eclipse/paho.mqtt.golang"
	mqtt311packets "github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// mqtt, outbound: publishes to an MQTT broker (5 or 3.1.1), each awaiting the broker's
// PUBACK (QoS 1) or PUBCOMP (QoS 2).
func init() {
	RegisterOut(OutKind{
		Type:        "mqtt",
		Description: "Publishes to MQTT 5 or 3.1.1 topics at QoS 0, 1 or 2, awaiting the broker's PUBACK (1) or PUBCOMP (2); with MQTT 5, headers go as user properties and content_type as the content type.",
		Secrets:     []string{"password"},
		To:          "topic",
		Args:        []string{"qos", "retain", "headers", "content_type"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["url"],
  "properties": {
    "url": {"type": "string", "minLength": 1, "maxLength": 2048,
      "description": "the broker: mqtt://host:1883 (or tcp://), mqtts://host:8883 (or ssl://, tls://), ws://host/mqtt, wss://host/mqtt"},
    "protocol": {"enum": ["5", "3.1.1"], "description": "MQTT version; default 5"},
    "username": {"type": "string", "maxLength": 1024},
    "password": {"type": "string", "maxLength": 1024},
    "topic": {"type": "string", "minLength": 1, "maxLength": 65535, "description": "where a publish goes when it names no topic"},
    "qos": {"enum": [0, 1, 2], "description": "the QoS of a publish that gives none; default 1"},
    "retain": {"type": "boolean", "description": "the retain flag of a publish that gives none; default false"},
    "id_property": {"type": "string", "minLength": 1, "maxLength": 256,
      "description": "protocol 5: the user property carrying the message's id (what an inbound mqtt connector's id_property reads)"},
    "connect_timeout": {"type": "string", "description": "how long connecting may take, within timeout; default 10s"},
    ` + OutCommonSchema + `
  }
}`,
		New: newMQTTSender,
	})
}

type mqttOutConfig struct {
	URL            string `json:"url"`
	Protocol       string `json:"protocol"`
	Username       string `json:"username"`
	Password       string `json:"password"`
	Topic          string `json:"topic"`
	QoS            *int   `json:"qos"`
	Retain         bool   `json:"retain"`
	IDProperty     string `json:"id_property"`
	ConnectTimeout string `json:"connect_timeout"`
}

type mqttSender struct {
	cfg      mqttOutConfig
	src      *mqttSource // the URL, credentials and timeout, read as an inbound connector reads them
	qos      byte
	clientID string
	v5       *lazyConn[*mqtt5Link]
	v311     *lazyConn[mqtt311.Client]
}

func newMQTTSender(raw json.RawMessage) (Sender, error) {
	var cfg mqttOutConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	// The connection's settings are an inbound connector's: read them so, with a topic
	// filter for form's sake.
	in, _ := json.Marshal(map[string]any{"url": cfg.URL, "topics": []string{"#"}, "protocol": cfg.Protocol,
		"username": cfg.Username, "password": cfg.Password, "connect_timeout": cfg.ConnectTimeout})
	src, err := newMQTT(in)
	if err != nil {
		return nil, err
	}
	s := &mqttSender{cfg: cfg, src: src.(*mqttSource), qos: 1}
	if cfg.QoS != nil {
		s.qos = byte(*cfg.QoS)
	}
	if cfg.Topic != "" {
		if err := checkMQTTTopic(cfg.Topic); err != nil {
			return nil, &solution.FieldError{Field: "config.topic", Reason: err.Error()}
		}
	}
	if cfg.IDProperty != "" && !s.src.v5 {
		return nil, &solution.FieldError{Field: "config.id_property", Reason: "only for protocol 5 (3.1.1 messages carry no properties)"}
	}
	// One client id per sender, that is per connector and instance: two instances never
	// take each other's session.
	var b [8]byte
	rand.Read(b[:])
	s.clientID = "sbout-" + hex.EncodeToString(b[:])
	if s.src.v5 {
		s.v5 = newLazyConn(s.open5, func(l *mqtt5Link) { l.shut() })
	} else {
		s.v311 = newLazyConn(s.open311, func(c mqtt311.Client) { c.Disconnect(250) })
	}
	return s, nil
}

// checkMQTTTopic refuses what a broker does not take as a topic to publish to.
func checkMQTTTopic(t string) error {
	switch {
	case len(t) > 65535:
		return errors.New("longer than 65535 bytes")
	case !utf8.ValidString(t):
		return errors.New("not UTF-8")
	case strings.ContainsAny(t, "+#"):
		return fmt.Errorf("%q: wildcards + and # are for subscribing, not publishing", clip(t))
	case strings.ContainsRune(t, 0):
		return errors.New("contains a NUL character")
	}
	return nil
}

// Send publishes m on its topic and waits for the broker's acknowledgement of its QoS.
func (s *mqttSender) Send(ctx context.Context, m Outgoing) (Receipt, error) {
	topic, err := destination(m, s.cfg.Topic, "topic")
	if err != nil {
		return Receipt{}, err
	}
	if err := checkMQTTTopic(topic); err != nil {
		return Receipt{}, &ArgError{Arg: "topic", Reason: err.Error()}
	}
	qos := s.qos
	if m.QoS != nil {
		if *m.QoS < 0 || *m.QoS > 2 {
			return Receipt{}, &ArgError{Arg: "qos", Reason: "want 0, 1 or 2"}
		}
		qos = byte(*m.QoS)
	}
	retain := s.cfg.Retain
	if m.Retain != nil {
		retain = *m.Retain
	}
	if s.v5 != nil {
		return s.send5(ctx, topic, qos, retain, m)
	}
	if len(m.Headers) > 0 {
		return Receipt{}, &ArgError{Arg: "headers", Reason: "MQTT 3.1.1 messages carry no headers (protocol 5 sends them as user properties)"}
	}
	if m.ContentType != "" {
		return Receipt{}, &ArgError{Arg: "content_type", Reason: "MQTT 3.1.1 messages carry no content type (protocol 5 does)"}
	}
	return s.send311(ctx, topic, qos, retain, m)
}

// mqtt5Link is an MQTT 5 connection.
type mqtt5Link struct {
	raw  net.Conn
	cli  *paho.Client
	once sync.Once
	dead chan struct{} // closed once the connection failed
}

func (l *mqtt5Link) kill() { l.once.Do(func() { close(l.dead) }) }

func (l *mqtt5Link) alive() bool {
	select {
	case <-l.dead:
		return false
	case <-l.cli.Done():
		return false
	default:
		return true
	}
}

func (l *mqtt5Link) shut() {
	// A broker that reads nothing any more cannot hold the DISCONNECT's write.
	l.raw.SetWriteDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck // closing anyway
	l.cli.Disconnect(&paho.Disconnect{ReasonCode: 0})       //nolint:errcheck // closes the connection whatever it says
}

func (s *mqttSender) open5(ctx context.Context) (*mqtt5Link, error) {
	t := connectWithin(ctx, s.src.timeout)
	cctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	raw, err := mqttDial(cctx, dialer(ctx, t), s.src.u)
	if err != nil {
		return nil, fmt.Errorf("mqtt %s: %w", s.src.url, err)
	}
	l := &mqtt5Link{raw: raw, dead: make(chan struct{})}
	l.cli = paho.NewClient(paho.ClientConfig{
		// QoS 0 publishes write from the caller's goroutine: writes must not interleave.
		Conn:               packets.NewThreadSafeConn(raw),
		PacketTimeout:      outMaxTimeout, // each publish is bounded by its context
		OnClientError:      func(error) { l.kill() },
		OnServerDisconnect: func(*paho.Disconnect) { l.kill() },
	})
	cp := &paho.Connect{ClientID: s.clientID, CleanStart: true, KeepAlive: mqttKeepAlive}
	if s.src.username != "" {
		cp.Username, cp.UsernameFlag = s.src.username, true
		if s.src.password != "" {
			cp.Password, cp.PasswordFlag = []byte(s.src.password), true
		}
	}
	ca, err := l.cli.Connect(cctx, cp)
	if err != nil {
		raw.Close()
		if ca != nil && ca.ReasonCode >= 0x80 {
			// Refused credentials or client: another attempt is refused alike.
			return nil, permanent(fmt.Errorf("mqtt %s: the broker refused the connection (reason %d) %s", s.src.url, ca.ReasonCode, err))
		}
		return nil, fmt.Errorf("mqtt %s: connect: %w", s.src.url, err)
	}
	return l, nil
}

func (s *mqttSender) send5(ctx context.Context, topic string, qos byte, retain bool, m Outgoing) (Receipt, error) {
	p := &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: m.Data, Properties: &paho.PublishProperties{ContentType: m.ContentType}}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		p.Properties.User.Add(k, m.Headers[k])
	}
	var r Receipt
	if s.cfg.IDProperty != "" {
		p.Properties.User.Add(s.cfg.IDProperty, m.ID)
		r.ID = m.ID
	}
	l, gen, err := s.v5.get(ctx)
	if err == nil && !l.alive() {
		s.v5.drop(gen)
		l, gen, err = s.v5.get(ctx)
	}
	if err != nil {
		return Receipt{}, err
	}
	resp, err := l.cli.Publish(ctx, p)
	if err == nil && resp != nil && resp.ReasonCode >= 0x80 {
		err = errors.New("refused") // a PUBREC's failure is not an error to the client
	}
	if err != nil {
		// Lost, or silent: a half-open connection looks alive until its pings go unanswered.
		if !l.alive() || errors.Is(err, context.DeadlineExceeded) {
			s.v5.drop(gen)
		}
		switch {
		case resp != nil && resp.ReasonCode >= 0x80:
			reason := ""
			if resp.Properties != nil && resp.Properties.ReasonString != "" {
				reason = ": " + resp.Properties.ReasonString
			}
			err = permanent(fmt.Errorf("the broker refused the message (reason %d%s)", resp.ReasonCode, reason))
		case errors.Is(err, paho.ErrInvalidArguments):
			err = permanent(err)
		}
		return Receipt{}, fmt.Errorf("mqtt %s: publish to %s: %w", s.src.url, topic, err)
	}
	return r, nil
}

func (s *mqttSender) open311(ctx context.Context) (mqtt311.Client, error) {
	t := connectWithin(ctx, s.src.timeout)
	opts := mqtt311.NewClientOptions().
		AddBroker(s.src.u.String()).
		SetProtocolVersion(4).
		SetClientID(s.clientID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(t).
		SetWriteTimeout(outMaxTimeout).
		SetKeepAlive(mqttKeepAlive * time.Second).
		SetPingTimeout(10 * time.Second).
		SetOrderMatters(false).
		// Through the guard, for every scheme.
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt311.ClientOptions) (net.Conn, error) {
			return mqttDial(ctx, dialer(ctx, t), u)
		})
	if s.src.username != "" {
		opts.SetUsername(s.src.username).SetPassword(s.src.password)
	}
	c := mqtt311.NewClient(opts)
	if err := waitToken(ctx, c.Connect()); err != nil {
		c.Disconnect(0)
		switch {
		case errors.Is(err, mqtt311packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, mqtt311packets.ErrorRefusedNotAuthorised),
			errors.Is(err, mqtt311packets.ErrorRefusedIDRejected), errors.Is(err, mqtt311packets.ErrorRefusedBadProtocolVersion):
			err = permanent(fmt.Errorf("the broker refused the connection: %w", err))
		}
		return nil, fmt.Errorf("mqtt %s: connect: %w", s.src.url, err)
	}
	return c, nil
}

func (s *mqttSender) send311(ctx context.Context, topic string, qos byte, retain bool, m Outgoing) (Receipt, error) {
	c, gen, err := s.v311.get(ctx)
	if err == nil && !c.IsConnectionOpen() {
		s.v311.drop(gen)
		c, gen, err = s.v311.get(ctx)
	}
	if err != nil {
		return Receipt{}, err
	}
	if err := waitToken(ctx, c.Publish(topic, qos, retain, m.Data)); err != nil {
		if !c.IsConnectionOpen() || errors.Is(err, context.DeadlineExceeded) {
			s.v311.drop(gen)
		}
		return Receipt{}, fmt.Errorf("mqtt %s: publish to %s: %w", s.src.url, topic, err)
	}
	return Receipt{}, nil
}

// waitToken waits for a 3.1.1 client's token within ctx.
func waitToken(ctx context.Context, t mqtt311.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *mqttSender) Close() error {
	if s.v5 != nil {
		s.v5.close()
	} else {
		s.v311.close()
	}
	return nil
}
