package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// nats: messages of core NATS subjects (at most once, as core NATS delivers them), or of a
// JetStream consumer (acknowledged once stored), on any NATS server.
func init() {
	Register(Kind{
		Type:        "nats",
		Dials:       true,
		Description: "Messages of core NATS subjects (wildcards, a queue group) or of a durable JetStream consumer, from any NATS server.",
		Secrets:     []string{"token", "password"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["url"],
  "properties": {
    "url": {"type": "string", "pattern": "^(nats|tls|ws|wss)://", "maxLength": 1024, "description": "the server, such as nats://127.0.0.1:4222; several separated by commas"},
    "token": {"type": "string", "maxLength": 1024},
    "user": {"type": "string", "maxLength": 256},
    "password": {"type": "string", "maxLength": 1024},
    "subjects": {"type": "array", "minItems": 1, "maxItems": 16, "items": {"type": "string", "minLength": 1, "maxLength": 255},
      "description": "core NATS: the subjects to subscribe to (wildcards * and >); a message missed while the connector is down is not sent again"},
    "queue": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "core NATS: a queue group, so that several subscribers share the messages"},
    "jetstream": {
      "type": "object", "additionalProperties": false, "required": ["stream", "consumer"],
      "properties": {
        "stream": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        "consumer": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "a durable consumer, made when missing"},
        "filter_subject": {"type": "string", "maxLength": 255},
        "deliver": {"enum": ["all", "new"], "description": "where a consumer made here starts; default new"}
      },
      "description": "a durable JetStream consumer: each message is acknowledged once stored as an event"
    },
    "max_in_flight": {"type": "integer", "minimum": 1, "maximum": 1024, "description": "messages taken at once; default 16"},
    "connect_timeout": {"type": "string", "description": "default 10s"}
  },
  "oneOf": [{"required": ["subjects"]}, {"required": ["jetstream"]}]
}`,
		New: newNATSSource,
	})
}

type natsConfig struct {
	URL       string   `json:"url"`
	Token     string   `json:"token"`
	User      string   `json:"user"`
	Password  string   `json:"password"`
	Subjects  []string `json:"subjects"`
	Queue     string   `json:"queue"`
	JetStream *struct {
		Stream        string `json:"stream"`
		Consumer      string `json:"consumer"`
		FilterSubject string `json:"filter_subject"`
		Deliver       string `json:"deliver"`
	} `json:"jetstream"`
	MaxInFlight    int    `json:"max_in_flight"`
	ConnectTimeout string `json:"connect_timeout"`
}

type natsSource struct {
	cfg     natsConfig
	timeout time.Duration
}

func newNATSSource(raw json.RawMessage) (Source, error) {
	var cfg natsConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 16
	}
	timeout := 10 * time.Second
	if cfg.ConnectTimeout != "" {
		d, err := time.ParseDuration(cfg.ConnectTimeout)
		if err != nil || d <= 0 || d > time.Minute {
			return nil, &solution.FieldError{Field: "config.connect_timeout", Reason: fmt.Sprintf("%q: want a duration up to 1m, such as 10s", cfg.ConnectTimeout)}
		}
		timeout = d
	}
	if cfg.Queue != "" && cfg.JetStream != nil {
		return nil, &solution.FieldError{Field: "config.queue", Reason: "only with subjects (core NATS)"}
	}
	return &natsSource{cfg: cfg, timeout: timeout}, nil
}

func (s *natsSource) Run(ctx context.Context, sink Sink, _ Checkpoint) error {
	closed := make(chan error, 1)
	opts := []nats.Option{
		nats.Name("switchboard connector"), nats.Timeout(s.timeout), nats.NoReconnect(),
		nats.ClosedHandler(func(nc *nats.Conn) {
			select {
			case closed <- nc.LastError():
			default:
			}
		}),
	}
	if s.cfg.Token != "" {
		opts = append(opts, nats.Token(s.cfg.Token))
	}
	if s.cfg.User != "" {
		opts = append(opts, nats.UserInfo(s.cfg.User, s.cfg.Password))
	}
	nc, err := nats.Connect(s.cfg.URL, opts...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", s.cfg.URL, err)
	}
	defer nc.Close()
	if s.cfg.JetStream != nil {
		return s.runJetStream(ctx, nc, sink, closed)
	}
	return s.runCore(ctx, nc, sink, closed)
}

// runCore takes messages as core NATS delivers them: at most once, so a message that cannot
// be stored is lost (and logged by the caller through the error).
func (s *natsSource) runCore(ctx context.Context, nc *nats.Conn, sink Sink, closed <-chan error) error {
	ch := make(chan *nats.Msg, s.cfg.MaxInFlight)
	for _, subj := range s.cfg.Subjects {
		var err error
		if s.cfg.Queue != "" {
			_, err = nc.ChanQueueSubscribe(subj, s.cfg.Queue, ch)
		} else {
			_, err = nc.ChanSubscribe(subj, ch)
		}
		if err != nil {
			return fmt.Errorf("nats subscribe %q: %w", subj, err)
		}
	}
	if err := nc.FlushTimeout(s.timeout); err != nil {
		return fmt.Errorf("nats %s: %w", s.cfg.URL, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-closed:
			return fmt.Errorf("nats %s: connection closed: %v", s.cfg.URL, err)
		case m := <-ch:
			batch := []Message{natsMessage(m, "")}
		more:
			for len(batch) < s.cfg.MaxInFlight {
				select {
				case m := <-ch:
					batch = append(batch, natsMessage(m, ""))
				default:
					break more
				}
			}
			if err := sink.Publish(ctx, batch); err != nil {
				return err
			}
		}
	}
}

// runJetStream reads a durable consumer a batch at a time, acknowledging each message once
// stored. A batch is read to its end even when the run stops or a store fails: what was not
// stored is handed back (nak), so that the next run, here or on another instance, has it at
// once rather than after the ack wait. Only a crash leaves messages to the ack wait.
func (s *natsSource) runJetStream(ctx context.Context, nc *nats.Conn, sink Sink, closed <-chan error) error {
	j := s.cfg.JetStream
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats jetstream: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cfg := jetstream.ConsumerConfig{Durable: j.Consumer, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: j.FilterSubject,
		MaxAckPending: s.cfg.MaxInFlight * 4, AckWait: 30 * time.Second}
	if j.Deliver == "all" {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	} else {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	cons, err := js.Consumer(cctx, j.Stream, j.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = js.CreateConsumer(cctx, j.Stream, cfg)
	}
	if err != nil {
		return fmt.Errorf("nats jetstream consumer %s of %s: %w", j.Consumer, j.Stream, err)
	}
	for {
		select {
		case err := <-closed:
			return fmt.Errorf("nats %s: connection closed: %v", s.cfg.URL, err)
		default:
		}
		if ctx.Err() != nil {
			return nil
		}
		// Up to a second for the batch to fill: how long a stop or a lost connection waits.
		batch, err := cons.Fetch(s.cfg.MaxInFlight, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("nats jetstream fetch %s: %w", j.Consumer, err)
		}
		var failed error
		for m := range batch.Messages() {
			if failed != nil || ctx.Err() != nil {
				m.Nak() //nolint:errcheck // at worst it comes again after the ack wait
				continue
			}
			if err := sink.Publish(ctx, []Message{s.jetStreamMessage(m)}); err != nil {
				m.Nak() //nolint:errcheck // at worst it comes again after the ack wait
				failed = err
				continue
			}
			// Stored: acknowledged even when the run is ending, or it comes again after the ack wait.
			actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
			err := m.DoubleAck(actx)
			acancel()
			if err != nil && ctx.Err() == nil {
				failed = fmt.Errorf("nats jetstream ack: %w", err)
			}
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case failed != nil:
			return failed
		case batch.Error() != nil:
			return fmt.Errorf("nats jetstream fetch %s: %w", j.Consumer, batch.Error())
		}
	}
}

// jetStreamMessage is the Message of a JetStream message: its id is its Nats-Msg-Id, else its
// place in the stream.
func (s *natsSource) jetStreamMessage(m jetstream.Msg) Message {
	id := m.Headers().Get(jetstream.MsgIDHeader)
	if id == "" {
		if md, err := m.Metadata(); err == nil {
			id = s.cfg.JetStream.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
		}
	}
	return Message{ID: id, Data: m.Data(), Subject: m.Subject(), ContentType: m.Headers().Get("Content-Type")}
}

func natsMessage(m *nats.Msg, id string) Message {
	if id == "" {
		id = m.Header.Get(nats.MsgIdHdr)
	}
	return Message{ID: id, Data: m.Data, Subject: m.Subject, ContentType: m.Header.Get("Content-Type")}
}
