package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/switchboardhq/switchboard/internal/servicenet"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Directions of a connector: "in" brings a source's messages in as events (what a connector
// was before outbound ones); "out" publishes what scripts give Outbound.publish.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// Outgoing is one message a script publishes through an outbound connector.
type Outgoing struct {
	// To is where it goes: a NATS subject, an MQTT topic, an AMQP routing key, a Redis stream
	// key, a Kafka topic; "" is the connector's default.
	To string
	// Key is a Kafka record's key ("" none).
	Key string
	// Data is the payload, sent as it is.
	Data []byte
	// ContentType says what Data is, where the broker carries it ("" says nothing).
	ContentType string
	// Headers go as the broker's headers (NATS headers, MQTT 5 user properties, AMQP headers,
	// Kafka record headers, fields of a Redis entry).
	Headers map[string]string
	// QoS is an MQTT publish's QoS; nil is the connector's.
	QoS *int
	// Retain is an MQTT publish's retain flag; nil is the connector's.
	Retain *bool
	// ID names the message where the broker carries an id (Nats-Msg-Id, message_id, an MQTT 5
	// user property): the same on every attempt, so that a message sent twice is known as one.
	ID string
}

// Receipt is what the broker said of a message it took.
type Receipt struct {
	// ID is the message's id where there is one: the one it was sent with, or the one the
	// broker gave it (a Redis entry id, a Kafka topic/partition/offset).
	ID string
	// Fields are more of the broker's answer, such as a JetStream stream and sequence.
	Fields map[string]any
}

// Sender publishes the messages of one outbound connector on one instance, over a connection
// it opens on first use and opens anew after losing it. Send and Close may be called at once
// from several goroutines; Send after Close fails.
type Sender interface {
	// Send publishes m and returns once the broker has it, as the type promises (a JetStream
	// ack, a PUBACK or PUBCOMP, a publisher confirm, an XADD's id, a produce acknowledged by
	// every in-sync replica), or with why not. An error another attempt would not mend is
	// marked permanent; an argument the connector cannot take is an *ArgError.
	Send(ctx context.Context, m Outgoing) (Receipt, error)
	// Close closes the connection, if open.
	Close() error
}

// OutKind is what a connector type does as an outbound connector (direction "out"). A type
// registered without one cannot publish.
type OutKind struct {
	Type        string
	Description string
	// Schema is the JSON Schema (draft 2020-12) of the outbound config; it lists the common
	// fields timeout and retry with OutCommonSchema.
	Schema string
	// Secrets are fields of the outbound config (top-level) never shown back.
	Secrets []string
	// To is the argument of Outbound.publish saying where a message goes: subject, topic,
	// routing_key or stream.
	To string
	// Args are the other arguments of Outbound.publish it takes, besides connector and data.
	Args []string
	// New makes the sender of a config that passed Schema; it refuses what the schema cannot
	// say with a *solution.FieldError naming the field under "config". It connects nowhere.
	New func(cfg json.RawMessage) (Sender, error)

	schema *jsonschema.Schema
}

var (
	outKindsMu sync.RWMutex
	outKinds   = map[string]*OutKind{}
)

// RegisterOut makes a connector type able to publish. It is kept apart from Register so that
// the two may come from different files in any order; a type given twice, or a schema that
// does not compile, is a programming error.
func RegisterOut(k OutKind) {
	s, err := compileSchema(k.Type+"/out", k.Schema)
	if err != nil {
		panic(fmt.Sprintf("outbound connector type %s: %v", k.Type, err))
	}
	k.schema = s
	outKindsMu.Lock()
	defer outKindsMu.Unlock()
	if _, dup := outKinds[k.Type]; dup {
		panic("outbound connector type " + k.Type + " registered twice")
	}
	outKinds[k.Type] = &k
}

// OutKindOf is what type t does as an outbound connector; false when it cannot publish.
func OutKindOf(t string) (OutKind, bool) {
	outKindsMu.RLock()
	defer outKindsMu.RUnlock()
	k, ok := outKinds[t]
	if !ok {
		return OutKind{}, false
	}
	return *k, true
}

