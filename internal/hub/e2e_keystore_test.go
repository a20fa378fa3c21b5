package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// The headline: a solution endpoint that writes and reads its keystore.
func TestKeystoreHeadline(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "demo", nil)
	s.Deploy(t, "demo", "GET", "/dynamic-service",
		"Keystore.set({key=\"my-key\", value=\"my-key-value-updated\"})\nreturn Keystore.get({key=\"my-key\"})")
	for range 2 {
		wantJSON(t, call(t, s, "GET", "/apps/demo/dynamic-service", 10*time.Second), `{"value":"my-key-value-updated"}`)
	}
}

// keystoreEndpoints deploys the endpoints the isolation tests drive a solution's keystore with.
func keystoreEndpoints(t *testing.T, s *hubtest.Server, sol string) {
	t.Helper()
	s.Deploy(t, sol, "POST", "/set", `local r = Keystore.set({key = request.body.key, value = request.body.value})
return {error = r.error, status = r.status, ok = r.error == nil}`)
	s.Deploy(t, sol, "POST", "/get", `local r = Keystore.get({key = request.body.key})
return {value = r.value, missing = r.value == nil, error = r.error}`)
	s.Deploy(t, sol, "GET", "/keys", `local r = Keystore.list({count = 1000})
local keys = r.keys or {}
table.sort(keys)
return {n = #keys, keys = keys, count = Keystore.info().count}`)
	s.Deploy(t, sol, "POST", "/clear", `local r = Keystore.clear()
return {ok = r.error == nil, error = r.error}`)
}

// ksSet and ksGet drive those endpoints.
func ksSet(t *testing.T, s *hubtest.Server, sol, key, value string) {
	t.Helper()
	r := s.Do(t, "POST", "/apps/"+sol+"/set", "", map[string]any{"key": key, "value": value})
	if r.Status != http.StatusOK || r.Map(t)["ok"] != true {
		t.Fatalf("%s: set %q: %d %s", sol, key, r.Status, r.Body)
	}
}

// ksGet returns the value, and whether the key exists.
func ksGet(t *testing.T, s *hubtest.Server, sol, key string) (string, bool) {
	t.Helper()
	r := s.Do(t, "POST", "/apps/"+sol+"/get", "", map[string]any{"key": key})
	if r.Status != http.StatusOK {
		t.Fatalf("%s: get %q: %d %s", sol, key, r.Status, r.Body)
	}
	m := r.Map(t)
	if m["error"] != nil {
		t.Fatalf("%s: get %q failed: %s", sol, key, r.Body)
	}
	v, _ := m["value"].(string)
	return v, m["missing"] != true
}

// ksKeys returns the keys a solution lists, and the count its info tells.
func ksKeys(t *testing.T, s *hubtest.Server, sol string) ([]string, int) {
	t.Helper()
	r := s.Do(t, "GET", "/apps/"+sol+"/keys", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("%s: list keys: %d %s", sol, r.Status, r.Body)
	}
	var out struct {
		N     int             `json:"n"`
		Keys  json.RawMessage `json:"keys"`
		Count int             `json:"count"`
	}
	r.JSON(t, &out)
	var keys []string
	if out.N > 0 { // an empty Lua table may come out as {} or []
		if err := json.Unmarshal(out.Keys, &keys); err != nil {
			t.Fatalf("%s: keys are not a list: %s", sol, r.Body)
		}
	}
	return keys, out.Count
}

