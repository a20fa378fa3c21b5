package keystore

import (
	"strings"
	"testing"
	"time"
)

// step is one Redis command of a scenario and its expected reply or error prefix.
type step struct {
	cmd  string
	args []any
	want any
	err  string
}

func run(t *testing.T, s *Store, sol, key string, steps []step) {
	t.Helper()
	for i, st := range steps {
		a := args("key", key, "command", st.cmd, "args", arr(st.args...))
		res, err := s.Call(tctx(t), sol, "command", a)
		what := strings.ToUpper(st.cmd) + " " + js(st.args)
		if st.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), st.err) {
				t.Fatalf("step %d %s: got %s, %v; want error %q", i+1, what, js(res), err, st.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d %s: %v", i+1, what, err)
		}
		equal(t, "step "+what, res.(map[string]any)["value"], st.want)
	}
}

func n(v float64) float64 { return v }

func TestCommands(t *testing.T) {
	s := newStore(t, Options{})
	tests := []struct {
		name  string
		steps []step
	}{
		{"get and set", []step{
			{"get", nil, nil, ""},
			{"set", []any{"v"}, "OK", ""},
			{"get", nil, "v", ""},
			{"SET", []any{"w", "nx"}, nil, ""},
			{"get", nil, "v", ""},
			{"set", []any{"w", "XX"}, "OK", ""},
			{"set", []any{"x", "GET"}, "w", ""},
			{"get", nil, "x", ""},
			{"type", nil, "string", ""},
			{"set", []any{float64(12)}, "OK", ""},
			{"get", nil, "12", ""},
		}},
		{"set xx on missing", []step{
			{"set", []any{"v", "XX"}, nil, ""},
			{"exists", nil, n(0), ""},
			{"set", []any{"v", "NX", "GET"}, nil, ""},
			{"get", nil, "v", ""},
		}},
		{"setnx getset append strlen", []step{
			{"setnx", []any{"a"}, n(1), ""},
			{"setnx", []any{"b"}, n(0), ""},
			{"getset", []any{"c"}, "a", ""},
			{"append", []any{"de"}, n(3), ""},
			{"strlen", nil, n(3), ""},
			{"get", nil, "cde", ""},
			{"del", nil, n(1), ""},
			{"del", nil, n(0), ""},
			{"getset", []any{"x"}, nil, ""},
			{"strlen", nil, n(1), ""},
		}},
		{"append and strlen on missing", []step{
			{"strlen", nil, n(0), ""},
			{"append", []any{"abc"}, n(3), ""},
		}},
		{"counters", []step{
			{"incr", nil, n(1), ""},
			{"incrby", []any{n(41)}, n(42), ""},
			{"incrby", []any{"-2"}, n(40), ""},
			{"decrby", []any{n(50)}, n(-10), ""},
			{"decr", nil, n(-11), ""},
			{"get", nil, "-11", ""},
			{"incrby", []any{"1.5"}, nil, msgNotInteger},
			{"incrby", []any{"abc"}, nil, msgNotInteger},
			{"set", []any{"9223372036854775807"}, "OK", ""},
			{"incr", nil, nil, msgOverflow},
			{"set", []any{"12abc"}, "OK", ""},
			{"incr", nil, nil, msgNotInteger},
			{"set", []any{" 1"}, "OK", ""},
			{"incr", nil, nil, msgNotInteger},
		}},
		{"incrbyfloat", []step{
			{"incrbyfloat", []any{"10.5"}, "10.5", ""},
			{"incrbyfloat", []any{n(0.1)}, "10.6", ""},
			{"incrbyfloat", []any{"-5.6"}, "5", ""},
			{"incrbyfloat", []any{"5.0e3"}, "5005", ""},
			{"incrbyfloat", []any{"abc"}, nil, msgNotFloat},
			{"incrbyfloat", []any{"inf"}, nil, msgNaN},
			{"set", []any{"x"}, "OK", ""},
			{"incrbyfloat", []any{"1"}, nil, msgNotFloat},
		}},
		{"lists", []step{
			{"lpush", []any{"a", "b", "c"}, n(3), ""},
			{"lrange", []any{n(0), n(-1)}, []any{"c", "b", "a"}, ""},
			{"rpush", []any{"d"}, n(4), ""},
			{"lrange", []any{n(-2), n(-1)}, []any{"a", "d"}, ""},
			{"lrange", []any{n(1), n(2)}, []any{"b", "a"}, ""},
			{"lrange", []any{n(-100), n(100)}, []any{"c", "b", "a", "d"}, ""},
			{"lrange", []any{n(5), n(10)}, []any{}, ""},
			{"lrange", []any{n(2), n(1)}, []any{}, ""},
			{"lrange", []any{"x", n(1)}, nil, msgNotInteger},
			{"lindex", []any{n(0)}, "c", ""},
			{"lindex", []any{n(-1)}, "d", ""},
			{"lindex", []any{n(10)}, nil, ""},
			{"lindex", []any{n(-10)}, nil, ""},
			{"llen", nil, n(4), ""},
			{"type", nil, "list", ""},
			{"lpop", nil, "c", ""},
			{"rpop", nil, "d", ""},
			{"lpop", []any{n(5)}, []any{"b", "a"}, ""},
			{"exists", nil, n(0), ""},
			{"lpop", nil, nil, ""},
			{"rpop", nil, nil, ""},
			{"lpop", []any{n(2)}, nil, ""},
			{"llen", nil, n(0), ""},
			{"lrange", []any{n(0), n(-1)}, []any{}, ""},
			{"lpop", []any{n(-1)}, nil, msgPositiveArg},
		}},
		{"rpop with count", []step{
			{"rpush", []any{"1", "2", "3"}, n(3), ""},
			{"rpop", []any{n(2)}, []any{"3", "2"}, ""},
			{"lpop", []any{n(0)}, []any{}, ""},
			{"llen", nil, n(1), ""},
		}},
		{"ltrim", []step{
			{"rpush", []any{"1", "2", "3", "4", "5"}, n(5), ""},
			{"ltrim", []any{n(1), n(-2)}, "OK", ""},
			{"lrange", []any{n(0), n(-1)}, []any{"2", "3", "4"}, ""},
			{"ltrim", []any{n(0), n(100)}, "OK", ""},
			{"llen", nil, n(3), ""},
			{"ltrim", []any{n(-1), n(-1)}, "OK", ""},
			{"lrange", []any{n(0), n(-1)}, []any{"4"}, ""},
			{"ltrim", []any{n(5), n(10)}, "OK", ""},
			{"exists", nil, n(0), ""},
			{"ltrim", []any{n(0), n(1)}, "OK", ""},
		}},
		{"sets", []step{
			{"sadd", []any{"b", "a", "b"}, n(2), ""},
			{"sadd", []any{"a", "c"}, n(1), ""},
			{"sadd", []any{"a"}, n(0), ""},
			{"smembers", nil, []any{"a", "b", "c"}, ""},
			{"sismember", []any{"a"}, n(1), ""},
			{"sismember", []any{"x"}, n(0), ""},
			{"scard", nil, n(3), ""},
			{"type", nil, "set", ""},
			{"srem", []any{"a", "x"}, n(1), ""},
			{"srem", []any{"x"}, n(0), ""},
			{"srem", []any{"b", "c"}, n(2), ""},
			{"exists", nil, n(0), ""},
			{"smembers", nil, []any{}, ""},
			{"scard", nil, n(0), ""},
			{"sismember", []any{"a"}, n(0), ""},
			{"srem", []any{"a"}, n(0), ""},
		}},
		{"wrong types on a list", []step{
			{"rpush", []any{"a"}, n(1), ""},
			{"get", nil, nil, msgWrongType},
			{"set", []any{"v", "GET"}, nil, msgWrongType},
			{"append", []any{"x"}, nil, msgWrongType},
			{"strlen", nil, nil, msgWrongType},
			{"incr", nil, nil, msgWrongType},
			{"incrbyfloat", []any{"1"}, nil, msgWrongType},
			{"getset", []any{"x"}, nil, msgWrongType},
			{"sadd", []any{"x"}, nil, msgWrongType},
			{"smembers", nil, nil, msgWrongType},
			{"llen", nil, n(1), ""},
			{"set", []any{"v"}, "OK", ""},
			{"type", nil, "string", ""},
		}},
		{"wrong types on a string", []step{
			{"set", []any{"v"}, "OK", ""},
			{"lpush", []any{"x"}, nil, msgWrongType},
			{"lrange", []any{n(0), n(1)}, nil, msgWrongType},
			{"lpop", nil, nil, msgWrongType},
			{"sismember", []any{"x"}, nil, msgWrongType},
			{"scard", nil, nil, msgWrongType},
			{"get", nil, "v", ""},
		}},
		{"wrong types on a set", []step{
			{"sadd", []any{"m"}, n(1), ""},
			{"rpush", []any{"x"}, nil, msgWrongType},
			{"lindex", []any{n(0)}, nil, msgWrongType},
			{"get", nil, nil, msgWrongType},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run(t, s, "cmds", "key "+tc.name, tc.steps)
		})
	}

	t.Run("get operation on a list is a wrong type", func(t *testing.T) {
		cmd(t, s, "cmds", "a list", "rpush", "x")
		e := callErr(t, s, "cmds", "get", args("key", "a list"))
		equal(t, "message", e.Message, msgWrongType)
		equal(t, "status", e.Status, 400)
	})
	t.Run("commands as operations", func(t *testing.T) {
		equal(t, "incrby", call(t, s, "cmds", "incrby", args("key", "direct", "args", arr(n(5)))), map[string]any{"value": n(5)})
		equal(t, "INCR", call(t, s, "cmds", "INCR", args("key", "direct")), map[string]any{"value": n(6)})
		equal(t, "command name case", call(t, s, "cmds", "command", args("key", "direct", "command", "DecrBy", "args", arr("2"))), map[string]any{"value": n(4)})
		equal(t, "rpush", call(t, s, "cmds", "rpush", args("key", "dl", "args", arr("a", "b"))), map[string]any{"value": n(2)})
		equal(t, "lrange", call(t, s, "cmds", "lrange", args("key", "dl", "args", arr(n(0), n(-1)))), map[string]any{"value": []any{"a", "b"}})
	})
	t.Run("Keystore set clears a list", func(t *testing.T) {
		cmd(t, s, "cmds", "replaced", "rpush", "x")
		call(t, s, "cmds", "set", args("key", "replaced", "value", "v"))
		equal(t, "get", call(t, s, "cmds", "get", args("key", "replaced")), map[string]any{"value": "v"})
	})
}