// OutTypes are the names of the types that can publish, sorted.
func OutTypes() []string {
	outKindsMu.RLock()
	defer outKindsMu.RUnlock()
	return slices.Sorted(maps.Keys(outKinds))
}

// Takes reports whether Outbound.publish of this type takes argument arg.
func (k OutKind) Takes(arg string) bool {
	return arg == "connector" || arg == "data" || arg == k.To || slices.Contains(k.Args, arg)
}

// Arguments are the arguments Outbound.publish of this type takes, connector and data first.
func (k OutKind) Arguments() []string {
	return append([]string{"connector", "data", k.To}, k.Args...)
}

// validate checks cfg against the outbound schema; the error names the place under "config".
func (k OutKind) validate(cfg json.RawMessage) error {
	return Kind{schema: k.schema}.validate(cfg)
}

// OutCommonSchema are the JSON Schema properties every outbound config has, for the types'
// schemas to include (each ends its properties with it).
const OutCommonSchema = `"timeout": {"type": "string", "description": "how long one Outbound.publish may take, attempts and waits between them included, such as 5s; at most 30s, and never beyond the calling script's own deadline; default 5s"},
    "retry": {"type": "object", "additionalProperties": false,
      "description": "attempts again after a failed connection or a timeout, within timeout; a message the broker refused is not sent again",
      "properties": {
        "attempts": {"type": "integer", "minimum": 1, "maximum": 10, "description": "attempts in all, the first included; default 3"},
        "backoff": {"type": "string", "description": "the wait before the second attempt, doubling before each next one, such as 200ms; default 200ms"}
      }}`

// Bounds and defaults of every outbound connector.
const (
	outDefaultTimeout  = 5 * time.Second
	outMaxTimeout      = 30 * time.Second
	outDefaultAttempts = 3
	outMaxAttempts     = 10
	outDefaultBackoff  = 200 * time.Millisecond
	outMaxBackoff      = 10 * time.Second
	// outMinAttemptTime is the least an attempt is given when more than that is left: a
	// connection and an acknowledgement take a few round trips.
	outMinAttemptTime = time.Second
)

// outCommon is the common part of an outbound config.
type outCommon struct {
	Timeout  time.Duration
	Attempts int
	Backoff  time.Duration
}

func parseOutCommon(raw json.RawMessage) (outCommon, error) {
	var cfg struct {
		Timeout string `json:"timeout"`
		Retry   *struct {
			Attempts int    `json:"attempts"`
			Backoff  string `json:"backoff"`
		} `json:"retry"`
	}
	c := outCommon{Timeout: outDefaultTimeout, Attempts: outDefaultAttempts, Backoff: outDefaultBackoff}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return c, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	if cfg.Timeout != "" {
		d, err := time.ParseDuration(cfg.Timeout)
		if err != nil || d < 100*time.Millisecond || d > outMaxTimeout {
			return c, &solution.FieldError{Field: "config.timeout", Reason: fmt.Sprintf("%q: want a duration between 100ms and %s, such as 5s", cfg.Timeout, outMaxTimeout)}
		}
		c.Timeout = d
	}
	if r := cfg.Retry; r != nil {
		if r.Attempts != 0 {
			if r.Attempts < 1 || r.Attempts > outMaxAttempts {
				return c, &solution.FieldError{Field: "config.retry.attempts", Reason: fmt.Sprintf("want 1 to %d", outMaxAttempts)}
			}
			c.Attempts = r.Attempts
		}
		if r.Backoff != "" {
			d, err := time.ParseDuration(r.Backoff)
			if err != nil || d < time.Millisecond || d > outMaxBackoff {
				return c, &solution.FieldError{Field: "config.retry.backoff", Reason: fmt.Sprintf("%q: want a duration between 1ms and %s, such as 200ms", r.Backoff, outMaxBackoff)}
			}
			c.Backoff = d
		}
	}
	return c, nil
}

