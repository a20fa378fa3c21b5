package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/url"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// amqp: messages of a queue of an AMQP 0-9-1 broker (RabbitMQ), optionally declared and bound
// to exchanges, each acknowledged once stored.
func init() {
	Register(Kind{
		Type:        "amqp",
		Description: "Messages consumed from a queue of an AMQP 0-9-1 broker (RabbitMQ), optionally declared and bound to exchanges; each is acknowledged once stored.",
		Secrets:     []string{"url", "password"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["url", "queue"],
  "properties": {
    "url": {"type": "string", "minLength": 1, "maxLength": 2048,
      "description": "amqp://[user:password@]host[:port][/vhost] or amqps://…; a vhost of / is written %2f"},
    "username": {"type": "string", "minLength": 1, "maxLength": 255, "description": "instead of the user in the url"},
    "password": {"type": "string", "maxLength": 1024, "description": "instead of the password in the url"},
    "queue": {"type": "string", "minLength": 1, "maxLength": 255, "description": "the queue consumed"},
    "declare": {"type": "object", "additionalProperties": false,
      "description": "declare the queue when missing (an existing one must have the same settings)",
      "properties": {
        "durable": {"type": "boolean", "description": "default true"},
        "exclusive": {"type": "boolean"},
        "auto_delete": {"type": "boolean"},
        "arguments": {"type": "object", "maxProperties": 32,
          "propertyNames": {"minLength": 1, "maxLength": 255},
          "additionalProperties": {"type": ["string", "number", "boolean"]},
          "description": "x-arguments, such as {\"x-queue-type\": \"quorum\", \"x-message-ttl\": 60000}"}
      }},
    "bindings": {"type": "array", "maxItems": 16, "description": "bindings of the queue made on start",
      "items": {"type": "object", "additionalProperties": false, "required": ["exchange"],
        "properties": {
          "exchange": {"type": "string", "minLength": 1, "maxLength": 255},
          "routing_key": {"type": "string", "maxLength": 255, "description": "such as orders.# (topic); default \"\""},
          "exchange_kind": {"enum": ["direct", "fanout", "topic", "headers"],
            "description": "declare the exchange (durable) when missing, of this kind; without it the exchange must exist"}
        }}},
    "prefetch": {"type": "integer", "minimum": 1, "maximum": 1024, "description": "messages delivered and not yet acknowledged at most; default 16"},
    "consumer_tag": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$", "description": "default: one the client makes up"},
    "connect_timeout": {"type": "string", "description": "bound of the TCP, TLS and AMQP handshakes; default 10s"}
  }
}`,
		New: newAMQP,
	})
}

// AMQP bounds.
const (
	amqpDefaultPrefetch = 16
	amqpDefaultTimeout  = 10 * time.Second
	amqpMaxTimeout      = 2 * time.Minute
	// amqpCloseWait bounds the close handshake, so a broker gone silent cannot hold Run.
	amqpCloseWait = 2 * time.Second
)

type amqpConfig struct {
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
	Queue    string `json:"queue"`
	Declare  *struct {
		Durable    *bool                      `json:"durable"`
		Exclusive  bool                       `json:"exclusive"`
		AutoDelete bool                       `json:"auto_delete"`
		Arguments  map[string]json.RawMessage `json:"arguments"`
	} `json:"declare"`
	Bindings []struct {
		Exchange     string `json:"exchange"`
		RoutingKey   string `json:"routing_key"`
		ExchangeKind string `json:"exchange_kind"`
	} `json:"bindings"`
	Prefetch       int    `json:"prefetch"`
	ConsumerTag    string `json:"consumer_tag"`
	ConnectTimeout string `json:"connect_timeout"`
}

type amqpSource struct {
	cfg      amqpConfig
	dialURL  string // without credentials: they go in auth
	shownURL string // what errors say: no password, ever
	auth     *amqp.PlainAuth
	args     amqp.Table
	timeout  time.Duration
	lagProbe
}

func newAMQP(raw json.RawMessage) (Source, error) {
	var cfg amqpConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	s := &amqpSource{cfg: cfg, timeout: amqpDefaultTimeout}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Error repeats the URL, password and all: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &solution.FieldError{Field: "config.url", Reason: "not a URL: " + err.Error()}
	}
	switch {
	case u.Scheme != "amqp" && u.Scheme != "amqps":
		return nil, &solution.FieldError{Field: "config.url", Reason: "want amqp://host[:port][/vhost] or amqps://…"}
	case u.Hostname() == "":
		return nil, &solution.FieldError{Field: "config.url", Reason: "no host"}
	case u.RawQuery != "" || u.Fragment != "":
		// Query parameters name local files (certfile, keyfile) and auth mechanisms: not
		// something a connector's config may reach.
		return nil, &solution.FieldError{Field: "config.url", Reason: "query parameters and fragments are not taken"}
	}
	user, pass := "guest", "guest" // RabbitMQ's, as amqp URIs default to
	if u.User != nil {
		if cfg.Username != "" || cfg.Password != "" {
			return nil, &solution.FieldError{Field: "config.username", Reason: "credentials are in the url already; give them in one place"}
		}
		user = u.User.Username()
		pass, _ = u.User.Password()
	} else if cfg.Username != "" {
		user, pass = cfg.Username, cfg.Password
	} else if cfg.Password != "" {
		return nil, &solution.FieldError{Field: "config.password", Reason: "a password without a username"}
	}
	s.auth = &amqp.PlainAuth{Username: user, Password: pass}
	u.User = nil
	s.dialURL = u.String()
	s.shownURL = (&url.URL{Scheme: u.Scheme, User: url.User(user), Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
	if cfg.ConnectTimeout != "" {
		d, err := time.ParseDuration(cfg.ConnectTimeout)
		if err != nil || d < time.Second || d > amqpMaxTimeout {
			return nil, &solution.FieldError{Field: "config.connect_timeout", Reason: fmt.Sprintf("%q: want a duration between 1s and %s, such as 10s", cfg.ConnectTimeout, amqpMaxTimeout)}
		}
		s.timeout = d
	}
	if s.cfg.Prefetch == 0 {
		s.cfg.Prefetch = amqpDefaultPrefetch
	}
	if d := cfg.Declare; d != nil {
		// The broker refuses to declare amq.* names; better said now than on every run.
		if strings.HasPrefix(cfg.Queue, "amq.") {
			return nil, &solution.FieldError{Field: "config.queue", Reason: "names starting amq. are the broker's: not declared"}
		}
		s.args = amqp.Table{}
		for k, v := range d.Arguments {
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			var x any
			if err := dec.Decode(&x); err != nil {
				return nil, &solution.FieldError{Field: "config.declare.arguments." + k, Reason: err.Error()}
			}
			if n, ok := x.(json.Number); ok {
				// x-message-ttl, x-max-length and the like are integers to the broker.
				if i, err := n.Int64(); err == nil {
					x = i
				} else if x, err = n.Float64(); err != nil {
					return nil, &solution.FieldError{Field: "config.declare.arguments." + k, Reason: err.Error()}
				}
			}
			s.args[k] = x
		}
		if err := s.args.Validate(); err != nil {
			return nil, &solution.FieldError{Field: "config.declare.arguments", Reason: err.Error()}
		}
	}
	for i, b := range cfg.Bindings {
		if b.ExchangeKind != "" && strings.HasPrefix(b.Exchange, "amq.") {
			return nil, &solution.FieldError{Field: fmt.Sprintf("config.bindings.%d.exchange_kind", i), Reason: "exchanges named amq.* are the broker's: not declared"}
		}
	}
	return s, nil
}

// Run consumes the queue until ctx ends or the connection or channel closes. Deliveries are
// acknowledged only once Publish stored them; whatever is unacknowledged when the
// connection goes is delivered again by the broker.
func (s *amqpSource) Run(ctx context.Context, sink Sink, _ Checkpoint) error {
	conn, err := s.dial(ctx)
	if err != nil || conn == nil {
		return err
	}
	defer conn.CloseDeadline(time.Now().Add(amqpCloseWait)) //nolint:errcheck // going anyway
	// Closing the connection when ctx ends unblocks any call waiting on the broker.
	stop := context.AfterFunc(ctx, func() { conn.CloseDeadline(time.Now().Add(amqpCloseWait)) }) //nolint:errcheck // going anyway
	defer stop()
	fail := func(what string, err error) error {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("amqp %s: %s: %w", s.shownURL, what, err)
	}
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		return fail("open channel", err)
	}
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Qos(s.cfg.Prefetch, 0, false); err != nil {
		return fail("set prefetch", err)
	}
	if err := s.topology(ch); err != nil {
		return fail("queue "+s.cfg.Queue, err)
	}
	s.setLag(func(context.Context) (uint64, bool) { return s.lag(conn) })
	defer s.setLag(nil)
	cancelled := ch.NotifyCancel(make(chan string, 1))
	deliveries, err := ch.Consume(s.cfg.Queue, s.cfg.ConsumerTag, false, false, false, false, nil)
	if err != nil {
		return fail("consume queue "+s.cfg.Queue, err)
	}
	ready(sink)
	batch := make([]amqp.Delivery, 0, s.cfg.Prefetch)
	msgs := make([]Message, 0, s.cfg.Prefetch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-connClosed:
			return fail("connection closed", amqpCloseReason(e))
		case e := <-chClosed:
			return fail("channel closed", amqpCloseReason(e))
		case <-cancelled:
			return fail("consumer of queue "+s.cfg.Queue, errAMQPCancelled)
		case d, ok := <-deliveries:
			if !ok {
				// The close notice may trail the end of the deliveries by a moment.
				t := time.NewTimer(time.Second)
				defer t.Stop()
				select {
				case e := <-connClosed:
					return fail("connection closed", amqpCloseReason(e))
				case e := <-chClosed:
					return fail("channel closed", amqpCloseReason(e))
				case <-cancelled:
					return fail("consumer of queue "+s.cfg.Queue, errAMQPCancelled)
				case <-t.C:
					return fail("consumer of queue "+s.cfg.Queue, errAMQPCancelled)
				}
			}
			// What is already here goes in one batch: at most prefetch, as the broker bounds.
			batch = append(batch[:0], d)
		more:
			for len(batch) < cap(batch) {
				select {
				case d, ok := <-deliveries:
					if !ok {
						break more
					}
					batch = append(batch, d)
				default:
					break more
				}
			}
			msgs = msgs[:0]
			for _, d := range batch {
				msgs = append(msgs, amqpMessage(d))
			}
			last := batch[len(batch)-1].DeliveryTag
			if err := sink.Publish(ctx, msgs); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				// Back to the queue, to come again once the sink works.
				ch.Nack(last, true, true) //nolint:errcheck // closing the connection requeues them too
				return err
			}
			// Every earlier delivery of the channel is acknowledged already: one ack for all.
			if err := ch.Ack(last, true); err != nil {
				return fail("ack", err)
			}
		}
	}
}

// lag is the queue's messages ready to be delivered (those delivered and not yet
// acknowledged are not counted), asked on a channel of its own: a failed passive declare
// closes the channel it was asked on.
func (s *amqpSource) lag(conn *amqp.Connection) (uint64, bool) {
	ch, err := conn.Channel()
	if err != nil {
		return 0, false
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(s.cfg.Queue, false, false, false, false, nil)
	if err != nil || q.Messages < 0 {
		return 0, false
	}
	return uint64(q.Messages), true
}

// guardedAMQPDial is amqp.DefaultDial through the run's dialer: the deadline it sets bounds
// the TLS and AMQP handshakes too (the client clears it once connected).
func guardedAMQPDial(ctx context.Context, timeout time.Duration) func(network, addr string) (net.Conn, error) {
	d := dialer(ctx, timeout)
	return func(network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
}

// dial connects within the connect timeout; nil, nil when ctx ended first.
func (s *amqpSource) dial(ctx context.Context) (*amqp.Connection, error) {
	return s.dialWithin(ctx, s.timeout)
}

// dialWithin is dial with a connect timeout of its own.
func (s *amqpSource) dialWithin(ctx context.Context, timeout time.Duration) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("switchboard connector")
	cfg := amqp.Config{
		SASL:       []amqp.Authentication{s.auth},
		Dial:       guardedAMQPDial(ctx, timeout),
		Heartbeat:  10 * time.Second,
		Properties: props,
	}
	type result struct {
		conn *amqp.Connection
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := amqp.DialConfig(s.dialURL, cfg)
		done <- result{c, err}
	}()
	select {
	case <-ctx.Done():
		go func() {
			if r := <-done; r.conn != nil {
				r.conn.CloseDeadline(time.Now().Add(amqpCloseWait)) //nolint:errcheck // nobody wants it
			}
		}()
		return nil, nil
	case r := <-done:
		if r.err == nil {
			return r.conn, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		var ae *amqp.Error
		if errors.As(r.err, &ae) && ae.Code == amqp.AccessRefused {
			return nil, fmt.Errorf("amqp %s: authentication refused for user %q: %w", s.shownURL, s.auth.Username, r.err)
		}
		return nil, fmt.Errorf("amqp %s: %w", s.shownURL, r.err)
	}
}

// topology checks or declares the queue, then the exchanges and bindings.
func (s *amqpSource) topology(ch *amqp.Channel) error {
	q := s.cfg.Queue
	if d := s.cfg.Declare; d != nil {
		durable := d.Durable == nil || *d.Durable
		if _, err := ch.QueueDeclare(q, durable, d.AutoDelete, d.Exclusive, false, s.args); err != nil {
			return fmt.Errorf("declare: %w", err)
		}
	} else if _, err := ch.QueueDeclarePassive(q, false, false, false, false, nil); err != nil {
		return fmt.Errorf("%w (config.declare creates it when missing)", err)
	}
	for _, b := range s.cfg.Bindings {
		if b.ExchangeKind != "" {
			if err := ch.ExchangeDeclare(b.Exchange, b.ExchangeKind, true, false, false, false, nil); err != nil {
				return fmt.Errorf("declare exchange %s: %w", b.Exchange, err)
			}
		}
		if err := ch.QueueBind(q, b.RoutingKey, b.Exchange, false, nil); err != nil {
			var ae *amqp.Error
			if errors.As(err, &ae) && ae.Code == amqp.NotFound {
				return fmt.Errorf("bind to exchange %s: %w (exchange_kind declares it when missing)", b.Exchange, err)
			}
			return fmt.Errorf("bind to exchange %s with key %q: %w", b.Exchange, b.RoutingKey, err)
		}
	}
	return nil
}

// amqpMessage is the message of a delivery: its message id dedupes a redelivery.
func amqpMessage(d amqp.Delivery) Message {
	m := Message{ID: d.MessageId, Data: d.Body, Subject: d.RoutingKey, Time: d.Timestamp}
	if d.ContentType != "" {
		if mt, _, err := mime.ParseMediaType(d.ContentType); err == nil {
			m.ContentType = mt
		} else {
			m.ContentType = d.ContentType
		}
	}
	ext := map[string]string{}
	for name, v := range map[string]string{
		"amqpexchange":      d.Exchange,
		"amqpcorrelationid": d.CorrelationId,
		"amqptype":          d.Type,
		"amqpappid":         d.AppId,
	} {
		if v != "" {
			ext[name] = v
		}
	}
	if len(ext) > 0 {
		m.Extensions = ext
	}
	return m
}

var errAMQPCancelled = errors.New("cancelled by the broker (queue deleted?)")

// amqpCloseReason is the error a close notification carries; nil is a close without one.
func amqpCloseReason(e *amqp.Error) error {
	if e == nil {
		return errors.New("closed without a reason")
	}
	return e
}
