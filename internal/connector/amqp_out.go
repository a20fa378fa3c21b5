package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// amqp, outbound: publishes to an exchange of an AMQP 0-9-1 broker (RabbitMQ) with publisher
// confirms, persistent by default, unroutable messages refused (mandatory) by default.
func init() {
	RegisterOut(OutKind{
		Type:        "amqp",
		Description: "Publishes to an exchange of an AMQP 0-9-1 broker (RabbitMQ) with a routing key, persistent, awaiting the broker's publisher confirm; a message no queue is bound for is refused (mandatory), unless mandatory is false.",
		Secrets:     []string{"url", "password"},
		To:          "routing_key",
		Args:        []string{"headers", "content_type"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["url"],
  "properties": {
    "url": {"type": "string", "minLength": 1, "maxLength": 2048,
      "description": "amqp://[user:password@]host[:port][/vhost] or amqps://…; a vhost of / is written %2f"},
    "username": {"type": "string", "minLength": 1, "maxLength": 255, "description": "instead of the user in the url"},
    "password": {"type": "string", "maxLength": 1024, "description": "instead of the password in the url"},
    "exchange": {"type": "string", "maxLength": 255, "description": "the exchange messages go to; default \"\", the default exchange, where the routing key names a queue"},
    "exchange_kind": {"enum": ["direct", "fanout", "topic", "headers"], "description": "declare the exchange (durable) when missing, of this kind; without it the exchange must exist"},
    "routing_key": {"type": "string", "maxLength": 255, "description": "the routing key of a publish that gives none"},
    "mandatory": {"type": "boolean", "description": "refuse a message no queue is bound for (the broker returns it) rather than have the broker drop it; default true"},
    "persistent": {"type": "boolean", "description": "delivery mode 2: kept on disk by durable queues; default true"},
    "connect_timeout": {"type": "string", "description": "bound of the TCP, TLS and AMQP handshakes, within timeout; default 10s"},
    ` + OutCommonSchema + `
  }
}`,
		New: newAMQPSender,
	})
}

type amqpOutConfig struct {
	URL            string `json:"url"`
	Username       string `json:"username"`
	Password       string `json:"password"`
	Exchange       string `json:"exchange"`
	ExchangeKind   string `json:"exchange_kind"`
	RoutingKey     string `json:"routing_key"`
	Mandatory      *bool  `json:"mandatory"`
	Persistent     *bool  `json:"persistent"`
	ConnectTimeout string `json:"connect_timeout"`
}

// amqpMaxReturned bounds the returned messages a link remembers for their publishers.
const amqpMaxReturned = 1024

type amqpSender struct {
	cfg        amqpOutConfig
	src        *amqpSource // the URL, credentials and timeout, read as an inbound connector reads them
	mandatory  bool
	persistent bool
	conn       *lazyConn[*amqpLink]
}

func newAMQPSender(raw json.RawMessage) (Sender, error) {
	var cfg amqpOutConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	// The connection's settings are an inbound connector's: read them so, with a queue for
	// form's sake.
	in, _ := json.Marshal(map[string]any{"url": cfg.URL, "username": cfg.Username, "password": cfg.Password,
		"queue": "-", "connect_timeout": cfg.ConnectTimeout})
	src, err := newAMQP(in)
	if err != nil {
		return nil, err
	}
	if cfg.ExchangeKind != "" {
		switch {
		case cfg.Exchange == "":
			return nil, &solution.FieldError{Field: "config.exchange_kind", Reason: "the default exchange (\"\") is the broker's: not declared"}
		case len(cfg.Exchange) > 4 && cfg.Exchange[:4] == "amq.":
			return nil, &solution.FieldError{Field: "config.exchange_kind", Reason: "exchanges named amq.* are the broker's: not declared"}
		}
	}
	s := &amqpSender{cfg: cfg, src: src.(*amqpSource), mandatory: true, persistent: true}
	if cfg.Mandatory != nil {
		s.mandatory = *cfg.Mandatory
	}
	if cfg.Persistent != nil {
		s.persistent = *cfg.Persistent
	}
	s.conn = newLazyConn(s.open, func(l *amqpLink) { l.conn.CloseDeadline(time.Now().Add(amqpCloseWait)) }) //nolint:errcheck // going anyway
	return s, nil
}

// amqpLink is a connection and its channel in confirm mode.
type amqpLink struct {
	conn    *amqp.Connection
	ch      *amqp.Channel
	closed  chan *amqp.Error // the channel's close notice
	returns chan amqp.Return

	mu       sync.Mutex
	reason   *amqp.Error
	returned map[string]amqp.Return // by message id, until its publisher looks
}

// closeReason is why the channel closed, nil while it is open (or closed without a reason).
func (l *amqpLink) closeReason() *amqp.Error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reason == nil {
		select {
		case e, ok := <-l.closed:
			if ok {
				l.reason = e
			}
		default:
		}
	}
	return l.reason
}

// returnOf is the broker's return of message id, if it returned it. The broker sends a
// return before the message's confirm, and the client hands it over before it resolves the
// confirm: after the confirm, a return is here or in the channel.
func (l *amqpLink) returnOf(id string) (amqp.Return, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drainLocked()
	r, ok := l.returned[id]
	delete(l.returned, id)
	return r, ok
}

func (l *amqpLink) drain() {
	l.mu.Lock()
	l.drainLocked()
	l.mu.Unlock()
}

func (l *amqpLink) drainLocked() {
	for {
		select {
		case r, ok := <-l.returns:
			if !ok {
				return
			}
			if len(l.returned) >= amqpMaxReturned {
				clear(l.returned) // of publishers long gone (timed out)
			}
			l.returned[r.MessageId] = r
		default:
			return
		}
	}
}

func (s *amqpSender) open(ctx context.Context) (*amqpLink, error) {
	conn, err := s.src.dialWithin(ctx, connectWithin(ctx, s.src.timeout))
	if err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.FrameError && strings.Contains(ae.Reason, "i/o timeout") {
			// The client reports a handshake past its deadline as a frame error.
			return nil, fmt.Errorf("amqp %s: the broker did not answer the handshake: %w", s.src.shownURL, os.ErrDeadlineExceeded)
		}
		return nil, err
	}
	if conn == nil {
		return nil, fmt.Errorf("amqp %s: %w", s.src.shownURL, ctx.Err())
	}
	fail := func(what string, err error) (*amqpLink, error) {
		conn.CloseDeadline(time.Now().Add(amqpCloseWait)) //nolint:errcheck // going anyway
		return nil, fmt.Errorf("amqp %s: %s: %w", s.src.shownURL, what, amqpOutError(err))
	}
	ch, err := conn.Channel()
	if err != nil {
		return fail("open channel", err)
	}
	if err := ch.Confirm(false); err != nil {
		return fail("confirm mode", err)
	}
	if s.cfg.ExchangeKind != "" {
		if err := ch.ExchangeDeclare(s.cfg.Exchange, s.cfg.ExchangeKind, true, false, false, false, nil); err != nil {
			return fail("declare exchange "+s.cfg.Exchange, err)
		}
	}
	l := &amqpLink{conn: conn, ch: ch, returned: map[string]amqp.Return{}}
	l.closed = ch.NotifyClose(make(chan *amqp.Error, 1))
	// Buffered, and drained by every publish: the client waits a while for room, then drops.
	l.returns = ch.NotifyReturn(make(chan amqp.Return, 256))
	return l, nil
}

// amqpOutError marks the broker's refusals that another attempt would meet again.
func amqpOutError(err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Server {
		switch ae.Code {
		case amqp.NotFound, amqp.AccessRefused, amqp.PreconditionFailed, amqp.NotAllowed, amqp.ResourceLocked:
			return permanent(err)
		}
	}
	return err
}

// Send publishes m to the exchange with its routing key and waits for the broker's confirm.
func (s *amqpSender) Send(ctx context.Context, m Outgoing) (Receipt, error) {
	key := m.To
	if key == "" {
		key = s.cfg.RoutingKey // "" is a routing key too (fanout, headers)
	}
	if len(key) > 255 {
		return Receipt{}, &ArgError{Arg: "routing_key", Reason: "longer than 255 bytes"}
	}
	pub := amqp.Publishing{
		Body: m.Data, ContentType: m.ContentType, MessageId: m.ID, AppId: "switchboard",
		Timestamp: time.Now().UTC().Truncate(time.Second), DeliveryMode: amqp.Transient,
	}
	if s.persistent {
		pub.DeliveryMode = amqp.Persistent
	}
	if len(m.Headers) > 0 {
		pub.Headers = amqp.Table{}
		for k, v := range m.Headers {
			pub.Headers[k] = v
		}
	}
	l, gen, err := s.conn.get(ctx)
	if err == nil && (l.ch.IsClosed() || l.conn.IsClosed()) {
		s.conn.drop(gen)
		l, gen, err = s.conn.get(ctx)
	}
	if err != nil {
		return Receipt{}, err
	}
	where := fmt.Sprintf("amqp %s: publish to exchange %q with routing key %q", s.src.shownURL, s.cfg.Exchange, key)
	l.drain()
	dc, err := l.ch.PublishWithDeferredConfirmWithContext(ctx, s.cfg.Exchange, key, s.mandatory, false, pub)
	if err != nil {
		if r := l.closeReason(); r != nil {
			err = r
		}
		s.conn.drop(gen)
		return Receipt{}, fmt.Errorf("%s: %w", where, amqpOutError(err))
	}
	acked, err := dc.WaitContext(ctx)
	if err != nil {
		// A broker that does not confirm in time may be behind a half-open connection: the
		// next attempt connects anew.
		s.conn.drop(gen)
		return Receipt{}, fmt.Errorf("%s: waiting for the confirm: %w", where, err)
	}
	if !acked {
		if r := l.closeReason(); r != nil {
			// The broker closed the channel (an exchange that does not exist, say).
			s.conn.drop(gen)
			return Receipt{}, fmt.Errorf("%s: %w", where, amqpOutError(r))
		}
		return Receipt{}, fmt.Errorf("%s: the broker did not take it (nack)", where)
	}
	if r, ok := l.returnOf(m.ID); ok {
		return Receipt{}, permanent(fmt.Errorf("%s: unroutable, no queue is bound for it (%d %s)", where, r.ReplyCode, r.ReplyText))
	}
	return Receipt{ID: m.ID}, nil
}

func (s *amqpSender) Close() error {
	s.conn.close()
	return nil
}
