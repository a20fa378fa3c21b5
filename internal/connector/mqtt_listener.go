package connector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// Listener is the hub's own MQTT listener (--mqtt-listen), where a solution's devices publish
// to Switchboard itself, each solution's in a NATS account of its own. An mqtt connector with
// "listener": true reads it, as an MQTT client of the solution's account.
type Listener interface {
	// Login is the listener's address and the credentials of the hub's own client of
	// solution: they reach that solution's topics and nothing else.
	Login(solution string) (addr, username, password string, err error)
}

// UseListener lets the mqtt connectors run by m read l; call it before Start.
func (m *Manager) UseListener(l Listener) { m.listener = l }

// Gateway takes what an application published on the listener through the event gateway's
// checks; a message it refuses for what it is, is a *RefusedError.
type Gateway interface {
	DeliverMQTT(ctx context.Context, sol, appID, topic string, payload []byte) error
}

// RefusedError is a message the gateway refused for what it is (an undeclared type, data its
// schema refuses): counted and logged as rejected, not tried again.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

// UseGateway lets the listener connectors of applications (config application) hand their
// messages to g; call it before Start.
func (m *Manager) UseGateway(g Gateway) { m.gateway = g }

// applicationOf is the application whose events a connector reads from the listener, "" for
// none.
func applicationOf(c Connector) string {
	if c.Type != "mqtt" {
		return ""
	}
	var cfg struct {
		Listener    bool   `json:"listener"`
		Application string `json:"application"`
	}
	if json.Unmarshal(c.Config, &cfg) != nil || !cfg.Listener {
		return ""
	}
	return cfg.Application
}

// ErrNoListener is the error of a listener connector on a server without --mqtt-listen.
var ErrNoListener = errors.New("this Switchboard has no MQTT listener: start it with --mqtt-listen")

type listenerKey struct{}

// listenerRun is what a listener connector's run needs of where it runs.
type listenerRun struct {
	l        Listener
	solution string
}

// withListener makes the listener connector run under ctx, of solution, read l.
func withListener(ctx context.Context, l Listener, solution string) context.Context {
	if l == nil {
		return ctx
	}
	return context.WithValue(ctx, listenerKey{}, listenerRun{l: l, solution: solution})
}

// mqttListenerSource reads the hub's own MQTT listener with a persistent session (MQTT 3.1.1,
// the version the listener speaks): the server keeps QoS 1 and 2 messages for it while it is
// away, and it acknowledges each once stored, as for a broker.
type mqttListenerSource struct {
	topics   []string
	qos      byte
	inFlight int
	timeout  time.Duration

	subscribed func() // tests
}

// listenerOnly are the mqtt config fields that make no sense with the listener: the
// listener is the hub's own, and the hub keeps the session.
var listenerOnly = []string{"url", "username", "password", "client_id", "clean_start", "session_expiry", "id_property"}

func newMQTTListener(cfg mqttConfig, raw json.RawMessage) (Source, error) {
	var set map[string]json.RawMessage
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	for _, f := range listenerOnly {
		if _, ok := set[f]; ok {
			return nil, &solution.FieldError{Field: "config." + f, Reason: "not with listener: the listener is this Switchboard's own, which keeps the session itself"}
		}
	}
	if cfg.Protocol == "5" {
		return nil, &solution.FieldError{Field: "config.protocol", Reason: `the listener speaks MQTT 3.1.1 only: leave protocol out or make it "3.1.1"`}
	}
	s := &mqttListenerSource{topics: cfg.Topics, qos: 1, inFlight: mqttDefaultInFlight, timeout: 10 * time.Second}
	if len(cfg.Topics) == 0 {
		return nil, &solution.FieldError{Field: "config.topics", Reason: "at least one topic filter"}
	}
	for i, f := range cfg.Topics {
		err := checkTopicFilter(f)
		if err == nil && strings.HasPrefix(f, "$share/") {
			err = errors.New("the listener has no shared subscriptions: one connector reads each message")
		}
		if err != nil {
			return nil, &solution.FieldError{Field: "config.topics." + strconv.Itoa(i), Reason: err.Error()}
		}
	}
	if cfg.QoS != nil {
		if *cfg.QoS < 0 || *cfg.QoS > 2 {
			return nil, &solution.FieldError{Field: "config.qos", Reason: "want 0, 1 or 2"}
		}
		s.qos = byte(*cfg.QoS)
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
	return s, nil
}

// listenerMark is a listener connector's checkpoint: the client id of its session, and the
// subscriptions the session has.
type listenerMark struct {
	Session *listenerSession `json:"mqtt_listener,omitempty"`
}

type listenerSession struct {
	ClientID string   `json:"client_id"`
	Topics   []string `json:"topics"`
	QoS      byte     `json:"qos"`
}

func parseListenerMark(b []byte) *listenerSession {
	var m listenerMark
	if json.Unmarshal(b, &m) != nil || m.Session == nil || m.Session.ClientID == "" {
		return nil
	}
	return m.Session
}

// Run keeps the session's client id in the checkpoint, so that the session (and what the
// server keeps for it) outlives a restart; a session made for other topics or another QoS is
// ended first, as it would keep its old subscriptions.
func (s *mqttListenerSource) Run(ctx context.Context, sink Sink, cp Checkpoint) error {
	run, ok := ctx.Value(listenerKey{}).(listenerRun)
	if !ok {
		return ErrNoListener
	}
	addr, user, password, err := run.l.Login(run.solution)
	if err != nil {
		return fmt.Errorf("mqtt listener: %w", err)
	}
	// The listener is the hub's own, which the guard refuses to solutions' addresses; its
	// address comes from the hub, never from a config.
	ctx = context.WithValue(ctx, guardKey{}, nil)
	raw, err := cp.Load(ctx)
	if err != nil {
		return err
	}
	sess := parseListenerMark(raw)
	want := &listenerSession{Topics: s.topics, QoS: s.qos}
	switch {
	case sess == nil:
		want.ClientID = newListenerClientID()
	case sess.QoS != s.qos || !slices.Equal(sess.Topics, s.topics):
		if err := endMQTTSession(ctx, addr, user, password, sess.ClientID, s.timeout); err != nil {
			return fmt.Errorf("mqtt listener: end the session of the old topics: %w", err)
		}
		want.ClientID = sess.ClientID
	default:
		want = sess
	}
	if want != sess {
		data, _ := json.Marshal(listenerMark{Session: want})
		if err := cp.Save(ctx, data); err != nil {
			return err
		}
	}
	src := &mqttSource{
		u:          &url.URL{Scheme: "mqtt", Host: addr},
		url:        "listener " + addr,
		topics:     s.topics,
		qos:        s.qos,
		clientID:   want.ClientID,
		idKept:     true, // in the listener's own mark, above
		username:   user,
		password:   password,
		inFlight:   s.inFlight,
		timeout:    s.timeout,
		subscribed: s.subscribed,
	}
	return src.Run(ctx, sink, cp)
}

func newListenerClientID() string {
	var b [8]byte
	rand.Read(b[:])
	return "switchboard-" + hex.EncodeToString(b[:])
}

// endMQTTSession ends the listener's session of clientID: a connection with a clean session
// discards it, with the subscriptions it had and the messages kept for them.
func endMQTTSession(ctx context.Context, addr, user, password, clientID string, timeout time.Duration) error {
	u := &url.URL{Scheme: "mqtt", Host: addr}
	opts := mqtt311.NewClientOptions().
		AddBroker(u.String()).
		SetProtocolVersion(4).
		SetClientID(clientID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(timeout).
		SetUsername(user).
		SetPassword(password).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt311.ClientOptions) (net.Conn, error) {
			return mqttDial(ctx, &net.Dialer{Timeout: timeout}, u)
		})
	c := mqtt311.NewClient(opts)
	t := c.Connect()
	select {
	case <-t.Done():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout + time.Second):
		return errors.New("timed out")
	}
	if err := t.Error(); err != nil {
		return err
	}
	c.Disconnect(250)
	return nil
}