func TestExpiry(t *testing.T) {
	clock := newFakeClock()
	s := newStore(t, Options{Now: clock.Now})
	const sol = "exp"
	run(t, s, sol, "k", []step{
		{"ttl", nil, n(-2), ""},
		{"pttl", nil, n(-2), ""},
		{"expire", []any{n(10)}, n(0), ""},
		{"persist", nil, n(0), ""},
		{"set", []any{"v"}, "OK", ""},
		{"ttl", nil, n(-1), ""},
		{"pttl", nil, n(-1), ""},
		{"persist", nil, n(0), ""},
		{"expire", []any{n(10)}, n(1), ""},
		{"ttl", nil, n(10), ""},
		{"pttl", nil, n(10000), ""},
	})
	clock.Advance(3400 * time.Millisecond)
	run(t, s, sol, "k", []step{
		{"ttl", nil, n(7), ""}, // 6.6 s rounds to 7, as in Redis
		{"pttl", nil, n(6600), ""},
		{"persist", nil, n(1), ""},
		{"ttl", nil, n(-1), ""},
		{"pexpire", []any{n(1500)}, n(1), ""},
		{"incr", nil, nil, msgNotInteger},
		{"append", []any{"w"}, n(2), ""},
		{"pttl", nil, n(1500), ""}, // a modification keeps the expiry
	})
	clock.Advance(1499 * time.Millisecond)
	equal(t, "get just before expiry", call(t, s, sol, "get", args("key", "k")), map[string]any{"value": "vw"})
	clock.Advance(time.Millisecond)
	// Expired: missing everywhere.
	equal(t, "get", call(t, s, sol, "get", args("key", "k")), map[string]any{"value": nil})
	equal(t, "mget", call(t, s, sol, "mget", args("keys", arr("k"))), map[string]any{"values": map[string]any{}})
	equal(t, "list", call(t, s, sol, "list", nil), map[string]any{"keys": []any{}, "cursor": nil})
	equal(t, "info", call(t, s, sol, "info", nil).(map[string]any)["count"], n(0))
	equal(t, "delete", call(t, s, sol, "delete", args("key", "k")), map[string]any{"deleted": n(0)})
	run(t, s, sol, "k", []step{
		{"exists", nil, n(0), ""},
		{"ttl", nil, n(-2), ""},
		{"type", nil, "none", ""},
		{"setnx", []any{"fresh"}, n(1), ""},
		{"ttl", nil, n(-1), ""},
	})

	t.Run("set clears the expiry, KEEPTTL keeps it", func(t *testing.T) {
		run(t, s, sol, "s", []step{
			{"set", []any{"v", "EX", n(100)}, "OK", ""},
			{"ttl", nil, n(100), ""},
			{"set", []any{"w", "KEEPTTL"}, "OK", ""},
			{"ttl", nil, n(100), ""},
			{"set", []any{"v", "px", n(2500)}, "OK", ""},
			{"pttl", nil, n(2500), ""},
			{"set", []any{"w"}, "OK", ""},
			{"ttl", nil, n(-1), ""},
			{"set", []any{"v", "EXAT", float64(clock.Now().Unix() + 50)}, "OK", ""},
			{"pttl", nil, float64((clock.Now().Unix()+50)*1000 - clock.Now().UnixMilli()), ""},
			{"set", []any{"v", "PXAT", float64(clock.Now().UnixMilli() + 50)}, "OK", ""},
			{"pttl", nil, n(50), ""},
			{"set", []any{"v", "EX", n(5), "PX", n(5)}, nil, msgSyntax},
			{"set", []any{"v", "EX"}, nil, msgSyntax},
		})
		call(t, s, sol, "set", args("key", "s", "value", "plain"))
		equal(t, "ttl after Keystore set", cmd(t, s, sol, "s", "ttl"), n(-1))
		cmd(t, s, sol, "s", "expire", n(5))
		cmd(t, s, sol, "s", "getset", "x")
		equal(t, "ttl after getset", cmd(t, s, sol, "s", "ttl"), n(-1))
	})
	t.Run("expire in the past deletes", func(t *testing.T) {
		run(t, s, sol, "p", []step{
			{"rpush", []any{"a"}, n(1), ""},
			{"expire", []any{n(0)}, n(1), ""},
			{"exists", nil, n(0), ""},
			{"sadd", []any{"a"}, n(1), ""},
			{"pexpire", []any{n(-5)}, n(1), ""},
			{"exists", nil, n(0), ""},
			{"set", []any{"x"}, "OK", ""},
			{"expire", []any{"9223372036854775807"}, nil, "ERR invalid expire time in 'expire' command"},
			{"expire", []any{"soon"}, nil, msgNotInteger},
		})
	})
	t.Run("an expired value of another type is gone", func(t *testing.T) {
		run(t, s, sol, "t", []step{
			{"set", []any{"str", "PX", n(10)}, "OK", ""},
		})
		clock.Advance(10 * time.Millisecond)
		run(t, s, sol, "t", []step{
			{"lpush", []any{"x"}, n(1), ""},
			{"ttl", nil, n(-1), ""},
		})
	})
}