func TestKeystoreOperations(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	// failed wraps a call that must fail without raising: its status and whether it has an error.
	const failed = `local function failed(f)
  local ok, r = pcall(f)
  if not ok then return {raised = tostring(r)} end
  return {status = r.status, has_error = type(r.error) == "string", wrongtype = type(r.error) == "string" and r.error:sub(1, 9) == "WRONGTYPE" or nil}
end
`
	cases := []struct {
		name, script, want string
	}{
		{"set then get", `Keystore.set({key = "k", value = "v"})
return Keystore.get({key = "k"})`, `{"value":"v"}`},
		{"set answers no error", `local r = Keystore.set({key = "k", value = "v"})
return {error = r.error, status = r.status, ok = true}`, `{"ok":true}`},
		{"overwrite", `Keystore.set({key = "k", value = "one"})
Keystore.set({key = "k", value = "two"})
return Keystore.get({key = "k"})`, `{"value":"two"}`},
		{"get missing", `local r = Keystore.get({key = "nope"})
return {missing = r.value == nil, error = r.error}`, `{"missing":true}`},
		{"empty and binary values", `Keystore.set({key = "e", value = ""})
Keystore.set({key = "b", value = "a\0b\255"})
local e, b = Keystore.get({key = "e"}), Keystore.get({key = "b"})
return {e = e.value, blen = #b.value, bok = b.value == "a\0b\255"}`, `{"e":"","blen":4,"bok":true}`},
		{"delete", `Keystore.set({key = "k", value = "v"})
local d1 = Keystore.delete({key = "k"})
local d2 = Keystore.delete({key = "k"})
return {d1 = d1.deleted, d2 = d2.deleted, missing = Keystore.get({key = "k"}).value == nil}`, `{"d1":1,"d2":0,"missing":true}`},
		{"list by match", `for _, k in ipairs({"user:1", "user:2", "order:1"}) do Keystore.set({key = k, value = "x"}) end
local users = Keystore.list({match = "user:*"}).keys
local all = Keystore.list().keys
table.sort(users)
table.sort(all)
return {users = users, all = all}`, `{"users":["user:1","user:2"],"all":["order:1","user:1","user:2"]}`},
		{"list in pages", `for i = 1, 5 do Keystore.set({key = "p" .. i, value = "x"}) end
local seen, cursor, pages = {}, nil, 0
repeat
  local r = Keystore.list({count = 2, cursor = cursor})
  for _, k in ipairs(r.keys) do seen[#seen + 1] = k end
  cursor = r.cursor
  pages = pages + 1
until cursor == nil or cursor == "" or cursor == "0" or cursor == 0 or pages > 10
table.sort(seen)
return {seen = seen, more_than_one_page = pages > 1}`, `{"seen":["p1","p2","p3","p4","p5"],"more_than_one_page":true}`},
		{"info", `Keystore.set({key = "a", value = "12345"})
Keystore.set({key = "b", value = "x"})
local r = Keystore.info()
return {count = r.count, size = r.size >= 8, quota = r.quota.keys > 0 and r.quota.value_bytes > 0}`, `{"count":2,"size":true,"quota":true}`},
		{"clear", `Keystore.set({key = "a", value = "1"})
Keystore.set({key = "b", value = "2"})
local r = Keystore.clear()
return {error = r.error, count = Keystore.info().count, missing = Keystore.get({key = "a"}).value == nil}`, `{"count":0,"missing":true}`},
		{"mset and mget", `Keystore.mset({values = {a = "1", b = "2"}})
return Keystore.mget({keys = {"a", "b", "c"}})`, `{"values":{"a":"1","b":"2"}}`},
		{"mset with keys and values", `Keystore.mset({keys = {"x", "y"}, values = {"10", "20"}})
return Keystore.mget({keys = {"x", "y"}})`, `{"values":{"x":"10","y":"20"}}`},
		{"mdelete", `Keystore.mset({values = {a = "1", b = "2", c = "3"}})
local r = Keystore.mdelete({keys = {"a", "b", "zz"}})
return {deleted = r.deleted, left = Keystore.list().keys}`, `{"deleted":2,"left":["c"]}`},
		{"incrby", `Keystore.command({key = "n", command = "incrby", args = {5}})
local r = Keystore.command({key = "n", command = "incrby", args = {5}})
return {value = r.value, stored = Keystore.get({key = "n"}).value}`, `{"value":10,"stored":"10"}`},
		{"command as an operation", `local r = Keystore.incrby({key = "m", args = {3}})
return {value = r.value}`, `{"value":3}`},
		{"lpush and lrange", `local n = Keystore.command({key = "l", command = "lpush", args = {"a", "b", "c"}})
local r = Keystore.command({key = "l", command = "lrange", args = {0, -1}})
return {n = n.value, items = r.value}`, `{"n":3,"items":["c","b","a"]}`},
		{"sadd and smembers", `local n = Keystore.command({key = "s", command = "sadd", args = {"x", "y", "x"}})
local r = Keystore.command({key = "s", command = "smembers"})
table.sort(r.value)
return {n = n.value, members = r.value}`, `{"n":2,"members":["x","y"]}`},
		{"expire and ttl", `Keystore.set({key = "e", value = "v"})
Keystore.set({key = "p", value = "v"})
local e = Keystore.command({key = "e", command = "expire", args = {100}})
local ttl = Keystore.command({key = "e", command = "ttl"}).value
return {expire = e.value, ttl = ttl > 0 and ttl <= 100,
  persistent = Keystore.command({key = "p", command = "ttl"}).value,
  missing = Keystore.command({key = "nope", command = "ttl"}).value}`, `{"expire":1,"ttl":true,"persistent":-1,"missing":-2}`},
		{"set clears an expiry", `Keystore.set({key = "e", value = "v"})
Keystore.command({key = "e", command = "expire", args = {100}})
Keystore.set({key = "e", value = "w"})
return {ttl = Keystore.command({key = "e", command = "ttl"}).value}`, `{"ttl":-1}`},
		{"wrong type fails without raising", failed + `Keystore.set({key = "str", value = "s"})
return failed(function() return Keystore.command({key = "str", command = "lpush", args = {"x"}}) end)`, `{"status":400,"has_error":true,"wrongtype":true}`},
		{"not an integer fails without raising", failed + `Keystore.set({key = "str", value = "abc"})
return failed(function() return Keystore.command({key = "str", command = "incrby", args = {1}}) end)`, `{"status":400,"has_error":true}`},
		{"missing key argument fails without raising", failed + `return failed(function() return Keystore.get({}) end)`, `{"status":400,"has_error":true}`},
		{"key too long fails without raising", failed + `return failed(function() return Keystore.set({key = string.rep("k", 1025), value = "v"}) end)`, `{"status":400,"has_error":true}`},
		{"value too large fails without raising", failed + `return failed(function() return Keystore.set({key = "big", value = string.rep("x", 2^20 + 1)}) end)`, `{"status":413,"has_error":true}`},
		{"unknown operation fails without raising", failed + `return failed(function() return Keystore.nosuchop({key = "k"}) end)`, `{"status":404,"has_error":true}`},
	}
	for i, tc := range cases {
		sol := "ks" + strconv.Itoa(i)
		createSolution(t, s, sol, nil)
		s.Deploy(t, sol, "GET", "/run", tc.script)
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantJSON(t, call(t, s, "GET", "/apps/"+sol+"/run", 20*time.Second), tc.want)
		})
	}
}