// checkOut is what Check refuses of an outbound connector's type and config.
func checkOut(c Connector) error {
	if c.Topic != "" {
		return &solution.FieldError{Field: "topic", Reason: "an outbound connector (direction out) has no topic: scripts say where each message goes"}
	}
	k, ok := OutKindOf(c.Type)
	if !ok {
		return &solution.FieldError{Field: "direction", Reason: fmt.Sprintf("a %s connector cannot publish; direction out is for %s", c.Type, strings.Join(OutTypes(), ", "))}
	}
	if err := k.validate(c.Config); err != nil {
		return err
	}
	if _, err := parseOutCommon(c.Config); err != nil {
		return err
	}
	s, err := k.New(c.Config)
	if err != nil {
		return err
	}
	return s.Close()
}

// ArgError is an argument of Outbound.publish the connector cannot take.
type ArgError struct {
	Arg    string
	Reason string
}

func (e *ArgError) Error() string { return e.Arg + ": " + e.Reason }

// permanentError is a failure another attempt would not mend: the broker refused the message
// or the address.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent marks err as not worth another attempt.
func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// isPermanent reports whether another attempt would not mend err.
func isPermanent(err error) bool {
	var (
		p   *permanentError
		a   *ArgError
		den *servicenet.DeniedError
	)
	return errors.As(err, &p) || errors.As(err, &a) || errors.As(err, &den) || errors.Is(err, errSenderClosed)
}

// errSenderClosed is a Send after Close: the connector changed or went meanwhile.
var errSenderClosed = errors.New("the connector changed or was deleted meanwhile")

// Bounds of a message's headers, whatever the type.
const (
	MaxOutHeaders          = 32
	maxOutHeaderNameBytes  = 128
	maxOutHeaderValueBytes = 4096
	maxOutContentTypeBytes = 256
	maxOutKeyBytes         = 1024
)

// checkOutgoing refuses what no broker should be given: data over MaxMessageBytes, headers
// beyond their bounds or able to break a protocol's framing (CR, LF, NUL).
func checkOutgoing(m Outgoing) error {
	if len(m.Data) > MaxMessageBytes {
		return &ArgError{Arg: "data", Reason: fmt.Sprintf("%d bytes, larger than %d", len(m.Data), MaxMessageBytes)}
	}
	if len(m.Headers) > MaxOutHeaders {
		return &ArgError{Arg: "headers", Reason: fmt.Sprintf("%d of them, more than %d", len(m.Headers), MaxOutHeaders)}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		if name == "" || len(name) > maxOutHeaderNameBytes || !headerToken(name) {
			return &ArgError{Arg: "headers", Reason: fmt.Sprintf("name %q: want 1 to %d letters, digits or !#$%%&'*+-.^_`|~", clip(name), maxOutHeaderNameBytes)}
		}
		v := m.Headers[name]
		if len(v) > maxOutHeaderValueBytes || !utf8.ValidString(v) || strings.ContainsAny(v, "\r\n\x00") {
			return &ArgError{Arg: "headers." + name, Reason: fmt.Sprintf("want UTF-8 text of at most %d bytes, without line breaks or NUL", maxOutHeaderValueBytes)}
		}
	}
	if len(m.ContentType) > maxOutContentTypeBytes || strings.ContainsAny(m.ContentType, "\r\n\x00") || !utf8.ValidString(m.ContentType) {
		return &ArgError{Arg: "content_type", Reason: fmt.Sprintf("want a media type such as application/json, at most %d bytes", maxOutContentTypeBytes)}
	}
	if len(m.Key) > maxOutKeyBytes {
		return &ArgError{Arg: "key", Reason: fmt.Sprintf("%d bytes, more than %d", len(m.Key), maxOutKeyBytes)}
	}
	return nil
}

// headerToken reports whether s is an HTTP token: what every broker takes as a header name.
func headerToken(s string) bool {
	return asciiWord(s, "!#$%&'*+-.^_`|~")
}

// asciiWord reports whether s has only ASCII letters, digits and bytes of punct.
func asciiWord(s, punct string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(punct, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// destination is where m goes: its To, else the connector's default; arg names it in errors.
func destination(m Outgoing, def, arg string) (string, error) {
	if m.To != "" {
		return m.To, nil
	}
	if def == "" {
		return "", &ArgError{Arg: arg, Reason: "required: the connector's config has no default " + arg}
	}
	return def, nil
}
