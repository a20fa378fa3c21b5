package keystore

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestHeadline(t *testing.T) {
	s := newStore(t, Options{})
	equal(t, "set", call(t, s, "sol1", "set", args("key", "my-key", "value", "my-key-value")), map[string]any{})
	call(t, s, "sol1", "set", args("key", "my-key", "value", "my-key-value-updated"))
	got := call(t, s, "sol1", "get", args("key", "my-key"))
	equal(t, "get", js(got), `{"value":"my-key-value-updated"}`)
}

func TestGetSetDelete(t *testing.T) {
	s := newStore(t, Options{})
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"string", "hello", "hello"},
		{"empty string", "", ""},
		{"integer", float64(42), "42"},
		{"negative", float64(-7), "-7"},
		{"fraction", 1.5, "1.5"},
		{"large", 1e21, "1e+21"},
		{"boolean", true, "true"},
		{"object as JSON", map[string]any{"b": float64(2), "a": "x"}, `{"a":"x","b":2}`},
		{"array as JSON", []any{float64(1), "two", false}, `[1,"two",false]`},
		{"binary bytes", "\x00\xff\x01", "\x00\xff\x01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "k-" + tc.name
			call(t, s, "sol", "set", args("key", key, "value", tc.value))
			equal(t, "get", call(t, s, "sol", "get", args("key", key)), map[string]any{"value": tc.want})
			equal(t, "delete", call(t, s, "sol", "delete", args("key", key)), map[string]any{"deleted": float64(1)})
			equal(t, "get after delete", call(t, s, "sol", "get", args("key", key)), map[string]any{"value": nil})
			equal(t, "delete again", call(t, s, "sol", "delete", args("key", key)), map[string]any{"deleted": float64(0)})
		})
	}
	t.Run("missing key", func(t *testing.T) {
		equal(t, "get", call(t, s, "sol", "get", args("key", "never")), map[string]any{"value": nil})
	})
	t.Run("number key is its text", func(t *testing.T) {
		call(t, s, "sol", "set", args("key", float64(12), "value", "twelve"))
		equal(t, "get", call(t, s, "sol", "get", args("key", "12")), map[string]any{"value": "twelve"})
	})
	t.Run("operation names are case-insensitive", func(t *testing.T) {
		call(t, s, "sol", "SET", args("key", "case", "value", "v"))
		equal(t, "get", call(t, s, "sol", "Get", args("key", "case")), map[string]any{"value": "v"})
	})
}

// TestKeyEncoding stores keys that would be dangerous as subjects or paths and checks each is an
// ordinary, separate key.
func TestKeyEncoding(t *testing.T) {
	s := newStore(t, Options{})
	keys := []string{
		"../x", "a.b", "a..b", ".", "*", ">", "a.*", "a b", "ключ🔑", "\x00", "\xff\xfe", "sol2", "sb_ks_sol2",
		"$KV.sb_ks_sol2.c29sMg", "KV_sb_ks_sol2", "_kv_x", "/", "\\", "=", strings.Repeat("k", MaxKeyBytes),
	}
	for i, k := range keys {
		call(t, s, "sol1", "set", args("key", k, "value", fmt.Sprint(i)))
	}
	for i, k := range keys {
		equal(t, fmt.Sprintf("get %q", k), call(t, s, "sol1", "get", args("key", k)), map[string]any{"value": fmt.Sprint(i)})
	}
	res := call(t, s, "sol1", "list", args("count", float64(1000))).(map[string]any)
	equal(t, "listed", len(res["keys"].([]any)), len(keys))
	// Nothing leaked into the solution whose name the keys spell.
	equal(t, "other solution", call(t, s, "sol2", "info", nil).(map[string]any)["count"], float64(0))
	equal(t, "other solution get", call(t, s, "sol2", "get", args("key", "c29sMg")), map[string]any{"value": nil})

	e := callErr(t, s, "sol1", "set", args("key", "", "value", "x"))
	equal(t, "empty key status", e.Status, 400)
	if !strings.Contains(e.Message, "key") {
		t.Fatalf("empty key error %q does not name the key", e.Message)
	}
	e = callErr(t, s, "sol1", "get", args("key", strings.Repeat("k", MaxKeyBytes+1)))
	equal(t, "long key status", e.Status, 400)
}

