package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// kafka, outbound: records produced to Kafka topics, acknowledged by every in-sync replica.
func init() {
	RegisterOut(OutKind{
		Type:        "kafka",
		Description: "Produces records to Kafka topics with acks=all (every in-sync replica has it), idempotently, with an optional key; headers go as record headers, content_type as the content-type header. The answer's id is <topic>/<partition>/<offset>.",
		Secrets:     []string{"sasl_password"},
		To:          "topic",
		Args:        []string{"key", "headers", "content_type"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["brokers"],
  "properties": {
    "brokers": {"type": "array", "minItems": 1, "maxItems": 16,
      "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9.\\-\\[\\]:]+$"},
      "description": "seed brokers as host:port (port 9092 when left out), such as [\"kafka-1:9092\"]"},
    "topic": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,249}$", "description": "the topic of a publish that names none"},
    "sasl": {
      "type": "object", "additionalProperties": false, "required": ["mechanism", "username"],
      "properties": {
        "mechanism": {"enum": ["plain", "scram-sha-256", "scram-sha-512"]},
        "username": {"type": "string", "minLength": 1, "maxLength": 256}
      },
      "description": "SASL authentication; the password is sasl_password"
    },
    "sasl_password": {"type": "string", "minLength": 1, "maxLength": 1024},
    "tls": {"type": "boolean", "description": "connect with TLS, verifying the brokers' certificates"},
    "connect_timeout": {"type": "string", "description": "how long the first contact may take, within timeout; default 10s"},
    ` + OutCommonSchema + `
  }
}`,
		New: newKafkaSender,
	})
}

type kafkaOutConfig struct {
	kafkaConn
	Topic          string `json:"topic"`
	ConnectTimeout string `json:"connect_timeout"`
}

var kafkaTopicPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

// Bounds of a kafka sender.
const (
	// kafkaOutBuffered bounds the records a sender holds not yet acknowledged.
	kafkaOutBuffered = 1024
	// kafkaOutDelivery bounds how long the client keeps trying a record it was given, past
	// the publish that gave it (which returned at its timeout).
	kafkaOutDelivery = time.Minute
)

type kafkaSender struct {
	cfg     kafkaOutConfig
	where   string
	connect time.Duration
	client  *lazyConn[*kgo.Client]
}

func newKafkaSender(raw json.RawMessage) (Sender, error) {
	var cfg kafkaOutConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	s := &kafkaSender{cfg: cfg, where: strings.Join(cfg.Brokers, ","), connect: 10 * time.Second}
	if cfg.ConnectTimeout != "" {
		d, err := time.ParseDuration(cfg.ConnectTimeout)
		if err != nil || d <= 0 || d > outMaxTimeout {
			return nil, &solution.FieldError{Field: "config.connect_timeout", Reason: fmt.Sprintf("%q: want a duration up to %s, such as 10s", cfg.ConnectTimeout, outMaxTimeout)}
		}
		s.connect = d
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	// kgo keeps its connections and dials again by itself: the client is made on the first
	// publish (which brings the guard) and kept once a broker answered.
	s.client = newLazyConn(s.open, func(c *kgo.Client) { c.Close() })
	return s, nil
}

func (s *kafkaSender) open(ctx context.Context) (*kgo.Client, error) {
	opts := append(s.cfg.kafkaConn.opts(ctx, s.connect),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(kafkaOutBuffered),
		kgo.RecordDeliveryTimeout(kafkaOutDelivery),
		// The broker's message.max.bytes decides; the client's own default is below 1 MiB.
		kgo.ProducerBatchMaxBytes(int32(MaxMessageBytes+64<<10)),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, permanent(fmt.Errorf("kafka %s: %w", s.where, err))
	}
	// The client tries an unreachable broker for ever: a first answer tells a wrong address
	// or refused credentials from a slow start.
	pctx, cancel := context.WithTimeout(ctx, connectWithin(ctx, s.connect))
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka %s: %w", s.where, err)
	}
	return cl, nil
}

// Send produces m and waits until every in-sync replica has it.
func (s *kafkaSender) Send(ctx context.Context, m Outgoing) (Receipt, error) {
	topic, err := destination(m, s.cfg.Topic, "topic")
	if err != nil {
		return Receipt{}, err
	}
	if !kafkaTopicPattern.MatchString(topic) {
		return Receipt{}, &ArgError{Arg: "topic", Reason: fmt.Sprintf("%q: want 1 to 249 letters, digits, '.', '_' or '-'", clip(topic))}
	}
	rec := &kgo.Record{Topic: topic, Value: m.Data}
	if m.Key != "" {
		rec.Key = []byte(m.Key)
	}
	if m.ContentType != "" {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "content-type", Value: []byte(m.ContentType)})
	}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(m.Headers[k])})
	}
	cl, _, err := s.client.get(ctx)
	if err != nil {
		return Receipt{}, err
	}
	done := make(chan error, 1)
	cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err = <-done:
	case <-ctx.Done():
		// An idempotent producer cannot take back a record it sent: it may still land.
		err = ctx.Err()
	}
	if err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) && !ke.Retriable {
			err = permanent(err) // too large, not authorized, …
		}
		return Receipt{}, fmt.Errorf("kafka %s: produce to %s: %w", s.where, topic, err)
	}
	return Receipt{
		ID:     rec.Topic + "/" + strconv.FormatInt(int64(rec.Partition), 10) + "/" + strconv.FormatInt(rec.Offset, 10),
		Fields: map[string]any{"partition": rec.Partition, "offset": rec.Offset},
	}, nil
}

func (s *kafkaSender) Close() error {
	s.client.close()
	return nil
}