// ListenerSessions ends the sessions of listener connectors that were deleted (or no longer
// read the listener): the server would keep their messages until the solution's storage is
// full. It runs on the one instance that has the listener.
type ListenerSessions struct {
	m      *Manager
	l      Listener
	log    *slog.Logger
	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// listenerSweepEvery is how often ListenerSessions looks besides each change of connectors.
const listenerSweepEvery = 30 * time.Second

// StartListenerSessions looks for such sessions at once, on every change of m's connectors
// and every half minute, until Close.
func StartListenerSessions(m *Manager, l Listener, log *slog.Logger) *ListenerSessions {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &ListenerSessions{m: m, l: l, log: log, kick: make(chan struct{}, 1), cancel: cancel}
	m.store.OnChange(func() {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	})
	s.wg.Go(func() {
		t := time.NewTicker(listenerSweepEvery)
		defer t.Stop()
		for {
			retry := s.sweep(ctx)
			var again <-chan time.Time
			if retry {
				again = time.After(time.Second)
			}
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
			case <-t.C:
			case <-again:
			}
		}
	})
	return s
}

// Close stops looking, and waits for a sweep under way.
func (s *ListenerSessions) Close() {
	s.cancel()
	s.wg.Wait()
}

// sweep ends the sessions no listener connector has any more; it reports whether one was
// left for later (its connector still stopping).
func (s *ListenerSessions) sweep(ctx context.Context) (retry bool) {
	lister, err := s.m.marks.ListKeys(ctx)
	if err != nil {
		if !errors.Is(err, jetstream.ErrNoKeysFound) && ctx.Err() == nil {
			s.log.Warn("listener sessions: list checkpoints", "err", err)
		}
		return false
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, key := range keys {
		sol, name, ok := strings.Cut(key, ".")
		if !ok {
			continue
		}
		if c, ok := s.m.store.Get(sol, name); ok && readsListener(c) {
			continue
		}
		s.m.mu.Lock()
		_, running := s.m.running[key]
		s.m.mu.Unlock()
		if running {
			retry = true // stopping: its run could make the session again
			continue
		}
		e, err := s.m.marks.Get(ctx, key)
		if err != nil {
			continue
		}
		sess := parseListenerMark(e.Value())
		if sess == nil {
			continue // another type's checkpoint
		}
		addr, user, password, err := s.l.Login(sol)
		if err == nil {
			// A solution that is gone has no session left: its accounts went with it.
			if err := endMQTTSession(ctx, addr, user, password, sess.ClientID, 10*time.Second); err != nil {
				s.log.Warn("listener session not ended; will try again", "solution", sol, "connector", name, "err", err)
				continue
			}
		}
		if err := s.m.marks.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil && ctx.Err() == nil {
			s.log.Debug("listener session mark not deleted", "solution", sol, "connector", name, "err", err)
		}
		s.log.Info("listener session ended", "solution", sol, "connector", name)
	}
	return retry
}

// readsListener reports whether c is an mqtt connector reading the listener.
func readsListener(c Connector) bool {
	if c.Type != "mqtt" {
		return false
	}
	var cfg struct {
		Listener bool `json:"listener"`
	}
	return json.Unmarshal(c.Config, &cfg) == nil && cfg.Listener
}
