package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
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

// What a core NATS connector may hold in its client, messages waiting for the sink, shared
// by its subjects.
const (
	natsPendingMsgs  = 64 << 10
	natsPendingBytes = 32 << 20
)

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
	// pendingMsgs and pendingBytes bound what core NATS messages wait in the client.
	pendingMsgs, pendingBytes int
	lagProbe
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
	// The URL is shown back and named in errors: credentials go in the secret fields. The
	// reason never repeats the URL.
	for _, one := range strings.Split(cfg.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil || u.Host == "" {
			return nil, &solution.FieldError{Field: "config.url", Reason: "want nats://host:port, several separated by commas"}
		}
		if u.User != nil {
			return nil, &solution.FieldError{Field: "config.url", Reason: "credentials go in user and password, or token, not the URL"}
		}
	}
	return &natsSource{cfg: cfg, timeout: timeout, pendingMsgs: natsPendingMsgs, pendingBytes: natsPendingBytes}, nil
}

func (s *natsSource) Run(ctx context.Context, sink Sink, _ Checkpoint) error {
	closed := make(chan error, 1)
	opts := []nats.Option{
		nats.Name("switchboard connector"), nats.Timeout(s.timeout), nats.NoReconnect(),
		nats.SetCustomDialer(dialer(ctx, s.timeout)),
		// A slow consumer's drops are counted (see runCore) rather than printed.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if !errors.Is(err, nats.ErrSlowConsumer) {
				subj := ""
				if sub != nil {
					subj = sub.Subject
				}
				slog.Warn("nats connector: the server reported an error", "subject", subj, "err", err)
			}
		}),
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
// be stored is lost (and logged by the caller through the error). Core NATS cannot be asked
// to wait: what arrives while the sink is busy waits in the client, up to natsPendingMsgs
// messages and natsPendingBytes bytes shared by the subjects; beyond that the client drops
// them, and the drops are counted (the status's dropped) and logged.
func (s *natsSource) runCore(ctx context.Context, nc *nats.Conn, sink Sink, closed <-chan error) error {
	ch := make(chan *nats.Msg, s.cfg.MaxInFlight)
	handle := func(m *nats.Msg) {
		select {
		case ch <- m:
		case <-ctx.Done():
		}
	}
	var subs []*nats.Subscription
	for _, subj := range s.cfg.Subjects {
		var sub *nats.Subscription
		var err error
		if s.cfg.Queue != "" {
			sub, err = nc.QueueSubscribe(subj, s.cfg.Queue, handle)
		} else {
			sub, err = nc.Subscribe(subj, handle)
		}
		if err != nil {
			return fmt.Errorf("nats subscribe %q: %w", subj, err)
		}
		if err := sub.SetPendingLimits(max(1, s.pendingMsgs/len(s.cfg.Subjects)), max(1, s.pendingBytes/len(s.cfg.Subjects))); err != nil {
			return fmt.Errorf("nats subscribe %q: %w", subj, err)
		}
		subs = append(subs, sub)
	}
	// The drops are counted every dropsEvery, also while Publish waits.
	var dropsMu sync.Mutex
	dropped := 0
	countDrops := func() {
		dropsMu.Lock()
		defer dropsMu.Unlock()
		n := 0
		for _, sub := range subs {
			if d, err := sub.Dropped(); err == nil {
				n += d
			}
		}
		if dc, ok := sink.(dropCounter); ok && n > dropped {
			dc.Dropped(n - dropped)
		}
		dropped = max(dropped, n)
	}
	var counting sync.WaitGroup
	defer counting.Wait()
	cctx, stopCounting := context.WithCancel(ctx)
	defer stopCounting()
	counting.Go(func() {
		t := time.NewTicker(dropsEvery)
		defer t.Stop()
		for {
			select {
			case <-cctx.Done():
				return
			case <-t.C:
				countDrops()
			}
		}
	})
	if err := nc.FlushTimeout(s.timeout); err != nil {
		return fmt.Errorf("nats %s: %w", s.cfg.URL, err)
	}
	ready(sink)
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
			countDrops()
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
	// The lag is what the consumer has not delivered yet.
	s.setLag(func(ctx context.Context) (uint64, bool) {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, false
		}
		return info.NumPending, true
	})
	defer s.setLag(nil)
	ready(sink)
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
		msgs := batch.Messages()
		for m := range msgs {
			// What else has arrived goes in the same store, with one confirmed
			// acknowledgement for all.
			group := []jetstream.Msg{m}
		more:
			for len(group) < s.cfg.MaxInFlight {
				select {
				case m, ok := <-msgs:
					if !ok {
						break more
					}
					group = append(group, m)
				default:
					break more
				}
			}
			if failed != nil || ctx.Err() != nil {
				nakAll(group)
				continue
			}
			stored := make([]Message, len(group))
			for i, m := range group {
				stored[i] = s.jetStreamMessage(m)
			}
			if err := sink.Publish(ctx, stored); err != nil {
				nakAll(group)
				failed = err
				continue
			}
			// Stored: acknowledged even when the run is ending, or they come again after the
			// ack wait. The server takes acknowledgements in order: the last one confirmed, all are.
			for _, m := range group[:len(group)-1] {
				m.Ack() //nolint:errcheck // the confirmed one below fails too if the connection went
			}
			actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
			err := group[len(group)-1].DoubleAck(actx)
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

// nakAll hands messages back, so that they come again at once rather than after the ack wait.
func nakAll(ms []jetstream.Msg) {
	for _, m := range ms {
		m.Nak() //nolint:errcheck // at worst it comes again after the ack wait
	}
}

// dropsEvery is how often core NATS drops are counted.
const dropsEvery = time.Second

func natsMessage(m *nats.Msg, id string) Message {
	if id == "" {
		id = m.Header.Get(nats.MsgIdHdr)
	}
	return Message{ID: id, Data: m.Data, Subject: m.Subject, ContentType: m.Header.Get("Content-Type")}
}