func TestIsolation(t *testing.T) {
	s := newStore(t, Options{})
	call(t, s, "alpha", "set", args("key", "shared", "value", "a"))
	call(t, s, "beta", "set", args("key", "shared", "value", "b"))
	cmd(t, s, "alpha", "n", "incrby", float64(5))
	equal(t, "alpha", call(t, s, "alpha", "get", args("key", "shared")), map[string]any{"value": "a"})
	equal(t, "beta", call(t, s, "beta", "get", args("key", "shared")), map[string]any{"value": "b"})
	equal(t, "beta n", cmd(t, s, "beta", "n", "get"), nil)
	equal(t, "beta list", call(t, s, "beta", "list", nil), map[string]any{"keys": []any{"shared"}, "cursor": nil})
	call(t, s, "beta", "clear", nil)
	equal(t, "alpha after beta clear", call(t, s, "alpha", "info", nil).(map[string]any)["count"], float64(2))
}

func TestReadsDoNotCreateBucket(t *testing.T) {
	s := newStore(t, Options{})
	const sol = "fresh"
	equal(t, "get", call(t, s, sol, "get", args("key", "k")), map[string]any{"value": nil})
	equal(t, "list", call(t, s, sol, "list", nil), map[string]any{"keys": []any{}, "cursor": nil})
	equal(t, "info count", call(t, s, sol, "info", nil).(map[string]any)["count"], float64(0))
	equal(t, "mget", call(t, s, sol, "mget", args("keys", arr("a", "b"))), map[string]any{"values": map[string]any{}})
	equal(t, "delete", call(t, s, sol, "delete", args("key", "k")), map[string]any{"deleted": float64(0)})
	equal(t, "mdelete", call(t, s, sol, "mdelete", args("keys", arr("k"))), map[string]any{"deleted": float64(0)})
	equal(t, "clear", call(t, s, sol, "clear", nil), map[string]any{})
	equal(t, "ttl", cmd(t, s, sol, "k", "ttl"), float64(-2))
	equal(t, "exists", cmd(t, s, sol, "k", "exists"), float64(0))
	equal(t, "lrange", cmd(t, s, sol, "k", "lrange", float64(0), float64(-1)), []any{})
	if _, err := s.js.KeyValue(tctx(t), bucketPrefix+sol); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("bucket after reads: err = %v, want ErrBucketNotFound", err)
	}
	call(t, s, sol, "set", args("key", "k", "value", "v"))
	if _, err := s.js.KeyValue(tctx(t), bucketPrefix+sol); err != nil {
		t.Fatalf("bucket after a write: %v", err)
	}
}

