package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// nats, outbound: core NATS publishes (confirmed by a round trip to the server), or JetStream
// publishes awaiting the stream's ack.
func init() {
	RegisterOut(OutKind{
		Type:        "nats",
		Description: "Publishes to NATS subjects: core NATS (at most once; the server has it once a round trip to it returns), or JetStream, awaiting the stream's ack, with the message id as Nats-Msg-Id so that the stream stores a message sent again once.",
		Secrets:     []string{"token", "password"},
		To:          "subject",
		Args:        []string{"headers", "content_type"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["url"],
  "properties": {
    "url": {"type": "string", "pattern": "^(nats|tls|ws|wss)://", "maxLength": 1024, "description": "the server, such as nats://127.0.0.1:4222; several separated by commas"},
    "token": {"type": "string", "maxLength": 1024},
    "user": {"type": "string", "maxLength": 256},
    "password": {"type": "string", "maxLength": 1024},
    "subject": {"type": "string", "minLength": 1, "maxLength": 255, "description": "where a publish goes when it names no subject"},
    "jetstream": {"type": "boolean", "description": "publish to JetStream and wait for the ack of the stream taking the subject; default false (core NATS)"},
    "expect_stream": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "with jetstream: the stream that must take the message, else it is refused"},
    "connect_timeout": {"type": "string", "description": "how long connecting may take, within timeout; default 5s"},
    ` + OutCommonSchema + `
  }
}`,
		New: newNATSSender,
	})
}

type natsOutConfig struct {
	URL            string `json:"url"`
	Token          string `json:"token"`
	User           string `json:"user"`
	Password       string `json:"password"`
	Subject        string `json:"subject"`
	JetStream      bool   `json:"jetstream"`
	ExpectStream   string `json:"expect_stream"`
	ConnectTimeout string `json:"connect_timeout"`
}

type natsSender struct {
	cfg     natsOutConfig
	shown   string // the URL without credentials, for errors
	connect time.Duration
	conn    *lazyConn[natsLink]
}

type natsLink struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func newNATSSender(raw json.RawMessage) (Sender, error) {
	var cfg natsOutConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	s := &natsSender{cfg: cfg, connect: 5 * time.Second, shown: natsShownURL(cfg.URL)}
	if cfg.ConnectTimeout != "" {
		d, err := time.ParseDuration(cfg.ConnectTimeout)
		if err != nil || d <= 0 || d > outMaxTimeout {
			return nil, &solution.FieldError{Field: "config.connect_timeout", Reason: fmt.Sprintf("%q: want a duration up to %s, such as 5s", cfg.ConnectTimeout, outMaxTimeout)}
		}
		s.connect = d
	}
	if cfg.Subject != "" {
		if err := checkNATSSubject(cfg.Subject); err != nil {
			return nil, &solution.FieldError{Field: "config.subject", Reason: err.Error()}
		}
	}
	if cfg.ExpectStream != "" && !cfg.JetStream {
		return nil, &solution.FieldError{Field: "config.expect_stream", Reason: "only with jetstream"}
	}
	s.conn = newLazyConn(s.open, func(l natsLink) { l.nc.Close() })
	return s, nil
}

// natsShownURL is the server list without credentials in its URLs.
func natsShownURL(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		} else {
			parts[i] = "(not a URL)"
		}
	}
	return strings.Join(parts, ",")
}

// checkNATSSubject refuses what NATS does not take as a subject to publish to.
func checkNATSSubject(s string) error {
	if len(s) > 255 {
		return errors.New("longer than 255 bytes")
	}
	for _, tok := range strings.Split(s, ".") {
		switch {
		case tok == "":
			return fmt.Errorf("%q: a subject is tokens separated by single dots, none empty", clip(s))
		case tok == "*" || tok == ">":
			return fmt.Errorf("%q: wildcards are for subscribing, not publishing", clip(s))
		case strings.IndexFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			return fmt.Errorf("%q: no spaces or control characters", clip(s))
		}
	}
	return nil
}

func (s *natsSender) open(ctx context.Context) (natsLink, error) {
	t := connectWithin(ctx, s.connect)
	opts := []nats.Option{
		nats.Name("switchboard outbound"), nats.Timeout(t), nats.NoReconnect(),
		nats.SetCustomDialer(dialer(ctx, t)),
	}
	if s.cfg.Token != "" {
		opts = append(opts, nats.Token(s.cfg.Token))
	}
	if s.cfg.User != "" {
		opts = append(opts, nats.UserInfo(s.cfg.User, s.cfg.Password))
	}
	nc, err := nats.Connect(s.cfg.URL, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
			err = permanent(err)
		}
		return natsLink{}, fmt.Errorf("nats %s: %w", s.shown, err)
	}
	l := natsLink{nc: nc}
	if s.cfg.JetStream {
		if l.js, err = jetstream.New(nc); err != nil {
			nc.Close()
			return natsLink{}, fmt.Errorf("nats %s: jetstream: %w", s.shown, err)
		}
	}
	return l, nil
}

// Send publishes m on its subject; with jetstream, it waits for the stream's ack.
func (s *natsSender) Send(ctx context.Context, m Outgoing) (Receipt, error) {
	subj, err := destination(m, s.cfg.Subject, "subject")
	if err != nil {
		return Receipt{}, err
	}
	if err := checkNATSSubject(subj); err != nil {
		return Receipt{}, &ArgError{Arg: "subject", Reason: err.Error()}
	}
	msg := &nats.Msg{Subject: subj, Data: m.Data, Header: nats.Header{}}
	msg.Header.Set(nats.MsgIdHdr, m.ID)
	if m.ContentType != "" {
		msg.Header.Set("Content-Type", m.ContentType)
	}
	for k, v := range m.Headers {
		msg.Header.Set(k, v)
	}
	l, gen, err := s.conn.get(ctx)
	if err == nil && !l.nc.IsConnected() {
		s.conn.drop(gen) // lost since: a new one
		l, gen, err = s.conn.get(ctx)
	}
	if err != nil {
		return Receipt{}, err
	}
	r := Receipt{ID: msg.Header.Get(nats.MsgIdHdr)}
	if s.cfg.JetStream {
		var opts []jetstream.PublishOpt
		if s.cfg.ExpectStream != "" {
			opts = append(opts, jetstream.WithExpectStream(s.cfg.ExpectStream))
		}
		ack, err := l.js.PublishMsg(ctx, msg, opts...)
		if err != nil {
			return Receipt{}, s.fail(l, gen, subj, err)
		}
		r.Fields = map[string]any{"stream": ack.Stream, "sequence": ack.Sequence, "duplicate": ack.Duplicate}
		return r, nil
	}
	if err := l.nc.PublishMsg(msg); err != nil {
		return Receipt{}, s.fail(l, gen, subj, err)
	}
	// The server has it once a ping sent after it is answered.
	if err := l.nc.FlushWithContext(ctx); err != nil {
		return Receipt{}, s.fail(l, gen, subj, err)
	}
	return r, nil
}

// fail is err of a publish to subj, marked permanent when the server refused the message,
// the connection dropped when lost or silent (a half-open connection looks alive until its
// pings go unanswered: the next attempt had better connect anew).
func (s *natsSender) fail(l natsLink, gen uint64, subj string, err error) error {
	if !l.nc.IsConnected() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		s.conn.drop(gen)
	}
	var api *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		err = permanent(fmt.Errorf("no JetStream stream takes subject %s", subj))
	case errors.As(err, &api), errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrBadHeaderMsg):
		err = permanent(err)
	}
	return fmt.Errorf("nats %s: publish to %s: %w", s.shown, subj, err)
}

func (s *natsSender) Close() error {
	s.conn.close()
	return nil
}
