package connector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
	mqtt311 "github.com/eclipse/paho.mqtt.golang"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// mqtt: subscriptions on an MQTT broker (3.1.1 or 5), shared subscriptions included; a
// message is acknowledged (PUBACK/PUBREC) only once it is stored as an event.
func init() {
	Register(Kind{
		Type:        "mqtt",
		Description: "Events from MQTT 3.1.1 or 5 subscriptions (QoS 0, 1 or 2; shared subscriptions as $share/<group>/<filter>), acknowledged once stored; with listener, from the solution's devices publishing to this Switchboard's own MQTT listener.",
		Secrets:     []string{"password"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["topics"],
  "anyOf": [{"required": ["url"]}, {"required": ["listener"]}],
  "properties": {
    "url": {"type": "string", "minLength": 1, "maxLength": 2048,
      "description": "the broker: mqtt://host:1883 (or tcp://), mqtts://host:8883 (or ssl://, tls://), ws://host/mqtt, wss://host/mqtt"},
    "listener": {"type": "boolean",
      "description": "true: read what the solution's devices publish to this Switchboard's own MQTT listener (--mqtt-listen, MQTT 3.1.1) instead of a broker; no url, credentials, client_id or session settings then"},
    "application": {"type": "string", "minLength": 1, "maxLength": 64,
      "description": "with listener: the id of an application of the solution, whose events (topics {application}/{event-type}/{version}) go through the event gateway's checks to their declared topics instead of to this connector's topic"},
    "topics": {"type": "array", "minItems": 1, "maxItems": 16, "items": {"type": "string", "minLength": 1, "maxLength": 1024},
      "description": "topic filters (+ and # wildcards); $share/<group>/<filter> shares the messages among the subscribers of the group"},
    "qos": {"enum": [0, 1, 2], "description": "the subscriptions' QoS; default 1"},
    "protocol": {"enum": ["5", "3.1.1"], "description": "MQTT version; default 5"},
    "client_id": {"type": "string", "minLength": 1, "maxLength": 256,
      "description": "the client id; default switchboard-<random>, made once for the connector and its topics (new topics, new id) and kept, so that the broker's session (and the messages it keeps for it) outlives a restart or a move to another instance"},
    "username": {"type": "string", "maxLength": 1024},
    "password": {"type": "string", "maxLength": 1024},
    "clean_start": {"type": "boolean", "description": "start without the broker's session; default false for QoS 1 and 2 (messages not yet acknowledged are sent again), true for QoS 0"},
    "session_expiry": {"type": "string", "description": "protocol 5: how long the broker keeps the session while disconnected, such as 1h; default 1h (0s with clean_start)"},
    "max_in_flight": {"type": "integer", "minimum": 1, "maximum": 1024, "description": "messages received and not yet acknowledged at most (receive maximum); default 16"},
    "connect_timeout": {"type": "string", "description": "how long connecting and subscribing may take, such as 10s; default 10s"},
    "id_property": {"type": "string", "minLength": 1, "maxLength": 256,
      "description": "protocol 5: the user property carrying the message's id, which dedupes a message sent again; without it every message gets a fresh event id"}
  }
}`,
		New: newMQTT,
	})
}

type mqttConfig struct {
	URL            string   `json:"url"`
	Listener       bool     `json:"listener"`
	Topics         []string `json:"topics"`
	QoS            *int     `json:"qos"`
	Protocol       string   `json:"protocol"`
	ClientID       string   `json:"client_id"`
	Username       string   `json:"username"`
	Password       string   `json:"password"`
	CleanStart     *bool    `json:"clean_start"`
	SessionExpiry  string   `json:"session_expiry"`
	MaxInFlight    int      `json:"max_in_flight"`
	ConnectTimeout string   `json:"connect_timeout"`
	IDProperty     string   `json:"id_property"`
	Application    string   `json:"application"`
}

// MQTT bounds and defaults.
const (
	mqttDefaultInFlight = 16
	mqttMaxInFlight     = 1024
	mqttKeepAlive       = 30 // seconds
	mqttDefaultExpiry   = time.Hour
	// paho.golang sends manual acknowledgements on a ticker; the broker sends no more than
	// the receive maximum until they come, so the tick bounds the rate: keep it short.
	mqttAckInterval      = time.Millisecond
	mqttDisconnectLinger = 5 * time.Second
)

type mqttSource struct {
	u          *url.URL
	url        string // without credentials, for errors
	topics     []string
	qos        byte
	v5         bool
	clientID   string
	ownID      bool // clientID is the config's, not made up
	username   string
	password   string
	cleanStart bool
	expiry     uint32 // seconds
	inFlight   int
	timeout    time.Duration
	idProperty string

	// idKept: clientID is the one the connector's checkpoint keeps (see keepClientID).
	idKept bool
	// session is the v5 client's view of the session, kept across runs so that a message
	// the broker sends again after a reconnection is recognised (QoS 2).
	session *state.State
	// subscribed, when set, is told each time the subscriptions are in place (tests wait on it).
	subscribed func()
}

func newMQTT(raw json.RawMessage) (Source, error) {
	var cfg mqttConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	if cfg.Application != "" && !cfg.Listener {
		return nil, &solution.FieldError{Field: "config.application", Reason: "only with listener: applications publish to this Switchboard's own MQTT listener"}
	}
	if cfg.Listener {
		return newMQTTListener(cfg, raw)
	}
	s := &mqttSource{
		topics:     cfg.Topics,
		qos:        1,
		v5:         cfg.Protocol != "3.1.1",
		clientID:   cfg.ClientID,
		ownID:      cfg.ClientID != "",
		username:   cfg.Username,
		password:   cfg.Password,
		inFlight:   mqttDefaultInFlight,
		timeout:    10 * time.Second,
		idProperty: cfg.IDProperty,
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, &solution.FieldError{Field: "config.url", Reason: "want a URL such as mqtt://host:1883"}
	}
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "tcp", "mqtts", "ssl", "tls", "ws", "wss":
	default:
		return nil, &solution.FieldError{Field: "config.url", Reason: fmt.Sprintf("scheme %q: want mqtt, mqtts, ws or wss", u.Scheme)}
	}
	if u.User != nil {
		return nil, &solution.FieldError{Field: "config.url", Reason: "credentials go in username and password, not the URL"}
	}
	if u.Port() == "" {
		// The clients dial host:port as written; the well-known ports when none is.
		switch strings.ToLower(u.Scheme) {
		case "mqtt", "tcp":
			u.Host = net.JoinHostPort(u.Hostname(), "1883")
		case "mqtts", "ssl", "tls":
			u.Host = net.JoinHostPort(u.Hostname(), "8883")
		}
	}
	s.u, s.url = u, u.Redacted()
	if len(cfg.Topics) == 0 {
		return nil, &solution.FieldError{Field: "config.topics", Reason: "at least one topic filter"}
	}
	for i, f := range cfg.Topics {
		if err := checkTopicFilter(f); err != nil {
			return nil, &solution.FieldError{Field: "config.topics." + strconv.Itoa(i), Reason: err.Error()}
		}
	}
	if cfg.QoS != nil {
		if *cfg.QoS < 0 || *cfg.QoS > 2 {
			return nil, &solution.FieldError{Field: "config.qos", Reason: "want 0, 1 or 2"}
		}
		s.qos = byte(*cfg.QoS)
	}
	switch cfg.Protocol {
	case "", "5", "3.1.1":
	default:
		return nil, &solution.FieldError{Field: "config.protocol", Reason: `want "5" or "3.1.1"`}
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, &solution.FieldError{Field: "config.username", Reason: "required with a password"}
	}
	if cfg.MaxInFlight != 0 {
		if cfg.MaxInFlight < 1 || cfg.MaxInFlight > mqttMaxInFlight {
			return nil, &solution.FieldError{Field: "config.max_in_flight", Reason: fmt.Sprintf("want 1 to %d", mqttMaxInFlight)}
		}
		s.inFlight = cfg.MaxInFlight
	}
	if cfg.ConnectTimeout != "" {
		d, err := time.ParseDuration(cfg.ConnectTimeout)
		if err != nil || d < time.Second || d > 5*time.Minute {
			return nil, &solution.FieldError{Field: "config.connect_timeout", Reason: fmt.Sprintf("%q: want a duration between 1s and 5m, such as 10s", cfg.ConnectTimeout)}
		}
		s.timeout = d
	}
	s.cleanStart = s.qos == 0
	if cfg.CleanStart != nil {
		s.cleanStart = *cfg.CleanStart
	}
	if !s.cleanStart {
		s.expiry = uint32(mqttDefaultExpiry / time.Second)
	}
	if cfg.SessionExpiry != "" {
		if !s.v5 {
			return nil, &solution.FieldError{Field: "config.session_expiry", Reason: "only for protocol 5 (a 3.1.1 broker decides how long it keeps a session)"}
		}
		d, err := time.ParseDuration(cfg.SessionExpiry)
		if err != nil || d < 0 || d.Seconds() > math.MaxUint32-1 {
			return nil, &solution.FieldError{Field: "config.session_expiry", Reason: fmt.Sprintf("%q: want a duration such as 1h", cfg.SessionExpiry)}
		}
		s.expiry = uint32(d / time.Second)
	}
	if cfg.IDProperty != "" && !s.v5 {
		return nil, &solution.FieldError{Field: "config.id_property", Reason: "only for protocol 5 (3.1.1 messages carry no properties)"}
	}
	if s.clientID == "" {
		// New learns only the config, not which connector it is: a random id, which the
		// first run keeps in the connector's checkpoint when the session is to be resumed.
		var b [5]byte
		rand.Read(b[:])
		s.clientID = "switchboard-" + hex.EncodeToString(b[:])
	}
	if s.v5 {
		s.session = state.NewInMemory()
	}
	return s, nil
}

// checkTopicFilter refuses what a broker would refuse to subscribe to.
func checkTopicFilter(f string) error {
	if strings.ContainsRune(f, 0) {
		return errors.New("contains a NUL character")
	}
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		group, filter, ok := strings.Cut(rest, "/")
		if !ok || group == "" || filter == "" {
			return errors.New("a shared subscription is $share/<group>/<filter>")
		}
		if strings.ContainsAny(group, "+#") {
			return errors.New("a shared subscription's group has no wildcards")
		}
		f = filter
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("%q: # only as the last level", f)
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return fmt.Errorf("%q: + and # stand alone in a level", f)
		}
	}
	return nil
}

// mqttDelivery is a message received and not yet acknowledged.
type mqttDelivery struct {
	msg Message
	ack func() error
}

// Run connects, subscribes and hands messages to the sink in batches of what arrived,
// acknowledging them (in the order received, as MQTT wants) once Publish returned nil. An
// unacknowledged message is sent again by the broker when the session resumes.
func (s *mqttSource) Run(ctx context.Context, sink Sink, cp Checkpoint) error {
	if err := s.keepClientID(ctx, cp); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("mqtt %s: keep the client id: %w", s.url, err)
	}
	in := make(chan mqttDelivery, s.inFlight)
	stop := make(chan struct{})
	defer close(stop)
	lost := make(chan error, 1)
	fail := func(err error) {
		select {
		case lost <- err:
		default:
		}
	}
	deliver := func(d mqttDelivery) {
		// Blocks while the sink is behind: back-pressure on the connection, not a buffer.
		select {
		case in <- d:
		case <-stop:
		}
	}
	var (
		disconnect func()
		err        error
	)
	if s.v5 {
		disconnect, err = s.connect5(ctx, deliver, fail)
	} else {
		disconnect, err = s.connect311(ctx, deliver, fail)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("mqtt %s: %w", s.url, err)
	}
	defer disconnect()
	ready(sink)
	if s.subscribed != nil {
		s.subscribed()
	}

	batch := make([]mqttDelivery, 0, s.inFlight)
	msgs := make([]Message, 0, s.inFlight)
	for {
		batch, msgs = batch[:0], msgs[:0]
		select {
		case <-ctx.Done():
			return nil
		case err := <-lost:
			return fmt.Errorf("mqtt %s: %w", s.url, err)
		case d := <-in:
			batch = append(batch, d)
		}
	more:
		for len(batch) < s.inFlight {
			select {
			case d := <-in:
				batch = append(batch, d)
			default:
				break more
			}
		}
		for _, d := range batch {
			msgs = append(msgs, d.msg)
		}
		if err := sink.Publish(ctx, msgs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Not acknowledged: the broker sends them again once the session resumes.
			return fmt.Errorf("mqtt %s: %w", s.url, err)
		}
		for _, d := range batch {
			// Not found: the client no longer tracks the packet, because it came twice (a
			// resend before the first was acknowledged, which one acknowledgement covers) or the
			// connection is going down (the broker sends it again to the session, at least once).
			if err := d.ack(); err != nil && !errors.Is(err, paho.ErrPacketNotFound) {
				return fmt.Errorf("mqtt %s: acknowledge: %w", s.url, err)
			}
		}
	}
}

// mqttKept is what the checkpoint keeps of a connector with a made-up client id.
type mqttKept struct {
	ClientID string   `json:"client_id"`
	Topics   []string `json:"topics"`
}

// keepClientID makes a made-up client id the connector's for as long as its topics stay: the
// broker's session for it, and the messages the broker keeps there while the connector is
// down (a restart, a move to another instance), are the next run's. Without it a restart
// starts a new session, and what the old one held is lost. New topics get a new session, as
// the old one's subscriptions would still deliver.
func (s *mqttSource) keepClientID(ctx context.Context, cp Checkpoint) error {
	if s.ownID || s.cleanStart || s.idKept {
		return nil
	}
	raw, err := cp.Load(ctx)
	if err != nil {
		return err
	}
	var kept mqttKept
	if json.Unmarshal(raw, &kept) == nil && kept.ClientID != "" && slices.Equal(kept.Topics, s.topics) {
		s.clientID = kept.ClientID
	} else {
		data, _ := json.Marshal(mqttKept{ClientID: s.clientID, Topics: s.topics}) // strings always marshal
		if err := cp.Save(ctx, data); err != nil {
			return err
		}
	}
	s.idKept = true
	return nil
}

func (s *mqttSource) subscriptionsQoS() []byte {
	q := make([]byte, len(s.topics))
	for i := range q {
		q[i] = s.qos
	}
	return q
}

func mqttExtensions(qos byte, retained bool) map[string]string {
	ext := map[string]string{"mqttqos": strconv.Itoa(int(qos))}
	if retained {
		ext["mqttretain"] = "true"
	}
	return ext
}

// connect5 connects with MQTT 5 (paho.golang), once: a failure is Run's error, and the
// manager's back-off decides when to try again.
func (s *mqttSource) connect5(ctx context.Context, deliver func(mqttDelivery), fail func(error)) (func(), error) {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	connectErr := make(chan error, 1)
	recvMax := uint16(s.inFlight)
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{s.u},
		KeepAlive:                     mqttKeepAlive,
		CleanStartOnInitialConnection: s.cleanStart,
		SessionExpiryInterval:         s.expiry,
		ConnectTimeout:                s.timeout,
		// One attempt: the next waits longer than Run lives after a failure.
		ReconnectBackoff: func(attempt int) time.Duration {
			if attempt == 0 {
				return 0
			}
			return 24 * time.Hour
		},
		ConnectUsername: s.username,
		ConnectPassword: []byte(s.password),
		// Through the run's dialer, for every scheme.
		AttemptConnection: func(actx context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
			return mqttDial(actx, dialer(ctx, s.timeout), u)
		},
		ConnectPacketBuilder: func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			cp.Properties.ReceiveMaximum = &recvMax
			return cp, nil
		},
		OnConnectError: func(err error) {
			select {
			case connectErr <- err:
			default:
			}
		},
		OnConnectionDown: func() bool {
			fail(errors.New("connection lost"))
			return false
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   s.clientID,
			Session:                    s.session,
			EnableManualAcknowledgment: true,
			SendAcksInterval:           mqttAckInterval,
			PacketTimeout:              s.timeout,
			OnServerDisconnect: func(d *paho.Disconnect) {
				reason := "the broker disconnected (reason " + strconv.Itoa(int(d.ReasonCode)) + ")"
				if d.Properties != nil && d.Properties.ReasonString != "" {
					reason += ": " + d.Properties.ReasonString
				}
				fail(errors.New(reason))
			},
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					p, cli := pr.Packet, pr.Client
					m := Message{Data: p.Payload, Subject: p.Topic, Extensions: mqttExtensions(p.QoS, p.Retain)}
					if p.Properties != nil {
						m.ContentType = p.Properties.ContentType
						if s.idProperty != "" {
							m.ID = p.Properties.User.Get(s.idProperty)
						}
					}
					deliver(mqttDelivery{msg: m, ack: func() error { return cli.Ack(p) }})
					return true, nil
				},
			},
		},
	}
	cm, err := autopaho.NewConnection(cctx, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	up := make(chan error, 1)
	go func() { up <- cm.AwaitConnection(cctx) }()
	stop := func() {
		// paho.golang sends acknowledgements on a timer: give the last ones time to leave,
		// or they come back after the reconnection as duplicates.
		time.Sleep(3 * mqttAckInterval)
		dctx, dcancel := context.WithTimeout(context.Background(), mqttDisconnectLinger)
		defer dcancel()
		cm.Disconnect(dctx) //nolint:errcheck // the connection may already be gone
		cancel()
		<-cm.Done()
	}
	select {
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	case err := <-connectErr:
		stop()
		return nil, err
	case err := <-up:
		if err != nil {
			stop()
			return nil, err
		}
	}
	sctx, scancel := context.WithTimeout(ctx, s.timeout)
	defer scancel()
	sub := &paho.Subscribe{}
	for _, t := range s.topics {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: t, QoS: s.qos})
	}
	sa, err := cm.Subscribe(sctx, sub)
	if err == nil {
		for i, r := range sa.Reasons {
			if r >= 0x80 && i < len(s.topics) {
				err = fmt.Errorf("subscribe to %s refused (reason %d)", s.topics[i], r)
				break
			}
		}
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return stop, nil
}

// connect311 connects with MQTT 3.1.1 (paho.mqtt.golang), which paho.golang does not speak.
func (s *mqttSource) connect311(ctx context.Context, deliver func(mqttDelivery), fail func(error)) (func(), error) {
	opts := mqtt311.NewClientOptions().
		AddBroker(s.u.String()).
		SetProtocolVersion(4).
		SetClientID(s.clientID).
		SetCleanSession(s.cleanStart).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetConnectTimeout(s.timeout).
		SetWriteTimeout(s.timeout).
		SetKeepAlive(mqttKeepAlive * time.Second).
		SetPingTimeout(s.timeout).
		SetOrderMatters(true).
		SetAutoAckDisabled(true).
		SetDefaultPublishHandler(func(_ mqtt311.Client, m mqtt311.Message) {
			deliver(mqttDelivery{
				msg: Message{Data: m.Payload(), Subject: m.Topic(), Extensions: mqttExtensions(m.Qos(), m.Retained())},
				ack: func() error { m.Ack(); return nil },
			})
		}).
		SetConnectionLostHandler(func(_ mqtt311.Client, err error) {
			fail(fmt.Errorf("connection lost: %w", err))
		}).
		// Through the run's dialer, for every scheme.
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt311.ClientOptions) (net.Conn, error) {
			return mqttDial(ctx, dialer(ctx, s.timeout), u)
		})
	if s.username != "" {
		opts.SetUsername(s.username).SetPassword(s.password)
	}
	c := mqtt311.NewClient(opts)
	stop := func() { c.Disconnect(250) } // ms for the acknowledgements under way to leave
	wait := func(t mqtt311.Token) error {
		select {
		case <-t.Done():
			return t.Error()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.timeout + time.Second):
			return errors.New("timed out")
		}
	}
	if err := wait(c.Connect()); err != nil {
		stop()
		return nil, err
	}
	filters := make(map[string]byte, len(s.topics))
	for _, t := range s.topics {
		filters[t] = s.qos
	}
	st := c.SubscribeMultiple(filters, nil)
	err := wait(st)
	if err == nil {
		if t, ok := st.(*mqtt311.SubscribeToken); ok {
			for f, q := range t.Result() {
				if q >= 0x80 {
					err = fmt.Errorf("subscribe to %s refused", f)
					break
				}
			}
		}
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return stop, nil
}
