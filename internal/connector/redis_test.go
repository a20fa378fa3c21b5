package connector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestRedisConfig(t *testing.T) {
	c := func(cfg string) Connector {
		return Connector{Solution: "demo", Name: "r1", Type: "redis", Topic: "orders", Config: json.RawMessage(cfg)}
	}
	for _, tc := range []struct {
		name  string
		cfg   string
		field string // "" = valid
	}{
		{"minimal", `{"url":"redis://127.0.0.1:6379/0","stream":"orders","group":"sb"}`, ""},
		{"everything", `{"url":"rediss://user@cache.example:6380/2","password":"pw-123","stream":"orders","group":"sb","start":"0","consumer":"sb-1","count":1024,"block":"30s","field":"payload","claim_idle":"10m"}`, ""},
		{"start at an id", `{"url":"redis://h","stream":"s","group":"g","start":"1732900000000-0"}`, ""},
		{"no url", `{"stream":"s","group":"g"}`, "config"},
		{"no stream", `{"url":"redis://h","group":"g"}`, "config"},
		{"no group", `{"url":"redis://h","stream":"s"}`, "config"},
		{"unknown field", `{"url":"redis://h","stream":"s","group":"g","db":1}`, "config"},
		{"http url", `{"url":"http://h:6379","stream":"s","group":"g"}`, "config.url"},
		{"unparsable url", `{"url":"redis://u:hunter2@[::1","stream":"s","group":"g"}`, "config.url"},
		{"no host", `{"url":"redis://","stream":"s","group":"g"}`, "config.url"},
		{"bad database", `{"url":"redis://h/zero","stream":"s","group":"g"}`, "config.url"},
		{"unknown url option", `{"url":"redis://h/0?colour=red","stream":"s","group":"g"}`, "config.url"},
		{"empty stream", `{"url":"redis://h","stream":"","group":"g"}`, "config.stream"},
		{"empty group", `{"url":"redis://h","stream":"s","group":""}`, "config.group"},
		{"bad start", `{"url":"redis://h","stream":"s","group":"g","start":"now"}`, "config.start"},
		{"bad consumer", `{"url":"redis://h","stream":"s","group":"g","consumer":"a b"}`, "config.consumer"},
		{"count 0", `{"url":"redis://h","stream":"s","group":"g","count":0}`, "config.count"},
		{"count too large", `{"url":"redis://h","stream":"s","group":"g","count":1025}`, "config.count"},
		{"block not a duration", `{"url":"redis://h","stream":"s","group":"g","block":"a while"}`, "config.block"},
		{"block too long", `{"url":"redis://h","stream":"s","group":"g","block":"1h"}`, "config.block"},
		{"claim_idle too short", `{"url":"redis://h","stream":"s","group":"g","claim_idle":"10ms"}`, "config.claim_idle"},
		{"empty password", `{"url":"redis://h","stream":"s","group":"g","password":""}`, "config.password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(c(tc.cfg))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *solution.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %v shows the password", err)
			}
		})
	}
	r := c(`{"url":"redis://u:hunter2@h:6379/0","password":"hunter3","stream":"s","group":"g"}`).Redacted()
	if strings.Contains(string(r.Config), "hunter") {
		t.Fatalf("redacted config %s", r.Config)
	}
}

// TestRedisMessage: an entry is a JSON object of its fields; with field, that field's value
// is the data and the other fields whose names fit are extensions.
func TestRedisMessage(t *testing.T) {
	whole := &redisSource{cfg: redisConfig{Stream: "orders"}}
	m := whole.message(redis.XMessage{ID: "1732900000000-0", Values: map[string]any{"b": "2", "a": "x"}})
	if m.ID != "1732900000000-0" || m.Subject != "orders" || string(m.Data) != `{"a":"x","b":"2"}` ||
		m.ContentType != "application/json" || !m.Time.Equal(time.UnixMilli(1732900000000)) || m.Extensions != nil {
		t.Fatalf("whole entry: %+v", m)
	}
	one := &redisSource{cfg: redisConfig{Stream: "orders", Field: "body"}}
	m = one.message(redis.XMessage{ID: "5-1", Values: map[string]any{
		"body": "hello", "kind": "order", "Bad-Name": "x", "id": "spoofed", "big": strings.Repeat("x", 2000),
	}})
	if string(m.Data) != "hello" || m.ContentType != "" || len(m.Extensions) != 1 || m.Extensions["kind"] != "order" || !m.Time.IsZero() {
		t.Fatalf("field: %+v", m)
	}
	m = one.message(redis.XMessage{ID: "5-2", Values: map[string]any{"other": "1"}})
	if string(m.Data) != `{"other":"1"}` {
		t.Fatalf("entry without the field: %+v", m)
	}
}