func TestBadArguments(t *testing.T) {
	s := newStore(t, Options{})
	call(t, s, "sol", "set", args("key", "str", "value", "v"))
	tests := []struct {
		op     string
		args   any
		status int
		want   string
	}{
		{"get", nil, 400, "keystore.get: key: required string"},
		{"get", args("key", true), 400, "keystore.get: key: must be a string, got boolean"},
		{"get", args("key", arr("a")), 400, "keystore.get: key: must be a string, got table"},
		{"get", "key", 400, "keystore.get: arguments: must be a table"},
		{"get", arr("a"), 400, "keystore.get: arguments: must be a table"},
		{"set", args("key", "k"), 400, "keystore.set: value: required"},
		{"set", args("value", "v"), 400, "keystore.set: key: required string"},
		{"delete", args(), 400, "keystore.delete: key: required string"},
		{"list", args("count", float64(0)), 400, "keystore.list: count: must be at least 1"},
		{"list", args("count", 1.5), 400, "keystore.list: count: must be an integer"},
		{"list", args("count", "many"), 400, "keystore.list: count: must be an integer"},
		{"list", args("cursor", "!!"), 400, "keystore.list: cursor: invalid cursor"},
		{"list", args("match", arr()), 400, "keystore.list: match: must be a string"},
		{"mget", args(), 400, "keystore.mget: keys: required list of keys"},
		{"mget", args("keys", "a"), 400, "keystore.mget: keys: must be a list"},
		{"mget", args("keys", arr("a", true)), 400, "keystore.mget: keys[2]: must be a string"},
		{"mset", args(), 400, "keystore.mset: values: required"},
		{"mset", args("values", "x"), 400, "keystore.mset: values: must be a table"},
		{"mset", args("keys", arr("a", "b"), "values", arr("1")), 400, "keystore.mset: values: has 1 values for 2 keys"},
		{"mset", args("values", args("a", nil, "b", "x")), 400, ""},
		{"mdelete", args("keys", arr("")), 400, "keystore.mdelete: keys[1]: must be 1 to 1024 bytes"},
		{"command", args("key", "k"), 400, "keystore.command: command: required string"},
		{"command", args("key", "k", "command", "flushall"), 400, `keystore.command: command: unknown or unsupported Redis command "flushall"`},
		{"command", args("command", "get"), 400, "keystore.command: key: required string"},
		{"command", args("key", "k", "command", "lpush", "args", "x"), 400, "keystore.command: args: must be a list"},
		{"command", args("key", "k", "command", "lpush", "args", arr(arr())), 400, "keystore.command: args[1]: must be a string or number, got table"},
		{"command", args("key", "k", "command", "lpush"), 400, "ERR wrong number of arguments for 'lpush' command"},
		{"command", args("key", "k", "command", "get", "args", arr("x")), 400, "ERR wrong number of arguments for 'get' command"},
		{"command", args("key", "str", "command", "incrby", "args", arr("x")), 400, msgNotInteger},
		{"command", args("key", "str", "command", "incrby", "args", arr(1.5)), 400, msgNotInteger},
		{"command", args("key", "str", "command", "incr"), 400, msgNotInteger},
		{"command", args("key", "str", "command", "lpush", "args", arr("x")), 400, msgWrongType},
		{"command", args("key", "k", "command", "set", "args", arr("v", "EX", float64(0))), 400, "ERR invalid expire time in 'set' command"},
		{"command", args("key", "k", "command", "set", "args", arr("v", "NX", "XX")), 400, msgSyntax},
		{"command", args("key", "k", "command", "set", "args", arr("v", "BOGUS")), 400, msgSyntax},
		{"incrby", args("key", "k"), 400, "ERR wrong number of arguments for 'incrby' command"},
		{"flushall", args(), 404, `keystore: unknown operation "flushall"`},
		{"", args(), 404, "keystore: unknown operation"},
	}
	for _, tc := range tests {
		t.Run(tc.op+" "+js(tc.args), func(t *testing.T) {
			e := callErr(t, s, "sol", tc.op, tc.args)
			equal(t, "status", e.Status, tc.status)
			if !strings.HasPrefix(e.Message, tc.want) {
				t.Fatalf("message %q, want prefix %q", e.Message, tc.want)
			}
		})
	}
	t.Run("invalid solution", func(t *testing.T) {
		for _, sol := range []string{"", "Upper", "-x", "a.b", "a*", "a b", "é", "a\x00", strings.Repeat("a", 64)} {
			e := callErr(t, s, sol, "get", args("key", "k"))
			equal(t, "status", e.Status, 400)
		}
	})
	t.Run("valid solution", func(t *testing.T) {
		for _, sol := range []string{"a", "0", "x-", "a-b-9", strings.Repeat("a", 63)} {
			if _, err := s.Call(tctx(t), sol, "get", args("key", "k")); err != nil {
				t.Errorf("get for solution %q: %v", sol, err)
			}
		}
	})
}