func TestKeystoreExpiry(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "exp", nil)
	keystoreEndpoints(t, s, "exp")
	s.Deploy(t, "exp", "POST", "/pexpire", `return Keystore.command({key = request.body.key, command = "pexpire", args = {request.body.ms}})`)
	ksSet(t, s, "exp", "short", "lived")
	ksSet(t, s, "exp", "long", "lived")
	if r := s.Do(t, "POST", "/apps/exp/pexpire", "", map[string]any{"key": "short", "ms": 200}); r.Status != 200 || r.Map(t)["value"] != float64(1) {
		t.Fatalf("pexpire: %d %s", r.Status, r.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := ksGet(t, s, "exp", "short"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a key with a 200ms expiry still exists after 10s")
		}
	}
	if v, ok := ksGet(t, s, "exp", "long"); !ok || v != "lived" {
		t.Errorf("the key without expiry: %q %v", v, ok)
	}
	if keys, n := ksKeys(t, s, "exp"); !reflect.DeepEqual(keys, []string{"long"}) {
		t.Errorf("keys after expiry %v (info count %d), want [long]", keys, n)
	}
}

func TestKeystoreIsolation(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	for _, sol := range []string{"a", "b"} {
		createSolution(t, s, sol, nil)
		keystoreEndpoints(t, s, sol)
	}
	// Key strings that try to name the other solution's data, or mean something to NATS.
	keys := []string{"x", "../b/x", "b/x", "b.x", "*", ">", "a.>", "$KV.sb_ks_b.eA", "sb_ks_b", "a b", " x", "ключ", strings.Repeat("k", 1024)}
	for _, k := range keys {
		t.Run(fmt.Sprintf("key %.20q", k), func(t *testing.T) {
			ksSet(t, s, "a", k, "from a")
			if v, ok := ksGet(t, s, "b", k); ok {
				t.Fatalf("b reads a's %q: %q", k, v)
			}
			ksSet(t, s, "b", k, "from b")
			if v, _ := ksGet(t, s, "a", k); v != "from a" {
				t.Errorf("a's %q = %q after b set its own, want from a", k, v)
			}
			if v, _ := ksGet(t, s, "b", k); v != "from b" {
				t.Errorf("b's %q = %q, want from b", k, v)
			}
		})
	}
	sorted := append([]string(nil), keys...)
	slices.Sort(sorted)
	for _, sol := range []string{"a", "b"} {
		if got, n := ksKeys(t, s, sol); !reflect.DeepEqual(got, sorted) || n != len(keys) {
			t.Errorf("%s lists %d keys (info count %d), want exactly its own %d", sol, len(got), n, len(keys))
		}
	}
	// b clearing its keystore leaves a's alone.
	if r := s.Do(t, "POST", "/apps/b/clear", "", map[string]any{}); r.Status != 200 || r.Map(t)["ok"] != true {
		t.Fatalf("b clear: %d %s", r.Status, r.Body)
	}
	if got, n := ksKeys(t, s, "b"); len(got) != 0 || n != 0 {
		t.Errorf("b after clear: %v (count %d)", got, n)
	}
	if got, n := ksKeys(t, s, "a"); len(got) != len(keys) || n != len(keys) {
		t.Errorf("a after b's clear: %d keys (count %d), want %d", len(got), n, len(keys))
	}
	if v, _ := ksGet(t, s, "a", "../b/x"); v != "from a" {
		t.Errorf("a's ../b/x after b's clear = %q", v)
	}
}