// redisEnv is a Redis for a test: a stream of its own, removed afterwards.
type redisEnv struct {
	url, stream string
	admin       *redis.Client
}

func newRedisEnv(t *testing.T) *redisEnv {
	t.Helper()
	u := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if u == "" {
		t.Skip("SWITCHBOARD_TEST_REDIS_URL not set")
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(opts)
	var b [6]byte
	rand.Read(b[:])
	e := &redisEnv{url: u, stream: "sbtest-" + hex.EncodeToString(b[:]), admin: admin}
	t.Cleanup(func() {
		admin.Del(context.Background(), e.stream)
		admin.Close()
	})
	return e
}

func (e *redisEnv) source(t *testing.T, extra string) *redisSource {
	t.Helper()
	cfg := fmt.Sprintf(`{"url":%q,"stream":%q,"group":"sb"%s}`, e.url, e.stream, extra)
	src, err := newRedis(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return src.(*redisSource)
}

func (e *redisEnv) add(t *testing.T, fields ...any) string {
	t.Helper()
	id, err := e.admin.XAdd(context.Background(), &redis.XAddArgs{Stream: e.stream, Values: fields}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pending is how many entries of the group are delivered and not acknowledged.
func (e *redisEnv) pending(t *testing.T) int64 {
	t.Helper()
	p, err := e.admin.XPending(context.Background(), e.stream, "sb").Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

// redisRun runs src until the returned stop, which says what Run returned; done is closed
// once Run returned.
func redisRun(src Source, sink Sink) (stop func() error, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	fin := make(chan struct{})
	var err error
	go func() {
		err = src.Run(ctx, sink, &memCheckpoint{})
		close(fin)
	}()
	return func() error { cancel(); <-fin; return err }, fin
}

func TestRedisDelivers(t *testing.T) {
	e := newRedisEnv(t)
	src := e.source(t, `,"start":"0","field":"body"`)
	before := e.add(t, "body", `{"n":1}`, "kind", "order")
	sink := &recordSink{}
	stop, _ := redisRun(src, sink)
	defer stop()
	after := e.add(t, "body", "plain", "kind", "note")
	whole := e.add(t, "x", "1")
	eventually(t, "three messages", func() bool { ms, _ := sink.stored(); return len(ms) == 3 })
	ms, _ := sink.stored()
	for i, want := range []struct{ id, data, kind string }{{before, `{"n":1}`, "order"}, {after, "plain", "note"}, {whole, `{"x":"1"}`, ""}} {
		m := ms[i]
		if m.ID != want.id || string(m.Data) != want.data || m.Subject != e.stream || m.Extensions["kind"] != want.kind || m.Time.IsZero() {
			t.Fatalf("message %d: %+v, want id %s data %s", i, m, want.id, want.data)
		}
	}
	eventually(t, "acknowledgements", func() bool { return e.pending(t) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestRedisRedelivers: a failed Publish leaves the entry pending and ends the run; the next
// run delivers it again, with its id, and only then acknowledges it.
func TestRedisRedelivers(t *testing.T) {
	e := newRedisEnv(t)
	src := e.source(t, `,"start":"0"`)
	id := e.add(t, "n", "1")
	var pendingAtSuccess int64 = -1
	sink := &recordSink{fail: func(call int, _ []Message) error {
		if call == 1 {
			return errors.New("store down")
		}
		// Not e.pending: this runs on Run's goroutine, where t.Fatal must not be called.
		if p, err := e.admin.XPending(context.Background(), e.stream, "sb").Result(); err == nil {
			pendingAtSuccess = p.Count
		}
		return nil
	}}
	err := runWithin(t, src, sink, 15*time.Second)
	if err == nil || !strings.Contains(err.Error(), "store down") {
		t.Fatalf("run with a failing sink: %v", err)
	}
	if n := e.pending(t); n != 1 {
		t.Fatalf("%d pending after the failed publish, want 1", n)
	}
	stop, _ := redisRun(src, sink)
	defer stop()
	eventually(t, "the redelivery", func() bool { ms, _ := sink.stored(); return len(ms) == 1 })
	if ms, _ := sink.stored(); ms[0].ID != id {
		t.Fatalf("redelivered %+v, want id %s", ms[0], id)
	}
	eventually(t, "the acknowledgement", func() bool { return e.pending(t) == 0 })
	sink.mu.Lock()
	if pendingAtSuccess != 1 {
		t.Fatalf("%d pending while publishing, want 1: acknowledged before stored", pendingAtSuccess)
	}
	sink.mu.Unlock()
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestRedisClaims: an entry left pending by a consumer that vanished is claimed once it has
// been idle for claim_idle, and delivered.
func TestRedisClaims(t *testing.T) {
	e := newRedisEnv(t)
	ctx := context.Background()
	if err := e.admin.XGroupCreateMkStream(ctx, e.stream, "sb", "0").Err(); err != nil {
		t.Fatal(err)
	}
	id := e.add(t, "n", "1")
	read, err := e.admin.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "sb", Consumer: "ghost", Streams: []string{e.stream, ">"}, Count: 10, Block: -1}).Result()
	if err != nil || len(read) != 1 || len(read[0].Messages) != 1 {
		t.Fatalf("ghost read %v, %v", read, err)
	}
	sink := &recordSink{}
	stop, _ := redisRun(e.source(t, `,"claim_idle":"1s","block":"200ms"`), sink)
	defer stop()
	eventually(t, "the claimed entry", func() bool { ms, _ := sink.stored(); return len(ms) == 1 })
	if ms, _ := sink.stored(); ms[0].ID != id {
		t.Fatalf("claimed %+v, want id %s", ms[0], id)
	}
	eventually(t, "the acknowledgement", func() bool { return e.pending(t) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestRedisOversized: an entry the sink rejects is acknowledged and not read again.
func TestRedisOversized(t *testing.T) {
	e := newRedisEnv(t)
	src := e.source(t, `,"start":"0","field":"body"`)
	e.add(t, "body", strings.Repeat("x", MaxMessageBytes+1))
	small := e.add(t, "body", "small")
	sink := &recordSink{}
	stop, _ := redisRun(src, sink)
	eventually(t, "the small one", func() bool { ms, rej := sink.stored(); return len(ms) == 1 && rej == 1 })
	eventually(t, "acknowledgements", func() bool { return e.pending(t) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	stop, _ = redisRun(src, sink)
	defer stop()
	last := e.add(t, "body", "last")
	eventually(t, "the last one", func() bool { ms, _ := sink.stored(); return len(ms) == 2 })
	ms, rej := sink.stored()
	if rej != 1 || ms[0].ID != small || ms[1].ID != last {
		t.Fatalf("messages %+v, %d rejected", ms, rej)
	}
}

// TestRedisStops: Run returns nil soon after its context ends, though its read blocks for a
// minute.
func TestRedisStops(t *testing.T) {
	e := newRedisEnv(t)
	src := e.source(t, `,"block":"1m"`)
	stop, done := redisRun(src, &recordSink{})
	ctx := context.Background()
	eventually(t, "the read to block", func() bool {
		cs, err := e.admin.XInfoConsumers(ctx, e.stream, "sb").Result()
		if err != nil || len(cs) != 1 {
			return false
		}
		// A client blocked (flags b) in XREADGROUP: the read this test is about.
		list, err := e.admin.ClientList(ctx).Result()
		for line := range strings.SplitSeq(list, "\n") {
			f := strings.Fields(line)
			if slices.Contains(f, "cmd=xreadgroup") && slices.ContainsFunc(f, func(s string) bool {
				flags, ok := strings.CutPrefix(s, "flags=")
				return ok && strings.Contains(flags, "b")
			}) {
				return err == nil
			}
		}
		return false
	})
	select {
	case <-done:
		t.Fatalf("run ended early: %v", stop())
	default:
	}
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("run took %s to end", d)
	}
}

// TestRedisRefused: a port nobody listens on makes Run fail, naming the address and not the
// password.
func TestRedisRefused(t *testing.T) {
	if os.Getenv("SWITCHBOARD_TEST_REDIS_URL") == "" {
		t.Skip("SWITCHBOARD_TEST_REDIS_URL not set")
	}
	addr := freeAddr(t)
	src, err := newRedis(json.RawMessage(`{"url":"redis://u:hunter2@` + addr + `/0","stream":"s","group":"g"}`))
	if err != nil {
		t.Fatal(err)
	}
	err = runWithin(t, src, &recordSink{}, 15*time.Second)
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("run against a closed port: %v", err)
	}
}

// TestRedisSilentBroker: a server that accepts connections and never answers fails the run
// within its timeouts.
func TestRedisSilentBroker(t *testing.T) {
	addr, _ := silentListener(t)
	src, err := newRedis(json.RawMessage(`{"url":"redis://` + addr + `/0","stream":"s","group":"g"}`))
	if err != nil {
		t.Fatal(err)
	}
	src.(*redisSource).timeout = 200 * time.Millisecond
	if err := runWithin(t, src, &recordSink{}, 10*time.Second); err == nil {
		t.Fatal("run against a silent server returned nil")
	}
}

// runWithin is what Run returned of its own accord, within d.
func runWithin(t *testing.T, src Source, sink Sink, d time.Duration) error {
	t.Helper()
	stop, done := redisRun(src, sink)
	select {
	case <-done:
		return stop()
	case <-time.After(d):
		go stop() // not waited for: a Run that ignores its context would hang the test
		t.Fatalf("run still going after %s", d)
		return nil
	}
}