func TestList(t *testing.T) {
	clock := newFakeClock()
	s := newStore(t, Options{Now: clock.Now})
	const sol = "lister"
	var want []string
	values := map[string]any{}
	for i := range 250 {
		k := fmt.Sprintf("user:%03d", i)
		want = append(want, k)
		values[k] = "v"
	}
	call(t, s, sol, "mset", args("values", values))
	call(t, s, sol, "set", args("key", "other", "value", "v"))

	// Page through with the default count and then with 100: every key once, in order.
	for _, count := range []any{nil, float64(100), float64(7)} {
		var got []string
		cursor := any(nil)
		pages := 0
		for {
			res := call(t, s, sol, "list", args("match", "user:*", "cursor", cursor, "count", count)).(map[string]any)
			for _, k := range res["keys"].([]any) {
				got = append(got, k.(string))
			}
			pages++
			cursor = res["cursor"]
			if cursor == nil {
				break
			}
			if pages > 100 {
				t.Fatal("list does not end")
			}
		}
		equal(t, fmt.Sprintf("keys listed with count %v", count), got, want)
	}

	tests := []struct {
		match string
		want  []any
	}{
		{"user:00?", arr("user:000", "user:001", "user:002", "user:003", "user:004", "user:005", "user:006", "user:007", "user:008", "user:009")},
		{"user:1[2-3]0", arr("user:120", "user:130")},
		{"user:24[^0-8]", arr("user:249")},
		{"user:2[45]9", arr("user:249")},
		{"oth*", arr("other")},
		{"*er", arr("other")},
		{"nothing*", arr()},
		{`user\:000`, arr("user:000")},
	}
	for _, tc := range tests {
		res := call(t, s, sol, "list", args("match", tc.match, "count", float64(1000))).(map[string]any)
		equal(t, "match "+tc.match, res, map[string]any{"keys": tc.want, "cursor": nil})
	}

	// A page ends exactly on the last key: no cursor is handed out for an empty page.
	res := call(t, s, sol, "list", args("match", "user:*", "count", float64(250))).(map[string]any)
	equal(t, "exact page cursor", res["cursor"], nil)
	// Counts above the maximum are capped.
	res = call(t, s, sol, "list", args("count", float64(5000))).(map[string]any)
	equal(t, "capped count", len(res["keys"].([]any)), 251)

	// Keys created or deleted between pages do not disturb the others.
	res = call(t, s, sol, "list", args("match", "user:*", "count", float64(100))).(map[string]any)
	call(t, s, sol, "delete", args("key", "user:050"))
	call(t, s, sol, "set", args("key", "user:000a", "value", "v"))
	res = call(t, s, sol, "list", args("match", "user:*", "count", float64(1000), "cursor", res["cursor"])).(map[string]any)
	keys := res["keys"].([]any)
	equal(t, "next page starts after the cursor", keys[0], "user:100")
	equal(t, "next page length", len(keys), 150)

	// Expired keys are not listed.
	cmd(t, s, sol, "other", "pexpire", float64(10))
	clock.Advance(10 * time.Millisecond)
	res = call(t, s, sol, "list", args("match", "oth*")).(map[string]any)
	equal(t, "expired key listed", res["keys"], []any{})
}

func TestInfo(t *testing.T) {
	clock := newFakeClock()
	s := newStore(t, Options{MaxKeys: 50, MaxValueBytes: 4096, Now: clock.Now})
	const sol = "info"
	want := func(count, size int) map[string]any {
		return map[string]any{"count": float64(count), "size": float64(size),
			"quota": map[string]any{"keys": float64(50), "value_bytes": float64(4096)}}
	}
	equal(t, "empty", call(t, s, sol, "info", args()), want(0, 0))
	call(t, s, sol, "set", args("key", "ab", "value", "xyz")) // 2 + 1 + 3
	equal(t, "one key", call(t, s, sol, "info", nil), want(1, 6))
	cmd(t, s, sol, "l", "rpush", "a", "bc") // 1 + 1 + (1+1) + (1+2)
	equal(t, "two keys", call(t, s, sol, "info", nil), want(2, 13))
	call(t, s, sol, "set", args("key", "ab", "value", "x"))
	equal(t, "overwrite", call(t, s, sol, "info", nil), want(2, 11))
	cmd(t, s, sol, "ab", "expire", float64(1))
	clock.Advance(time.Second)
	equal(t, "after expiry", call(t, s, sol, "info", nil), want(1, 7))
	call(t, s, sol, "delete", args("key", "l"))
	equal(t, "after delete", call(t, s, sol, "info", nil), want(0, 0))
}

