package connector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// redis: entries of a Redis stream, read in a consumer group.
func init() {
	Register(Kind{
		Type:        "redis",
		Description: "Events from the entries of a Redis stream, read in a consumer group (XREADGROUP) and acknowledged (XACK) once stored; entries left pending by a consumer gone quiet are claimed (XAUTOCLAIM).",
		Secrets:     []string{"url", "password"},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["url", "stream", "group"],
  "properties": {
    "url": {"type": "string", "pattern": "^rediss?://", "maxLength": 2048,
      "description": "redis://[user:password@]host:6379/0, or rediss:// for TLS"},
    "password": {"type": "string", "minLength": 1, "maxLength": 512, "description": "the password, instead of one in the URL"},
    "stream": {"type": "string", "minLength": 1, "maxLength": 256, "description": "the stream's key"},
    "group": {"type": "string", "minLength": 1, "maxLength": 256,
      "description": "the consumer group; created (with the stream, if missing) when it does not exist"},
    "start": {"type": "string", "pattern": "^(\\$|[0-9]{1,20}(-[0-9]{1,20})?)$",
      "description": "where a group created here starts: $ (entries added from now on, the default), 0 (the whole stream) or an entry id"},
    "consumer": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$",
      "description": "this reader's name in the group; default switchboard-<random>"},
    "count": {"type": "integer", "minimum": 1, "maximum": 1024, "description": "entries read at once; default 16"},
    "block": {"type": "string", "description": "how long one read waits for new entries; default 5s"},
    "field": {"type": "string", "minLength": 1, "maxLength": 256,
      "description": "the entry field whose value is the event's data, the other fields becoming extensions where their names fit (lower-case letters and digits, up to 20); default: the whole entry as a JSON object of its fields, which is also the data of an entry without this field"},
    "claim_idle": {"type": "string",
      "description": "entries pending this long with another consumer of the group are claimed and delivered here; default 1m"}
  }
}`,
		New: newRedis,
	})
}

type redisConfig struct {
	URL       string `json:"url"`
	Password  string `json:"password"`
	Stream    string `json:"stream"`
	Group     string `json:"group"`
	Start     string `json:"start"`
	Consumer  string `json:"consumer"`
	Count     int64  `json:"count"`
	Block     string `json:"block"`
	Field     string `json:"field"`
	ClaimIdle string `json:"claim_idle"`
}

// Bounds of a redis connector.
const (
	redisDefaultCount = 16
	redisTimeout      = 5 * time.Second // dial, handshake and each command but the blocking read
	// redisMaxExtensions bounds the extensions taken from an entry's other fields.
	redisMaxExtensions = 32
	// redisMaxExtensionBytes bounds one extension's value; a longer field is not one.
	redisMaxExtensionBytes = 1024
)

type redisSource struct {
	cfg       redisConfig
	opts      redis.Options // holds the password: never printed
	shown     string        // the URL without its password, for errors
	block     time.Duration
	claimIdle time.Duration
	timeout   time.Duration
	lagProbe
}

func newRedis(raw json.RawMessage) (Source, error) {
	var cfg redisConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	// url.Parse and redis.ParseURL put the URL, password included, into some errors: the
	// reasons here are written out instead.
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, &solution.FieldError{Field: "config.url", Reason: "want redis://[user:password@]host:port/db or rediss://…"}
	}
	shown := u.Redacted()
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, &solution.FieldError{Field: "config.url", Reason: strings.TrimPrefix(err.Error(), "redis: ")}
	}
	if cfg.Password != "" {
		opts.Password = cfg.Password
	}
	if cfg.Start == "" {
		cfg.Start = "$"
	}
	if cfg.Consumer == "" {
		var b [4]byte
		rand.Read(b[:])
		cfg.Consumer = "switchboard-" + hex.EncodeToString(b[:])
	}
	if cfg.Count == 0 {
		cfg.Count = redisDefaultCount
	}
	block, err := redisDuration(cfg.Block, 5*time.Second, 100*time.Millisecond, time.Minute)
	if err != nil {
		return nil, &solution.FieldError{Field: "config.block", Reason: err.Error()}
	}
	claimIdle, err := redisDuration(cfg.ClaimIdle, time.Minute, time.Second, 24*time.Hour)
	if err != nil {
		return nil, &solution.FieldError{Field: "config.claim_idle", Reason: err.Error()}
	}
	return &redisSource{cfg: cfg, opts: *opts, shown: shown, block: block, claimIdle: claimIdle, timeout: redisTimeout}, nil
}

// redisDuration parses s ("" is def) and checks it lies in [lo, hi].
func redisDuration(s string, def, lo, hi time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("%q: want a duration between %s and %s, such as %s", s, lo, hi, def)
	}
	return d, nil
}

// client is a connection of its own (a pool of one): the blocking read gets one it can
// close to end at once, leaving the other free for acknowledgements.
func (s *redisSource) client(ctx context.Context) *redis.Client {
	o := s.opts
	o.PoolSize, o.MinIdleConns, o.MaxIdleConns = 1, 0, 1
	if o.DialTimeout <= 0 {
		o.DialTimeout = s.timeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = s.timeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = s.timeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 1 // a broker that does not answer is given up on in two timeouts
	}
	o.ContextTimeoutEnabled = true
	// Through the run's dialer; go-redis leaves TLS to a dialer of one's own.
	d, tlsCfg := dialer(ctx, o.DialTimeout), o.TLSConfig
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if tlsCfg != nil {
			return dialTLS(ctx, d, addr, tlsCfg)
		}
		return d.DialContext(ctx, network, addr)
	}
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(&o)
}

func (s *redisSource) fail(what string, err error) error {
	return fmt.Errorf("redis %s: %s stream %s group %s: %w", s.shown, what, s.cfg.Stream, s.cfg.Group, err)
}

// Run reads the group: first the entries delivered to this consumer and never acknowledged
// (a failed store of the last run), then those claimed from consumers gone quiet, then new
// ones. An entry is acknowledged once Publish stored it (or refused it for good); a failed
// Publish ends the run with its entries pending, to be read again by the next.
func (s *redisSource) Run(ctx context.Context, sink Sink, _ Checkpoint) error {
	rdb := s.client(ctx)
	defer rdb.Close()
	reader := s.client(ctx)
	defer reader.Close()
	// XREADGROUP BLOCK does not end with its context: closing its connection does.
	stop := context.AfterFunc(ctx, func() { reader.Close() })
	defer stop()

	err := s.setup(ctx, rdb)
	if err == nil {
		s.setLag(func(ctx context.Context) (uint64, bool) { return s.lag(ctx, rdb) })
		defer s.setLag(nil)
		ready(sink)
		err = s.pending(ctx, rdb, sink)
	}
	lastClaim := time.Now()
	if err == nil {
		err = s.claim(ctx, rdb, sink)
	}
	claimEvery := max(s.claimIdle/2, time.Second)
	for err == nil && ctx.Err() == nil {
		var streams []redis.XStream
		streams, err = reader.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: s.cfg.Group, Consumer: s.cfg.Consumer, Streams: []string{s.cfg.Stream, ">"},
			Count: s.cfg.Count, Block: s.block,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			err = nil // nothing new within the block
		case err != nil:
			err = s.fail("read", err)
		default:
			for _, st := range streams {
				if err = s.deliver(ctx, rdb, sink, st.Messages); err != nil {
					break
				}
			}
		}
		if err == nil && time.Since(lastClaim) >= claimEvery {
			lastClaim = time.Now()
			err = s.claim(ctx, rdb, sink)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// setup checks the connection and creates the group (and the stream) when missing.
func (s *redisSource) setup(ctx context.Context, rdb *redis.Client) error {
	cctx, cancel := context.WithTimeout(ctx, 3*s.timeout)
	defer cancel()
	if err := rdb.Ping(cctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", s.shown, err)
	}
	err := rdb.XGroupCreateMkStream(cctx, s.cfg.Stream, s.cfg.Group, s.cfg.Start).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return s.fail("create", err)
	}
	return nil
}

// lag is the group's entries not yet delivered to it, as XINFO GROUPS says: Redis 7 and
// later, and not when deleted entries hide it (lag is then null). Read raw, as the client's
// XInfoGroups gives 0 for a lag Redis 6 does not send at all.
func (s *redisSource) lag(ctx context.Context, rdb *redis.Client) (uint64, bool) {
	groups, err := rdb.Do(ctx, "XINFO", "GROUPS", s.cfg.Stream).Slice()
	if err != nil {
		return 0, false
	}
	for _, g := range groups {
		fields := map[string]any{}
		switch g := g.(type) {
		case map[any]any: // RESP3
			for k, v := range g {
				fields[fmt.Sprint(k)] = v
			}
		case []any: // RESP2: name, value, …
			for i := 0; i+1 < len(g); i += 2 {
				fields[fmt.Sprint(g[i])] = g[i+1]
			}
		}
		if fields["name"] != s.cfg.Group {
			continue
		}
		n, ok := fields["lag"].(int64)
		return uint64(max(n, 0)), ok && n >= 0
	}
	return 0, false
}

// pending delivers the entries read by this consumer before and never acknowledged.
func (s *redisSource) pending(ctx context.Context, rdb *redis.Client, sink Sink) error {
	after := "0"
	for ctx.Err() == nil {
		streams, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: s.cfg.Group, Consumer: s.cfg.Consumer, Streams: []string{s.cfg.Stream, after},
			Count: s.cfg.Count, Block: -1,
		}).Result()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return s.fail("read pending", err)
		}
		var msgs []redis.XMessage
		for _, st := range streams {
			msgs = append(msgs, st.Messages...)
		}
		if len(msgs) == 0 {
			return nil
		}
		if err := s.deliver(ctx, rdb, sink, msgs); err != nil {
			return err
		}
		after = msgs[len(msgs)-1].ID
	}
	return nil
}

// claim takes over and delivers the entries pending longer than claim_idle with other
// consumers: those of a reader that died before acknowledging them.
func (s *redisSource) claim(ctx context.Context, rdb *redis.Client, sink Sink) error {
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: s.cfg.Stream, Group: s.cfg.Group, Consumer: s.cfg.Consumer,
			MinIdle: s.claimIdle, Start: start, Count: s.cfg.Count,
		}).Result()
		if err != nil {
			return s.fail("claim", err)
		}
		if err := s.deliver(ctx, rdb, sink, msgs); err != nil {
			return err
		}
		if next == "0-0" || next == "" || next == start {
			return nil
		}
		start = next
	}
	return nil
}

// deliver publishes entries and acknowledges them once stored.
func (s *redisSource) deliver(ctx context.Context, rdb *redis.Client, sink Sink, entries []redis.XMessage) error {
	if len(entries) == 0 {
		return nil
	}
	msgs := make([]Message, 0, len(entries))
	for _, e := range entries {
		if e.Values == nil {
			continue // deleted from the stream while pending: nothing to deliver, only to acknowledge
		}
		msgs = append(msgs, s.message(e))
	}
	if len(msgs) > 0 {
		if err := sink.Publish(ctx, msgs); err != nil {
			return err
		}
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	// Stored: acknowledge even when the run is ending, so the entries are not read again.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	if err := rdb.XAck(actx, s.cfg.Stream, s.cfg.Group, ids...).Err(); err != nil {
		return s.fail("acknowledge", err)
	}
	return nil
}

// redisReserved are names an entry's field cannot take as an extension: CloudEvents
// attributes and the extensions of the hub's own.
var redisReserved = []string{"id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time", "data", "solution", "correlationid"}

var redisExtensionName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// message is the Message of a stream entry.
func (s *redisSource) message(e redis.XMessage) Message {
	m := Message{ID: e.ID, Subject: s.cfg.Stream, Time: redisEntryTime(e.ID)}
	fields := make(map[string]string, len(e.Values))
	for k, v := range e.Values {
		fields[k] = fmt.Sprint(v)
	}
	data, ok := fields[s.cfg.Field]
	if s.cfg.Field == "" || !ok {
		m.Data, _ = json.Marshal(fields) // map[string]string always marshals
		m.ContentType = "application/json"
		return m
	}
	m.Data = []byte(data)
	names := make([]string, 0, len(fields))
	for k := range fields {
		if k != s.cfg.Field && redisExtensionName.MatchString(k) && !slices.Contains(redisReserved, k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		v := fields[k]
		if len(m.Extensions) == redisMaxExtensions {
			break
		}
		if len(v) > redisMaxExtensionBytes || !utf8.ValidString(v) {
			continue
		}
		if m.Extensions == nil {
			m.Extensions = map[string]string{}
		}
		m.Extensions[k] = v
	}
	return m
}

// redisEntryTime is when an entry was added, from the milliseconds of its id.
func redisEntryTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 946684800000 { // an id set by hand, not a time (before 2000)
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}
