package connector

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// kafka: records of Kafka topics, read in a consumer group whose offsets are committed only
// once the records are stored as events.
func init() {
	Register(Kind{
		Type:        "kafka",
		Description: "Records of Kafka topics (a list or a regular expression), read in a consumer group; offsets are committed once the events are stored.",
		Secrets:     []string{"sasl_password"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["brokers", "group"],
  "properties": {
    "brokers": {"type": "array", "minItems": 1, "maxItems": 16,
      "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9.\\-\\[\\]:]+$"},
      "description": "seed brokers as host:port (port 9092 when left out), such as [\"kafka-1:9092\"]"},
    "topics": {"type": "array", "minItems": 1, "maxItems": 16,
      "items": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,249}$"}, "description": "the topics to read"},
    "topic_regex": {"type": "string", "minLength": 1, "maxLength": 255, "description": "read every topic whose whole name matches this regular expression"},
    "group": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,255}$", "description": "the consumer group; its committed offsets are where reading resumes"},
    "start": {"enum": ["earliest", "latest"], "description": "where a group without committed offsets starts; default latest"},
    "max_in_flight": {"type": "integer", "minimum": 1, "maximum": 1024, "description": "records taken and stored at once; default 16"},
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
    "connect_timeout": {"type": "string", "description": "default 10s"}
  },
  "oneOf": [{"required": ["topics"]}, {"required": ["topic_regex"]}]
}`,
		New: newKafkaSource,
	})
}

// kafkaConn is how a kafka config, reading or publishing, reaches its brokers.
type kafkaConn struct {
	Brokers []string `json:"brokers"`
	SASL    *struct {
		Mechanism string `json:"mechanism"`
		Username  string `json:"username"`
	} `json:"sasl"`
	SASLPassword string `json:"sasl_password"`
	TLS          bool   `json:"tls"`
}

// check refuses what the schema cannot say of a connection.
func (c kafkaConn) check() error {
	switch {
	case c.SASL != nil && c.SASLPassword == "":
		return &solution.FieldError{Field: "config.sasl_password", Reason: "required with sasl"}
	case c.SASL == nil && c.SASLPassword != "":
		return &solution.FieldError{Field: "config.sasl_password", Reason: "only with sasl"}
	}
	return nil
}

// opts are a client's options to reach the brokers through the dialer of ctx (see dialer),
// connecting within timeout; kgo leaves TLS to a dialer of one's own.
func (c kafkaConn) opts(ctx context.Context, timeout time.Duration) []kgo.Opt {
	d := dialer(ctx, timeout)
	var tlsCfg *tls.Config
	if c.TLS {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID("switchboard"),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			if tlsCfg != nil {
				return dialTLS(ctx, d, host, tlsCfg)
			}
			return d.DialContext(ctx, network, host)
		}),
	}
	if c.SASL != nil {
		var m sasl.Mechanism
		switch c.SASL.Mechanism {
		case "plain":
			m = plain.Auth{User: c.SASL.Username, Pass: c.SASLPassword}.AsMechanism()
		case "scram-sha-256":
			m = scram.Auth{User: c.SASL.Username, Pass: c.SASLPassword}.AsSha256Mechanism()
		case "scram-sha-512":
			m = scram.Auth{User: c.SASL.Username, Pass: c.SASLPassword}.AsSha512Mechanism()
		}
		if m != nil {
			opts = append(opts, kgo.SASL(m))
		}
	}
	return opts
}

type kafkaConfig struct {
	kafkaConn
	Topics         []string `json:"topics"`
	TopicRegex     string   `json:"topic_regex"`
	Group          string   `json:"group"`
	Start          string   `json:"start"`
	MaxInFlight    int      `json:"max_in_flight"`
	ConnectTimeout string   `json:"connect_timeout"`
}

type kafkaSource struct {
	cfg     kafkaConfig
	timeout time.Duration
	lagProbe
}

// kafkaMaxKey bounds the record key copied into the kafkakey extension.
const kafkaMaxKey = 256

func newKafkaSource(raw json.RawMessage) (Source, error) {
	var cfg kafkaConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 16
	}
	if cfg.Start == "" {
		cfg.Start = "latest"
	}
	timeout := 10 * time.Second
	if cfg.ConnectTimeout != "" {
		d, err := time.ParseDuration(cfg.ConnectTimeout)
		if err != nil || d <= 0 || d > time.Minute {
			return nil, &solution.FieldError{Field: "config.connect_timeout", Reason: fmt.Sprintf("%q: want a duration up to 1m, such as 10s", cfg.ConnectTimeout)}
		}
		timeout = d
	}
	if cfg.TopicRegex != "" {
		if _, err := regexp.Compile(cfg.TopicRegex); err != nil {
			return nil, &solution.FieldError{Field: "config.topic_regex", Reason: err.Error()}
		}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &kafkaSource{cfg: cfg, timeout: timeout}, nil
}

func (s *kafkaSource) opts(ctx context.Context) []kgo.Opt {
	c := s.cfg
	opts := append(c.kafkaConn.opts(ctx, s.timeout),
		kgo.ConsumerGroup(c.Group),
		// Offsets are committed by hand once the records are stored; blocking rebalances
		// while a batch is being stored keeps a commit from landing after its partition moved.
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// A bound on what is fetched ahead of the sink.
		kgo.FetchMaxBytes(8<<20),
		kgo.FetchMaxPartitionBytes(1<<20),
	)
	if c.TopicRegex != "" {
		// Anchored: the expression names whole topics, as the description says.
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics("^(?:"+c.TopicRegex+")$"))
	} else {
		opts = append(opts, kgo.ConsumeTopics(c.Topics...))
	}
	if c.Start == "earliest" {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	}
	return opts
}

// Run reads the group's partitions, storing up to max_in_flight records at a time and then
// committing their offsets. A batch that cannot be stored is not committed: the next Run
// (this instance or another in the group) reads it again from the committed offset, and the
// records' ids store each of them once.
//
// The checkpoint keeps the run's member id in the group. A run that ended without leaving
// (its broker was away, its instance died) leaves a member the group waits for, a whole
// session timeout (45s), before handing its partitions on; the next run tells the group that
// member left.
func (s *kafkaSource) Run(ctx context.Context, sink Sink, cp Checkpoint) error {
	where := strings.Join(s.cfg.Brokers, ",")
	prev, _ := cp.Load(ctx) // before the client may save; none known is only slower
	saved := string(prev)
	remember := kgo.OnPartitionsAssigned(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
		if id, _ := cl.GroupMetadata(); id != "" && id != saved {
			sctx, cancel := context.WithTimeout(ctx, s.timeout)
			defer cancel()
			if cp.Save(sctx, []byte(id)) == nil {
				saved = id
			}
		}
	})
	cl, err := kgo.NewClient(append(s.opts(ctx), remember)...)
	if err != nil {
		return fmt.Errorf("kafka %s: %w", where, err)
	}
	defer func() {
		cl.AllowRebalance()
		// Leaving the group hands the partitions on at once; bounded, as the broker may be gone.
		lctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		cl.LeaveGroupContext(lctx) //nolint:errcheck // the session times out anyway
		cancel()
		cl.Close()
	}()

	// The client retries an unreachable broker forever; a first answer within the timeout
	// tells a wrong address or refused credentials from a slow start.
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	err = cl.Ping(pctx)
	cancel()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kafka %s: %w", where, err)
	}
	if len(prev) > 0 {
		s.leave(ctx, cl, string(prev))
	}
	s.setLag(func(ctx context.Context) (uint64, bool) { return s.lag(ctx, cl) })
	defer s.setLag(nil)
	ready(sink)

	for {
		fs := cl.PollRecords(ctx, s.cfg.MaxInFlight)
		if ctx.Err() != nil {
			return nil // what was polled is not committed: it is read again
		}
		if fs.IsClientClosed() {
			return fmt.Errorf("kafka %s: client closed", where)
		}
		var failed error
		for _, fe := range fs.Errors() {
			var loss *kgo.ErrDataLoss
			if errors.As(fe.Err, &loss) || errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue // informational: the client moved on by itself
			}
			if fe.Topic != "" {
				failed = fmt.Errorf("kafka %s: topic %s partition %d: %w", where, fe.Topic, fe.Partition, fe.Err)
			} else {
				failed = fmt.Errorf("kafka %s: %w", where, fe.Err)
			}
			break
		}
		if rs := fs.Records(); len(rs) > 0 {
			msgs := make([]Message, len(rs))
			for i, r := range rs {
				msgs[i] = kafkaMessage(r)
			}
			if err := sink.Publish(ctx, msgs); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if err := cl.CommitRecords(ctx, rs...); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("kafka %s: commit offsets of group %s: %w", where, s.cfg.Group, err)
			}
		}
		if failed != nil {
			return failed
		}
		cl.AllowRebalance()
	}
}

// lag is, over the group's partitions, the records after its committed offsets (the high
// watermark less the commit). A partition without a commit yet counts from its start only
// when the group starts at the earliest record; one starting at the latest has none behind.
func (s *kafkaSource) lag(ctx context.Context, cl *kgo.Client) (uint64, bool) {
	lags, err := kadm.NewClient(cl).Lag(ctx, s.cfg.Group)
	if err != nil {
		return 0, false
	}
	l, ok := lags[s.cfg.Group]
	if !ok || l.Error() != nil {
		return 0, false
	}
	var n uint64
	for _, ps := range l.Lag {
		for _, p := range ps {
			if p.Err != nil || p.Lag < 0 || (p.Commit.At < 0 && s.cfg.Start != "earliest") {
				continue
			}
			n += uint64(p.Lag)
		}
	}
	return n, true
}

// leave tells the group that the member of an earlier run left; one that did leave already
// is unknown to it, which is as good.
func (s *kafkaSource) leave(ctx context.Context, cl *kgo.Client, member string) {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = s.cfg.Group, member // MemberID for versions before 3
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = member
	m.Reason = kmsg.StringPtr("switchboard connector running again")
	req.Members = append(req.Members, m)
	lctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req.RequestWith(lctx, cl) //nolint:errcheck // at worst the group waits for the member's session to end
}

func kafkaMessage(r *kgo.Record) Message {
	m := Message{
		ID:         r.Topic + "/" + strconv.FormatInt(int64(r.Partition), 10) + "/" + strconv.FormatInt(r.Offset, 10),
		Data:       r.Value,
		Subject:    r.Topic,
		Time:       r.Timestamp,
		Extensions: map[string]string{"kafkapartition": strconv.FormatInt(int64(r.Partition), 10)},
	}
	if len(r.Key) > 0 && len(r.Key) <= kafkaMaxKey && utf8.Valid(r.Key) {
		m.Extensions["kafkakey"] = string(r.Key)
	}
	for _, h := range r.Headers {
		if strings.EqualFold(h.Key, "content-type") {
			m.ContentType = string(h.Value)
		}
	}
	return m
}