func TestClear(t *testing.T) {
	s := newStore(t, Options{})
	values := map[string]any{}
	for i := range 600 {
		values[fmt.Sprint("k", i)] = float64(i)
	}
	call(t, s, "c", "mset", args("values", values))
	cmd(t, s, "c", "list", "rpush", "x")
	equal(t, "count", call(t, s, "c", "info", nil).(map[string]any)["count"], float64(601))
	equal(t, "clear", call(t, s, "c", "clear", nil), map[string]any{})
	equal(t, "count after clear", call(t, s, "c", "info", nil).(map[string]any)["count"], float64(0))
	equal(t, "get after clear", call(t, s, "c", "get", args("key", "k1")), map[string]any{"value": nil})
	equal(t, "list after clear", call(t, s, "c", "list", nil), map[string]any{"keys": []any{}, "cursor": nil})
	call(t, s, "c", "set", args("key", "k1", "value", "again"))
	equal(t, "get after set", call(t, s, "c", "get", args("key", "k1")), map[string]any{"value": "again"})
}

func TestMulti(t *testing.T) {
	s := newStore(t, Options{})
	const sol = "multi"
	call(t, s, sol, "mset", args("values", args("a", "1", "b", float64(2), "c", true)))
	call(t, s, sol, "mset", args("keys", arr("d", "e", "d"), "values", arr("4", "5", "last")))
	cmd(t, s, sol, "list", "rpush", "x")
	equal(t, "mget", call(t, s, sol, "mget", args("keys", arr("a", "b", "c", "d", "e", "missing", "list"))),
		map[string]any{"values": map[string]any{"a": "1", "b": "2", "c": "true", "d": "last", "e": "5"}})
	equal(t, "mget none", call(t, s, sol, "mget", args("keys", arr())), map[string]any{"values": map[string]any{}})
	equal(t, "mset empty", call(t, s, sol, "mset", args("values", map[string]any{})), map[string]any{})
	equal(t, "mdelete", call(t, s, sol, "mdelete", args("keys", arr("a", "b", "missing", "a", "list"))), map[string]any{"deleted": float64(3)})
	equal(t, "mget after", call(t, s, sol, "mget", args("keys", arr("a", "b", "c"))), map[string]any{"values": map[string]any{"c": "true"}})
	big := make([]any, MaxBatch+1)
	for i := range big {
		big[i] = fmt.Sprint(i)
	}
	e := callErr(t, s, sol, "mget", args("keys", big))
	equal(t, "too many keys", e.Status, 400)
}

func TestQuota(t *testing.T) {
	clock := newFakeClock()
	s := newStore(t, Options{MaxKeys: 5, Now: clock.Now})
	const sol = "quota"
	for i := range 5 {
		call(t, s, sol, "set", args("key", fmt.Sprint(i), "value", "v"))
	}
	checkFull := func(what, op string, a any) {
		t.Helper()
		e := callErr(t, s, sol, op, a)
		equal(t, what+" status", e.Status, 507)
		if !strings.Contains(e.Message, "quota") || !strings.Contains(e.Message, "5 keys") {
			t.Fatalf("%s: message %q does not explain the quota", what, e.Message)
		}
	}
	checkFull("set", "set", args("key", "new", "value", "v"))
	checkFull("incr", "command", args("key", "new", "command", "incr"))
	checkFull("lpush", "lpush", args("key", "new", "args", arr("x")))
	checkFull("set EX", "command", args("key", "new", "command", "set", "args", arr("v", "EX", float64(5))))
	checkFull("mset", "mset", args("values", args("0", "x", "new", "v")))
	equal(t, "mset wrote nothing", call(t, s, sol, "get", args("key", "0")), map[string]any{"value": "v"})
	// Existing keys can still change.
	call(t, s, sol, "set", args("key", "0", "value", "w"))
	cmd(t, s, sol, "1", "append", "more")
	call(t, s, sol, "mset", args("values", args("2", "x", "3", "y")))
	// Deleting one frees one.
	call(t, s, sol, "delete", args("key", "4"))
	call(t, s, sol, "set", args("key", "new", "value", "v"))
	checkFull("set after refill", "set", args("key", "new2", "value", "v"))
	// Expired keys do not count, even before the sweeper removed them.
	cmd(t, s, sol, "new", "pexpire", float64(5))
	clock.Advance(5 * time.Millisecond)
	call(t, s, sol, "set", args("key", "new2", "value", "v"))
	equal(t, "info count", call(t, s, sol, "info", nil).(map[string]any)["count"], float64(5))
}

