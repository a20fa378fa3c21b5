package connector

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// smtp, outbound only: e-mail handed to a mail server (a submission port with STARTTLS, implicit
// TLS, or a plain local relay), one connection per message.
func init() {
	Register(Kind{Type: "smtp", Description: smtpDescription, Schema: smtpSchema, Secrets: []string{"password"}, OutOnly: true})
	RegisterOut(OutKind{
		Type:        "smtp",
		Description: smtpDescription,
		Secrets:     []string{"password"},
		To:          "recipient",
		Schema:      smtpSchema,
		New:         newSMTPSender,
	})
}

const smtpDescription = "Sends e-mail through an SMTP server (outbound only): data is {recipient, sender, subject, message}, as Kaa's email-notification automation gives it, sent as a text/plain UTF-8 message; the answer's id is its Message-ID."

const smtpSchema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["host"],
  "properties": {
    "host": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": "^[A-Za-z0-9._:-]+$", "description": "the mail server's name or address, without port; also the name its TLS certificate must have"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "default 587, or 465 with tls \"tls\""},
    "tls": {"enum": ["starttls", "tls", "none"], "description": "starttls (default): upgrade with STARTTLS, refusing a server without it; tls: TLS from the start (port 465); none: plain, for tests and local relays only"},
    "username": {"type": "string", "minLength": 1, "maxLength": 1024, "description": "log in with AUTH PLAIN as this user (needs password, and TLS)"},
    "password": {"type": "string", "minLength": 1, "maxLength": 1024},
    "from": {"type": "string", "minLength": 3, "maxLength": 998, "description": "the sender of a message whose data gives none, such as Alerts <alerts@example.com>"},
    "helo": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": "^[A-Za-z0-9.:\\[\\]-]+$", "description": "the name the hub gives itself in EHLO; default localhost"},
    "max_recipients": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "the most recipients of one message; default 50"},
    ` + OutCommonSchema + `
  }
}`

// Defaults and bounds of an smtp connector.
const (
	smtpDefaultMaxRecipients = 50
	smtpConnectTimeout       = 10 * time.Second
	// smtpConns bounds the connections one sender has open at once: SMTP sends one message
	// at a time per connection, and a mail server limits its clients' connections.
	smtpConns = 4
)

type smtpOutConfig struct {
	Host          string `json:"host"`
	Port          int    `json:"port"`
	TLS           string `json:"tls"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	From          string `json:"from"`
	HELO          string `json:"helo"`
	MaxRecipients int    `json:"max_recipients"`
}

type smtpSender struct {
	cfg  smtpOutConfig
	addr string        // host:port
	from *mail.Address // nil without a config from
	// roots are the CAs a server's certificate is verified with; nil is the system's.
	roots *x509.CertPool
	sem   chan struct{} // a slot per connection open

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // open, of Sends under way
	sends  sync.WaitGroup
}

func newSMTPSender(raw json.RawMessage) (Sender, error) {
	var cfg smtpOutConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	if strings.Contains(cfg.Host, ":") && net.ParseIP(cfg.Host) == nil {
		return nil, &solution.FieldError{Field: "config.host", Reason: fmt.Sprintf("%q: a name or address without port (port is a field of its own)", clip(cfg.Host))}
	}
	if cfg.TLS == "" {
		cfg.TLS = "starttls"
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == "tls" {
			cfg.Port = 465
		}
	}
	if cfg.MaxRecipients == 0 {
		cfg.MaxRecipients = smtpDefaultMaxRecipients
	}
	switch {
	case cfg.Username != "" && cfg.Password == "":
		return nil, &solution.FieldError{Field: "config.password", Reason: "required with username"}
	case cfg.Password != "" && cfg.Username == "":
		return nil, &solution.FieldError{Field: "config.username", Reason: "required with password"}
	case cfg.Password != "" && cfg.TLS == "none":
		return nil, &solution.FieldError{Field: "config.password", Reason: "would cross the network in clear with tls none; use starttls or tls"}
	}
	s := &smtpSender{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), sem: make(chan struct{}, smtpConns), conns: map[net.Conn]struct{}{}}
	if cfg.From != "" {
		a, err := parseMailAddress(cfg.From)
		if err != nil {
			return nil, &solution.FieldError{Field: "config.from", Reason: err.Error()}
		}
		s.from = a
	}
	return s, nil
}

