package hub_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// heldStatus is the part of a connector's status back-pressure shows.
type heldStatus struct {
	State      string  `json:"state"`
	Instance   string  `json:"instance"`
	Published  uint64  `json:"published"`
	Held       bool    `json:"held"`
	HeldReason string  `json:"held_reason"`
	Pending    *uint64 `json:"pending"`
	MaxPending uint64  `json:"max_pending"`
	Lag        *uint64 `json:"lag"`
}

// backPressure is a solution whose handler "slow" fails (and is retried) on every event until
// the test opens it; it then adds the event's data to the set "seen".
type backPressure struct {
	t     *testing.T
	s     *hubtest.Server
	sol   string
	token string
}

func newBackPressure(t *testing.T, s *hubtest.Server, sol string, topics ...string) *backPressure {
	t.Helper()
	b := &backPressure{t: t, s: s, sol: sol, token: s.CreateSolution(t, sol)}
	script := `if Keystore.get({key = "open"}).value ~= "1" then error("closed until the test opens it") end
local d = event.data
if type(d) == "table" then d = d.scheduled_at end
Keystore.sadd({key = "seen", args = {tostring(d)}})`
	// Retried often enough to catch up soon once open, and long enough not to be dead-lettered
	// while the test waits.
	if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", b.token, map[string]any{
		"name": "slow", "topics": topics, "script": script,
		"retry": map[string]any{"attempts": 100, "min_wait": "100ms", "max_wait": "400ms"},
	}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	s.Deploy(t, sol, "GET", "/seen", `return Keystore.scard({key = "seen"})`)
	return b
}

func (b *backPressure) connector(body map[string]any) {
	b.t.Helper()
	if r := b.s.Do(b.t, "POST", "/api/v1/solutions/"+b.sol+"/connectors", b.token, body); r.Status != http.StatusCreated {
		b.t.Fatalf("create connector: %d %s", r.Status, r.Body)
	}
}

func (b *backPressure) status(name string) heldStatus {
	b.t.Helper()
	r := b.s.Do(b.t, "GET", "/api/v1/solutions/"+b.sol+"/connectors/"+name, b.token, nil)
	if r.Status != http.StatusOK {
		b.t.Fatalf("connector %s: %d %s", name, r.Status, r.Body)
	}
	var c struct{ Status heldStatus }
	r.JSON(b.t, &c)
	return c.Status
}

func (b *backPressure) open() {
	b.t.Helper()
	if r := b.s.Do(b.t, "PUT", "/api/v1/solutions/"+b.sol+"/keystore/keys/open", b.token, map[string]any{"value": "1"}); r.Status >= 300 {
		b.t.Fatalf("open: %d %s", r.Status, r.Body)
	}
}

// seen is how many distinct events the handler ran to the end.
func (b *backPressure) seen() int {
	b.t.Helper()
	r := b.s.Do(b.t, "GET", "/apps/"+b.sol+"/seen", "", nil)
	if r.Status != http.StatusOK {
		b.t.Fatalf("seen: %d %s", r.Status, r.Body)
	}
	var v struct{ Value float64 }
	r.JSON(b.t, &v)
	return int(v.Value)
}

// backlog is the solution's durable events not yet done, as the handler backlog metric (read
// from each handler's consumer, independently of the connectors) tells.
func (b *backPressure) backlog() uint64 {
	b.t.Helper()
	r := b.s.Do(b.t, "GET", "/metrics", b.s.AdminToken, nil)
	var n uint64
	for _, line := range strings.Split(string(r.Body), "\n") {
		if strings.HasPrefix(line, "switchboard_event_handler_backlog{") && strings.Contains(line, `solution="`+b.sol+`"`) {
			f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				b.t.Fatalf("metric line %q: %v", line, err)
			}
			n += uint64(f)
		}
	}
	return n
}

