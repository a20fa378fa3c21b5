package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// redis, outbound: entries added to a Redis stream (XADD), optionally capped (MAXLEN).
func init() {
	RegisterOut(OutKind{
		Type:        "redis",
		Description: "Adds an entry to a Redis stream (XADD): the data in one field, each header in a field of its own; the answer's id is the entry's. MAXLEN caps the stream if set.",
		Secrets:     []string{"url", "password"},
		To:          "stream",
		Args:        []string{"headers"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["url"],
  "properties": {
    "url": {"type": "string", "pattern": "^rediss?://", "maxLength": 2048,
      "description": "redis://[user:password@]host:6379/0, or rediss:// for TLS"},
    "password": {"type": "string", "minLength": 1, "maxLength": 512, "description": "the password, instead of one in the URL"},
    "stream": {"type": "string", "minLength": 1, "maxLength": 1024, "description": "the stream's key when a publish names none"},
    "field": {"type": "string", "minLength": 1, "maxLength": 256, "description": "the entry field holding the data (what an inbound redis connector's field reads); default data"},
    "maxlen": {"type": "integer", "minimum": 1, "description": "cap the stream at about this many entries (XADD MAXLEN ~)"},
    "exact_maxlen": {"type": "boolean", "description": "with maxlen: cap at exactly that many (MAXLEN =), which costs Redis more; default false"},
    "connect_timeout": {"type": "string", "description": "how long connecting may take, within timeout; default 5s"},
    ` + OutCommonSchema + `
  }
}`,
		New: newRedisSender,
	})
}

type redisOutConfig struct {
	URL            string `json:"url"`
	Password       string `json:"password"`
	Stream         string `json:"stream"`
	Field          string `json:"field"`
	MaxLen         int64  `json:"maxlen"`
	ExactMaxLen    bool   `json:"exact_maxlen"`
	ConnectTimeout string `json:"connect_timeout"`
}

// redisOutPool bounds the connections of one sender: publishes of one connector at once.
const redisOutPool = 4

type redisSender struct {
	cfg     redisOutConfig
	src     *redisSource // the URL and credentials, read as an inbound connector reads them
	connect time.Duration
	client  *lazyConn[*redis.Client]
}

func newRedisSender(raw json.RawMessage) (Sender, error) {
	var cfg redisOutConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	in, _ := json.Marshal(map[string]any{"url": cfg.URL, "stream": "-", "group": "-"})
	if cfg.Password != "" {
		in, _ = json.Marshal(map[string]any{"url": cfg.URL, "password": cfg.Password, "stream": "-", "group": "-"})
	}
	src, err := newRedis(in)
	if err != nil {
		return nil, err
	}
	if cfg.Field == "" {
		cfg.Field = "data"
	}
	if cfg.ExactMaxLen && cfg.MaxLen == 0 {
		return nil, &solution.FieldError{Field: "config.exact_maxlen", Reason: "only with maxlen"}
	}
	s := &redisSender{cfg: cfg, src: src.(*redisSource), connect: 5 * time.Second}
	if s.connect, err = redisDuration(cfg.ConnectTimeout, 5*time.Second, 100*time.Millisecond, outMaxTimeout); err != nil {
		return nil, &solution.FieldError{Field: "config.connect_timeout", Reason: err.Error()}
	}
	// go-redis keeps its pool and dials again by itself: the client is made once, on the
	// first publish (which brings the guard), and never dropped.
	s.client = newLazyConn(s.open, func(c *redis.Client) { c.Close() })
	return s, nil
}

func (s *redisSender) open(ctx context.Context) (*redis.Client, error) {
	o := s.src.opts
	o.PoolSize, o.MinIdleConns, o.MaxIdleConns = redisOutPool, 0, redisOutPool
	o.DialTimeout = s.connect
	o.MaxRetries = -1 // the connector's retry decides
	o.ContextTimeoutEnabled = true
	d, tlsCfg := dialer(ctx, o.DialTimeout), o.TLSConfig
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if tlsCfg != nil {
			return dialTLS(ctx, d, addr, tlsCfg)
		}
		return d.DialContext(ctx, network, addr)
	}
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(&o), nil
}

// Send adds m to its stream.
func (s *redisSender) Send(ctx context.Context, m Outgoing) (Receipt, error) {
	stream, err := destination(m, s.cfg.Stream, "stream")
	if err != nil {
		return Receipt{}, err
	}
	if len(stream) > 1024 {
		return Receipt{}, &ArgError{Arg: "stream", Reason: "longer than 1024 bytes"}
	}
	values := make([]any, 0, 2+2*len(m.Headers))
	values = append(values, s.cfg.Field, m.Data)
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		if k == s.cfg.Field {
			return Receipt{}, &ArgError{Arg: "headers." + k, Reason: "the name of the field holding the data"}
		}
		values = append(values, k, m.Headers[k])
	}
	args := &redis.XAddArgs{Stream: stream, ID: "*", Values: values}
	if s.cfg.MaxLen > 0 {
		args.MaxLen, args.Approx = s.cfg.MaxLen, !s.cfg.ExactMaxLen
	}
	rdb, _, err := s.client.get(ctx)
	if err != nil {
		return Receipt{}, err
	}
	id, err := rdb.XAdd(ctx, args).Result()
	if err != nil {
		var re redis.Error
		if errors.As(err, &re) {
			err = permanent(err) // the server's answer: WRONGTYPE, NOAUTH, OOM…
		}
		return Receipt{}, fmt.Errorf("redis %s: XADD to stream %s: %w", s.src.shown, stream, err)
	}
	return Receipt{ID: id}, nil
}

func (s *redisSender) Close() error {
	s.client.close()
	return nil
}