func TestValueTooLarge(t *testing.T) {
	s := newStore(t, Options{MaxValueBytes: 100})
	const sol = "big"
	call(t, s, sol, "set", args("key", "fits", "value", strings.Repeat("x", 100)))
	e := callErr(t, s, sol, "set", args("key", "k", "value", strings.Repeat("x", 101)))
	equal(t, "status", e.Status, 413)
	if !strings.Contains(e.Message, "too large") {
		t.Fatalf("message %q", e.Message)
	}
	e = callErr(t, s, sol, "append", args("key", "fits", "args", arr("y")))
	equal(t, "append status", e.Status, 413)
	for range 10 { // 10 × (1 length byte + 9)
		cmd(t, s, sol, "l", "rpush", strings.Repeat("z", 9))
	}
	e = callErr(t, s, sol, "rpush", args("key", "l", "args", arr(strings.Repeat("z", 9))))
	equal(t, "rpush status", e.Status, 413)
	equal(t, "list unchanged", cmd(t, s, sol, "l", "llen"), float64(10))
	e = callErr(t, s, sol, "mset", args("values", args("a", "1", "b", strings.Repeat("x", 200))))
	equal(t, "mset status", e.Status, 413)
	equal(t, "mset wrote nothing", call(t, s, sol, "get", args("key", "a")), map[string]any{"value": nil})

	def := New(s.bus, Options{})
	defer def.Close()
	call(t, def, sol, "set", args("key", "mib", "value", strings.Repeat("x", 1<<20)))
	e = callErr(t, def, sol, "set", args("key", "mib", "value", strings.Repeat("x", 1<<20+1)))
	equal(t, "default limit status", e.Status, 413)

	huge := New(s.bus, Options{MaxValueBytes: 64 << 20})
	defer huge.Close()
	if got := huge.Options().MaxValueBytes; got >= 8<<20 {
		t.Fatalf("MaxValueBytes %d not capped below the max payload", got)
	}
}

func TestRestartDurability(t *testing.T) {
	dir := t.TempDir()
	b := openBus(t, dir)
	s := New(b, Options{MaxKeys: 4})
	cmd(t, s, "dur", "gone", "set", "v")
	call(t, s, "dur", "delete", args("key", "gone"))
	call(t, s, "dur", "set", args("key", "plain", "value", "kept"))
	cmd(t, s, "dur", "list", "rpush", "a", "b")
	cmd(t, s, "dur", "set", "sadd", "m")
	cmd(t, s, "dur", "ttl", "set", "v", "EX", float64(3600))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openBus(t, dir)
	defer b.Close()
	s = New(b, Options{MaxKeys: 4})
	defer s.Close()
	equal(t, "plain", call(t, s, "dur", "get", args("key", "plain")), map[string]any{"value": "kept"})
	equal(t, "list", cmd(t, s, "dur", "list", "lrange", float64(0), float64(-1)), []any{"a", "b"})
	equal(t, "set", cmd(t, s, "dur", "set", "smembers"), []any{"m"})
	if ttl := cmd(t, s, "dur", "ttl", "ttl").(float64); ttl < 3590 || ttl > 3600 {
		t.Fatalf("ttl after restart = %v", ttl)
	}
	equal(t, "deleted", call(t, s, "dur", "get", args("key", "gone")), map[string]any{"value": nil})
	// The quota was recounted from storage: four keys, so a fifth does not fit.
	equal(t, "count", call(t, s, "dur", "info", nil).(map[string]any)["count"], float64(4))
	e := callErr(t, s, "dur", "set", args("key", "fifth", "value", "v"))
	equal(t, "quota after restart", e.Status, 507)
}