// await polls cond until it holds, failing the test after d.
func await(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomName(prefix string) string {
	raw := make([]byte, 4)
	rand.Read(raw) //nolint:errcheck // never fails
	return prefix + hex.EncodeToString(raw)
}

// TestConnectorHeldCron: a schedule whose handler cannot keep up stops at its max_pending: its
// state stays running, the status says it is held and why, and the events waiting stay at
// the bound (one tick at a time, so never beyond it); once the handler catches up it ticks
// again. On the embedded NATS and on an outside one (SWITCHBOARD_TEST_NATS_URL, 2.9 will do).
func TestConnectorHeldCron(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
	}{
		{"embedded", ""},
		{"outside", os.Getenv("SWITCHBOARD_TEST_NATS_URL")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "outside" && tc.url == "" {
				t.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222 with JetStream)")
			}
			instance := randomName("bp-")
			s := hubtest.Start(t, func(c *hub.Config) { c.NATSURL, c.InstanceName = tc.url, instance })
			sol := randomName("held")
			b := newBackPressure(t, s, sol, "ticks")
			t.Cleanup(func() { s.Do(t, "DELETE", "/api/v1/solutions/"+sol, s.AdminToken, nil) })
			const bound = 2
			b.connector(map[string]any{"name": "tick", "type": "cron", "topic": "ticks", "max_pending": bound,
				"config": map[string]any{"schedule": "@every 1s"}})

			var st heldStatus
			await(t, "the connector held at its bound", 20*time.Second, func() bool {
				st = b.status("tick")
				return st.Held
			})
			if st.Instance != instance {
				// A shared outside NATS may have other instances of the hub, of another version.
				t.Skipf("instance %s took the connector's lease, not this test's", st.Instance)
			}
			want := fmt.Sprintf("handlers behind: %d events pending on topic ticks (max_pending %d)", bound, bound)
			if st.State != "running" || st.HeldReason != want || st.Pending == nil || *st.Pending != bound || st.MaxPending != bound || st.Lag != nil {
				t.Fatalf("held status %+v, want running, held with %q", st, want)
			}
			if n := b.backlog(); n > bound {
				t.Fatalf("%d events waiting for the handler, more than the bound %d", n, bound)
			}
			if st.Published > bound {
				t.Fatalf("%d ticks published, more than the bound %d", st.Published, bound)
			}

			b.open()
			await(t, "the handler to catch up and the connector to go on", 20*time.Second, func() bool {
				st = b.status("tick")
				return !st.Held && st.Published > bound && b.seen() > bound
			})
		})
	}
}