// Send hands m, an e-mail as JSON, to the server, over a connection of its own: greeting,
// TLS, login, envelope and message, then QUIT. A reply 5xx is permanent, 4xx is not.
func (s *smtpSender) Send(ctx context.Context, m Outgoing) (Receipt, error) {
	ml, err := parseMail(m, s.from, s.cfg.MaxRecipients)
	if err != nil {
		return Receipt{}, err
	}
	msg := ml.render(time.Now())
	if !s.begin() {
		return Receipt{}, errSenderClosed
	}
	defer s.sends.Done()
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return Receipt{}, fmt.Errorf("smtp %s: waiting for a connection: %w", s.addr, ctx.Err())
	}
	defer func() { <-s.sem }()
	reply, err := s.deliver(ctx, ml, msg)
	if err != nil {
		return Receipt{}, fmt.Errorf("smtp %s: %w", s.addr, classifySMTP(err))
	}
	r := Receipt{ID: ml.messageID, Fields: map[string]any{"recipients": len(ml.to)}}
	if reply != "" {
		r.Fields["reply"] = reply
	}
	return r, nil
}

// begin counts a Send in, unless the sender is closed.
func (s *smtpSender) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sends.Add(1)
	return true
}

// deliver runs one SMTP session for ml, within ctx; it answers the server's reply to the data.
func (s *smtpSender) deliver(ctx context.Context, ml *mailMessage, msg []byte) (string, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return "", err
	}
	if !s.track(conn) {
		conn.Close()
		return "", errSenderClosed
	}
	defer s.untrack(conn)
	// go-smtp bounds each command by a deadline of its own: ctx ends the session by closing
	// the connection under it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := s.session(conn)
	if err != nil {
		return "", ctxErr(ctx, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.CommandTimeout, c.SubmissionTimeout = time.Until(dl), time.Until(dl)
	}
	var opts *smtp.MailOptions
	if ml.utf8 {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(ml.from.Address, opts); err != nil {
		return "", ctxErr(ctx, fmt.Errorf("MAIL FROM: %w", err))
	}
	for _, to := range ml.to {
		if err := c.Rcpt(to.Address, nil); err != nil {
			return "", ctxErr(ctx, fmt.Errorf("RCPT TO <%s>: %w", to.Address, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", ctxErr(ctx, fmt.Errorf("DATA: %w", err))
	}
	if _, err := w.Write(msg); err != nil {
		return "", ctxErr(ctx, fmt.Errorf("DATA: %w", err))
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", ctxErr(ctx, fmt.Errorf("DATA: %w", err))
	}
	c.Quit() //nolint:errcheck // the server has the message; a QUIT unanswered changes nothing
	return resp.StatusText, nil
}

// dial connects through the guard of ctx, with TLS from the start for tls "tls".
func (s *smtpSender) dial(ctx context.Context) (net.Conn, error) {
	d := dialer(ctx, connectWithin(ctx, smtpConnectTimeout))
	if s.cfg.TLS == "tls" {
		return dialTLS(ctx, d, s.addr, s.tlsConfig())
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

// session greets the server over conn, upgrades it with STARTTLS and logs in, as the config says.
func (s *smtpSender) session(conn net.Conn) (*smtp.Client, error) {
	var c *smtp.Client
	if s.cfg.TLS == "starttls" {
		var err error
		if c, err = smtp.NewClientStartTLS(conn, s.tlsConfig()); err != nil {
			return nil, fmt.Errorf("STARTTLS: %w", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	if s.cfg.HELO != "" {
		if err := c.Hello(s.cfg.HELO); err != nil {
			return nil, fmt.Errorf("EHLO: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return nil, fmt.Errorf("AUTH PLAIN as %s: %w", s.cfg.Username, err)
		}
	}
	return c, nil
}

func (s *smtpSender) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.cfg.Host, RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

func (s *smtpSender) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[conn] = struct{}{}
	return true
}

func (s *smtpSender) untrack(conn net.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
	conn.Close()
}

// ctxErr is err, or the end of ctx when that is why the connection was closed under it.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// classifySMTP marks what another attempt would not mend: a 5xx reply, a certificate not
// trusted, a server lacking what the config needs (STARTTLS, SMTPUTF8). A 4xx reply and a
// lost or silent connection are worth another attempt.
func classifySMTP(err error) error {
	var (
		se   *smtp.SMTPError
		cert *tls.CertificateVerificationError
		hdr  tls.RecordHeaderError
		ne   net.Error
	)
	switch {
	case errors.As(err, &se):
		if se.Temporary() {
			return err
		}
		return permanent(err)
	case errors.As(err, &cert), errors.As(err, &hdr):
		return permanent(err)
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, net.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return err
	}
	return permanent(err) // go-smtp's own refusals: no STARTTLS, no SMTPUTF8, a malformed reply
}

// Close closes the connections of the Sends under way and waits for them to return.
func (s *smtpSender) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.sends.Wait()
	return nil
}