// TestExpiryRealClock uses the real clock: a short expiry, then waiting on the condition.
func TestExpiryRealClock(t *testing.T) {
	s := newStore(t, Options{SweepInterval: 20 * time.Millisecond})
	cmd(t, s, "rt", "k", "set", "v", "PX", n(150))
	equal(t, "before", call(t, s, "rt", "get", args("key", "k")), map[string]any{"value": "v"})
	eventually(t, "key expires", 5*time.Second, func() bool {
		return call(t, s, "rt", "get", args("key", "k")).(map[string]any)["value"] == nil
	})
}

// TestSweeper checks expired keys leave storage and their delete markers are purged later.
func TestSweeper(t *testing.T) {
	clock := newFakeClock()
	s := newStore(t, Options{Now: clock.Now, SweepInterval: 10 * time.Millisecond})
	const sol = "sweep"
	cmd(t, s, sol, "short", "set", "v", "PX", n(100))
	cmd(t, s, sol, "long", "set", "v", "EX", n(100))
	call(t, s, sol, "set", args("key", "plain", "value", "v"))
	b, err := s.bucket(tctx(t), sol, false)
	if err != nil || b == nil {
		t.Fatal("no bucket", err)
	}
	stored := func(key string) stored {
		st, err := b.load(tctx(t), key)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	clock.Advance(time.Second)
	eventually(t, "expired key deleted from storage", 5*time.Second, func() bool { return !stored("short").present })
	if !stored("long").present || !stored("plain").present {
		t.Fatal("sweeper deleted a live key")
	}
	equal(t, "info", call(t, s, sol, "info", nil).(map[string]any)["count"], n(2))

	// Delete markers go once old enough.
	s.markerAge.Store(0)
	eventually(t, "delete marker purged", 5*time.Second, func() bool { return stored("short").rev == 0 })
	eventually(t, "tombstone forgotten", 5*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		_, tomb := b.keys["short"]
		return !tomb
	})
	equal(t, "long survives", call(t, s, sol, "get", args("key", "long")), map[string]any{"value": "v"})
}

// TestIdleEviction checks an idle bucket is unloaded and reloads transparently.
func TestIdleEviction(t *testing.T) {
	s := newStore(t, Options{SweepInterval: 10 * time.Millisecond})
	call(t, s, "idle", "set", args("key", "a", "value", "1"))
	s.idleAfter.Store(0)
	eventually(t, "bucket unloaded", 5*time.Second, func() bool {
		_, loaded := s.buckets.Load("idle")
		return !loaded
	})
	s.idleAfter.Store(int64(time.Hour))
	equal(t, "get", call(t, s, "idle", "get", args("key", "a")), map[string]any{"value": "1"})
	equal(t, "info", call(t, s, "idle", "info", nil).(map[string]any)["count"], n(1))
}