// TestConnectorHeldRedis: a Redis stream of 60 entries, and 20 more later, into a handler
// that cannot keep up: the connector stores its bound (and at most one batch more) and stops
// reading, so the entries wait in Redis (its lag grows, the hub's backlog does not); once the
// handler catches up every entry arrives, once.
func TestConnectorHeldRedis(t *testing.T) {
	t.Parallel()
	u := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if u == "" {
		t.Skip("SWITCHBOARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
	}
	rdb := redisClient(t, u)
	stream := randomName("sbtest-held-")
	const n, more, count, bound = 60, 20, 4, 10
	for i := range n {
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{"body", strconv.Itoa(i)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { rdb.Del(context.Background(), stream) })
	s := hubtest.Start(t)
	b := newBackPressure(t, s, "held", "orders")
	b.connector(map[string]any{"name": "orders", "type": "redis", "topic": "orders", "max_pending": bound,
		"config": map[string]any{"url": u, "stream": stream, "group": "sb", "start": "0", "field": "body", "count": count}})

	var st heldStatus
	await(t, "the connector held, with the rest waiting in Redis", 20*time.Second, func() bool {
		st = b.status("orders")
		// Delivered: what was stored, and the batch waiting to be.
		return st.Held && st.Lag != nil && *st.Lag <= n-st.Published && *st.Lag >= n-st.Published-count
	})
	if st.State != "running" || st.Pending == nil || *st.Pending < bound || *st.Pending > bound+count || !strings.Contains(st.HeldReason, "on topic orders (max_pending 10)") {
		t.Fatalf("held status %+v", st)
	}
	if st.Published > bound+count {
		t.Fatalf("%d entries stored, more than the bound %d and one batch of %d", st.Published, bound, count)
	}
	if backlog := b.backlog(); backlog > bound+count {
		t.Fatalf("the hub holds %d events, more than the bound %d and one batch of %d", backlog, bound, count)
	}
	// Read from Redis: what was stored, and the one batch held back.
	if lag := redisLag(t, rdb, stream); lag < n-bound-2*count {
		t.Fatalf("Redis holds %d entries undelivered, want at least %d", lag, n-bound-2*count)
	}

	// More entries while held wait in Redis: its lag grows, what the hub stored does not.
	before := *st.Lag
	for i := n; i < n+more; i++ {
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{"body", strconv.Itoa(i)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	await(t, "the lag to grow by the entries added", 20*time.Second, func() bool {
		st = b.status("orders")
		return st.Lag != nil && *st.Lag == before+more
	})
	if !st.Held || st.Published > bound+count || b.backlog() > bound+count {
		t.Fatalf("after %d more entries: status %+v, backlog %d", more, st, b.backlog())
	}

	b.open()
	await(t, "every entry handled", 30*time.Second, func() bool { return b.seen() == n+more })
	await(t, "the connector caught up", 20*time.Second, func() bool {
		st = b.status("orders")
		return !st.Held && st.Published == n+more && st.Lag != nil && *st.Lag == 0 && st.Pending != nil && *st.Pending == 0
	})
}

// TestConnectorHeldPerSolution: many connectors of one solution, each behind: what they all
// hold together is bounded by --connector-max-pending-per-solution (plus at most one batch
// each), not by the sum of their own bounds; another solution's connector is not held by it.
func TestConnectorHeldPerSolution(t *testing.T) {
	t.Parallel()
	u := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if u == "" {
		t.Skip("SWITCHBOARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
	}
	rdb := redisClient(t, u)
	const connectors, entries, count, perConnector, perSolution = 4, 30, 2, 10, 12
	s := hubtest.Start(t, func(c *hub.Config) {
		c.ConnectorMaxPending, c.ConnectorMaxPendingPerSolution = perConnector, perSolution
	})
	b := newBackPressure(t, s, "greedy", "in.*")
	streams := make([]string, connectors+1)
	for i := range streams {
		streams[i] = randomName("sbtest-many-")
		for j := range entries {
			if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: streams[i], Values: []any{"body", strconv.Itoa(i*entries + j)}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { rdb.Del(context.Background(), streams[i]) })
	}
	for i := range connectors {
		b.connector(map[string]any{"name": fmt.Sprint("c", i), "type": "redis", "topic": fmt.Sprint("in.t", i),
			"config": map[string]any{"url": u, "stream": streams[i], "group": "sb", "start": "0", "field": "body", "count": count}})
	}
	// Another solution, whose handler keeps up, reads the last stream meanwhile.
	other := newBackPressure(t, s, "neighbour", "in.x")
	other.open()
	other.connector(map[string]any{"name": "c", "type": "redis", "topic": "in.x",
		"config": map[string]any{"url": u, "stream": streams[connectors], "group": "sb", "start": "0", "field": "body", "count": count}})

	await(t, "every connector of the solution held", 30*time.Second, func() bool {
		for i := range connectors {
			if !b.status(fmt.Sprint("c", i)).Held {
				return false
			}
		}
		return true
	})
	var published uint64
	bySolution := 0
	for i := range connectors {
		st := b.status(fmt.Sprint("c", i))
		published += st.Published
		if strings.Contains(st.HeldReason, "pending on the topics of solution greedy") {
			bySolution++
		}
	}
	if bySolution == 0 {
		t.Errorf("no connector held by the solution's bound")
	}
	limit := uint64(perSolution + connectors*count)
	if published > limit {
		t.Fatalf("the solution's connectors stored %d events, more than its bound %d and one batch each (%d)", published, perSolution, limit)
	}
	if backlog := b.backlog(); backlog > limit {
		t.Fatalf("the hub holds %d of the solution's events, more than %d", backlog, limit)
	}
	await(t, "the other solution's entries all handled", 30*time.Second, func() bool { return other.seen() == entries })

	b.open()
	await(t, "every entry of the solution handled", 60*time.Second, func() bool { return b.seen() == connectors*entries })
}

func redisClient(t *testing.T, u string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// redisLag is the entries of stream not yet delivered to group sb (Redis 7's XINFO GROUPS).
func redisLag(t *testing.T, rdb *redis.Client, stream string) int64 {
	t.Helper()
	gs, err := rdb.XInfoGroups(context.Background(), stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Name == "sb" {
			return g.Lag
		}
	}
	t.Fatalf("no group sb on %s", stream)
	return 0
}

// TestConnectorMaxPendingField: max_pending is taken from 1 to 1,000,000 (0 or absent: the
// server's bound, which the status shows), refused otherwise with a 400 naming it, and
// refused on a webhook, which pulls from no source.
func TestConnectorMaxPendingField(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, func(c *hub.Config) { c.ConnectorMaxPending = 321 })
	tok := s.CreateSolution(t, "bounded")
	cron := func(maxPending any) map[string]any {
		body := map[string]any{"name": "tick", "type": "cron", "topic": "ticks", "config": map[string]any{"schedule": "@every 1h"}}
		if maxPending != nil {
			body["max_pending"] = maxPending
		}
		return body
	}
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"negative", cron(-1)},
		{"over a million", cron(1_000_001)},
		{"not a number", cron("many")},
		{"a fraction", cron(1.5)},
		{"huge", cron(1e30)},
		{"on a webhook", map[string]any{"name": "hook", "type": "webhook", "topic": "hooks", "max_pending": 10, "config": map[string]any{"style": "none"}}},
	} {
		r := s.Do(t, "POST", "/api/v1/solutions/bounded/connectors", tok, tc.body)
		if r.Status != http.StatusBadRequest || r.Map(t)["field"] != "max_pending" {
			t.Errorf("%s: %d %s, want 400 naming max_pending", tc.name, r.Status, r.Body)
		}
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/bounded/connectors", tok, cron(1_000_000)); r.Status != http.StatusCreated || r.Map(t)["max_pending"] != 1e6 {
		t.Fatalf("create with a million: %d %s", r.Status, r.Body)
	}
	r := s.Do(t, "PUT", "/api/v1/solutions/bounded/connectors/tick", tok, cron(nil))
	if r.Status != http.StatusOK || strings.Contains(string(r.Body), `"max_pending":1000000`) {
		t.Fatalf("replaced without max_pending: %d %s", r.Status, r.Body)
	}
	await(t, "the status to show the server's bound", 20*time.Second, func() bool {
		var c struct{ Status heldStatus }
		s.Do(t, "GET", "/api/v1/solutions/bounded/connectors/tick", tok, nil).JSON(t, &c)
		return c.Status.State == "running" && c.Status.MaxPending == 321
	})
}