func TestKeystoreConcurrentUpdates(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "count", nil)
	s.Deploy(t, "count", "POST", "/hit", `local r = Keystore.command({key = "hits", command = "incr"})
if r.error then response.code = 500 return r end
return {value = r.value}`)
	s.Deploy(t, "count", "GET", "/hits", `return Keystore.get({key = "hits"})`)
	const workers, each = 4, 25
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				r, err := fetch(ctx, "POST", s.URL+"/apps/count/hit", strings.NewReader(`{}`))
				if err != nil || r.Status != 200 {
					errs <- fmt.Sprintf("hit: %v %d %s", err, r.Status, r.Body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	wantJSON(t, call(t, s, "GET", "/apps/count/hits", 10*time.Second), fmt.Sprintf(`{"value":"%d"}`, workers*each))
}

// Deleting a solution deletes its keystore and endpoints; the same id made again starts empty.
func TestKeystoreDeletedWithSolution(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	oldToken := createSolution(t, s, "gone", nil)
	createSolution(t, s, "stays", nil)
	for _, sol := range []string{"gone", "stays"} {
		keystoreEndpoints(t, s, sol)
		ksSet(t, s, sol, "k", "old value")
	}
	if r := s.Do(t, "DELETE", "/api/v1/solutions/gone", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	wantAPIError(t, s.Do(t, "POST", "/apps/gone/get", "", map[string]any{"key": "k"}), http.StatusNotFound, "")

	newToken := createSolution(t, s, "gone", nil)
	if newToken == oldToken {
		t.Fatal("the new solution got the old token")
	}
	wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions/gone", oldToken, nil), http.StatusUnauthorized, "")
	wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions/gone/endpoints", oldToken, nil), http.StatusUnauthorized, "")
	if r := s.Do(t, "GET", "/api/v1/solutions/gone/endpoints", newToken, nil); r.Status != 200 || len(ids(t, r)) != 0 {
		t.Errorf("endpoints of the new solution: %d %s, want none", r.Status, r.Body)
	}
	wantAPIError(t, s.Do(t, "POST", "/apps/gone/get", "", map[string]any{"key": "k"}), http.StatusNotFound, "")

	keystoreEndpoints(t, s, "gone")
	if v, ok := ksGet(t, s, "gone", "k"); ok {
		t.Errorf("the new solution reads the old one's key: %q", v)
	}
	if keys, n := ksKeys(t, s, "gone"); len(keys) != 0 || n != 0 {
		t.Errorf("the new solution has keys %v (count %d)", keys, n)
	}
	if v, _ := ksGet(t, s, "stays", "k"); v != "old value" {
		t.Errorf("another solution's key after the delete = %q", v)
	}
}

// A run still going when its solution is deleted cannot write into the keystore after the
// delete, so the same id made again starts empty.
func TestKeystoreDeleteWithRunInFlight(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "victim", nil)
	keystoreEndpoints(t, s, "victim")
	// The slow endpoint marks that it started and waits until its keystore is gone (at most
	// 4 s), then writes.
	s.Deploy(t, "victim", "GET", "/slow", `
Keystore.set({key="started", value="1"})
local t = os.clock()
while os.clock() - t < 4 and Keystore.get({key="started"}).value == "1" do end
return Keystore.set({key="secret", value="old-tenant-data"})`)
	done := make(chan hubtest.Response, 1)
	go func() { done <- call(t, s, "GET", "/apps/victim/slow", 20*time.Second) }()
	hubtest.Eventually(t, "the slow run to start", func() bool {
		v, _ := ksGet(t, s, "victim", "started")
		return v == "1"
	})
	if r := s.Do(t, "DELETE", "/api/v1/solutions/victim", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	r := <-done
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"status":404`) {
		t.Fatalf("the in-flight run's write after the delete: %d %s, want the keystore's 404", r.Status, r.Body)
	}
	createSolution(t, s, "victim", nil)
	keystoreEndpoints(t, s, "victim")
	if v, ok := ksGet(t, s, "victim", "secret"); ok {
		t.Fatalf("the re-created solution reads the deleted one's write: %q", v)
	}
}