func TestDrop(t *testing.T) {
	s := newStore(t, Options{})
	ctx := tctx(t)
	call(t, s, "doomed", "set", args("key", "a", "value", "1"))
	cmd(t, s, "doomed", "l", "rpush", "x")
	call(t, s, "kept", "set", args("key", "a", "value", "2"))
	if err := s.Drop(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.KeyValue(ctx, bucketPrefix+"doomed"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("bucket after Drop: %v", err)
	}
	equal(t, "get", call(t, s, "doomed", "get", args("key", "a")), map[string]any{"value": nil})
	equal(t, "info", call(t, s, "doomed", "info", nil).(map[string]any)["count"], float64(0))
	equal(t, "other solution", call(t, s, "kept", "get", args("key", "a")), map[string]any{"value": "2"})
	// Dropping again, or a solution that never wrote, is fine.
	if err := s.Drop(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, "never"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, "Bad Id"); err == nil {
		t.Fatal("Drop of an invalid id succeeded")
	}
	// The solution can start over.
	call(t, s, "doomed", "set", args("key", "b", "value", "3"))
	equal(t, "list after restart", call(t, s, "doomed", "list", nil), map[string]any{"keys": []any{"b"}, "cursor": nil})
}

func TestClose(t *testing.T) {
	s := newStore(t, Options{})
	call(t, s, "c", "set", args("key", "a", "value", "1"))
	call(t, s, "c", "list", nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	e := callErr(t, s, "c", "get", args("key", "a"))
	equal(t, "status after Close", e.Status, 503)
}

func TestSpec(t *testing.T) {
	s := newStore(t, Options{})
	spec := s.Spec()
	equal(t, "name", spec.Name, "keystore")
	equal(t, "kind", spec.Kind, "core")
	seen := map[string]bool{}
	for _, op := range spec.Operations {
		if op.Description == "" || strings.Contains(op.Description, "\n") {
			t.Errorf("operation %q: description %q is not one line", op.Name, op.Description)
		}
		if seen[op.Name] {
			t.Errorf("operation %q listed twice", op.Name)
		}
		seen[op.Name] = true
		// Every listed operation is callable: a bad call fails as a bad request, never as unknown.
		if _, err := s.Call(tctx(t), "spec", op.Name, args("key", "k", "args", arr("1", "2"))); err != nil {
			if se := err.(interface{ StatusCode() int }); se.StatusCode() == 404 {
				t.Errorf("operation %q is listed but unknown: %v", op.Name, err)
			}
		}
	}
	for _, name := range []string{"get", "set", "delete", "list", "info", "clear", "mget", "mset", "mdelete", "command", "incrby", "lpush", "ttl"} {
		if !seen[name] {
			t.Errorf("operation %q missing from the spec", name)
		}
	}
}

// TestIndexConsumerRemoved checks that with the in-process server an index, once loaded, leaves
// no consumer behind on the bucket.
func TestIndexConsumerRemoved(t *testing.T) {
	s := newStore(t, Options{})
	call(t, s, "cons", "mset", args("values", args("a", "1", "b", "2")))
	other := New(s.bus, Options{})
	defer other.Close()
	equal(t, "count loaded by a second store", call(t, other, "cons", "info", nil).(map[string]any)["count"], float64(2))
	stream, err := s.js.Stream(tctx(t), "KV_"+bucketPrefix+"cons")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "no consumers left", 5*time.Second, func() bool {
		info, err := stream.Info(tctx(t))
		return err == nil && info.State.Consumers == 0
	})
}
