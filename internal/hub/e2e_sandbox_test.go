package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// What a failed run must name: the limit it hit, or for a refused feature a clear error. The
// text searched is the 500's error and the server's log line for its error id.
var (
	timeLimit   = regexp.MustCompile(`(?i)time|deadline|step|instruction`)
	memoryLimit = regexp.MustCompile(`(?i)memory`)
	depthLimit  = regexp.MustCompile(`(?i)depth|stack overflow`)
)

// failureText is the 500's error and the logged error of its error id, for matching.
func failureText(t *testing.T, s *hubtest.Server, r hubtest.Response) string {
	t.Helper()
	msg, line := scriptFailure(t, s, r)
	logged, _ := line["err"].(string)
	return msg + " | logged: " + logged
}

const healthyScript = `return {ok = true, n = #string.rep("ab", 1000)}`

// wantHealthy checks the healthy script's answer.
func wantHealthy(t *testing.T, r hubtest.Response) {
	t.Helper()
	wantJSON(t, r, `{"ok":true,"n":2000}`)
}

func TestSandboxHostileScripts(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	// evil has a short time limit for the runs that never end; hog a small memory limit and a
	// time limit long enough that only the memory limit can stop its runs in time.
	createSolution(t, s, "evil", map[string]any{"timeout_ms": 1000, "memory_bytes": 8 << 20})
	createSolution(t, s, "hog", map[string]any{"timeout_ms": 10000, "memory_bytes": 2 << 20})
	createSolution(t, s, "good", nil)
	for _, sol := range []string{"good", "evil", "hog"} {
		s.Deploy(t, sol, "GET", "/ok", healthyScript)
	}

	cases := []struct {
		name, script string
		want         *regexp.Regexp
		kind         string // endless: runs on evil until its time limit, others must overlap it; evil; hog
	}{
		{"endless loop", `while true do end`, timeLimit, "endless"},
		{"endless loop of calls", `local function f() return 1 end
while true do f() end`, timeLimit, "endless"},
		{"endless loop of pcalls", `while true do pcall(function() while true do end end) end`, timeLimit, "endless"},
		{"endless tail calls", `local function f(n) return f(n + 1) end
return f(1)`, timeLimit, "endless"},
		{"endless loop in a coroutine", `coroutine.wrap(function() while true do end end)()`, timeLimit, "endless"},
		{"unbounded recursion", `local function f(n) return 1 + f(n + 1) end
return f(1)`, depthLimit, "evil"},
		{"recursive __index", `local t = setmetatable({}, {__index = function(t, k) return t[k] end})
return t.x`, regexp.MustCompile(`(?i)depth|stack overflow|time|step`), "evil"},
		{"table grown without end", `local t = {}
local i = 0
while true do i = i + 1; t[i] = i end`, memoryLimit, "hog"},
		{"strings kept in a table", `local t = {}
local i = 0
while true do i = i + 1; t[i] = "item " .. i end`, memoryLimit, "hog"},
		{"string doubling", `local s = "x"
while true do s = s .. s end`, memoryLimit, "hog"},
		{"string doubling caught by pcall", `while true do pcall(function() local s = "x" while true do s = s .. s end end) end`, regexp.MustCompile(`(?i)memory|time|step`), "evil"},
		{"string doubling in a coroutine", `coroutine.wrap(function() local s = "x" while true do s = s .. s end end)()`, memoryLimit, "hog"},
		{"string.rep of gigabytes", `return #string.rep("x", 2^31)`, memoryLimit, "hog"},
		{"string.rep method of gigabytes", `local s = ("abcd"):rep(2^28)
return #s`, memoryLimit, "hog"},
		{"string.format of a huge width", `return string.format("%099999999d", 1)`, regexp.MustCompile(`(?i)memory|format|width|invalid`), "hog"},
		{"table.concat of gigabytes", `local s = string.rep("x", 2^20)
local t = {}
for i = 1, 2048 do t[i] = s end
return #table.concat(t)`, memoryLimit, "hog"},
		{"gsub to gigabytes", `local s = string.rep("x", 2^20)
local out = s:gsub("x", string.rep("y", 1024))
return #out`, memoryLimit, "hog"},
		{"thousands of coroutines", `local cs = {}
for i = 1, 20000 do
  local co = coroutine.create(function() coroutine.yield() end)
  coroutine.resume(co)
  cs[i] = co
end
return #cs`, regexp.MustCompile(`(?i)memory|coroutine|thread`), "hog"},
		{"unpack of a huge range", `return select("#", unpack({}, 1, 1e8))`, regexp.MustCompile(`(?i)memory|stack|overflow|too many|results`), "hog"},
		{"cyclic table returned", `local t = {}
t.self = t
return t`, regexp.MustCompile(`(?i)cycl|circular|recurs|depth|nest|memory|stack`), "evil"},
	}
	for i, tc := range cases {
		path := "/hostile/" + strconv.Itoa(i)
		sol := "evil"
		if tc.kind == "hog" {
			sol = "hog"
		}
		s.Deploy(t, sol, "GET", path, tc.script)
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				r       hubtest.Response
				err     error
				elapsed time.Duration
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan result, 1)
			go func() {
				start := time.Now()
				r, err := fetch(ctx, "GET", s.URL+"/apps/"+sol+path, nil)
				done <- result{r, err, time.Since(start)}
			}()
			// Another solution keeps answering while the hostile run goes on.
			var res result
			overlapped := 0
		wait:
			for {
				wantHealthy(t, call(t, s, "GET", "/apps/good/ok", 10*time.Second))
				select {
				case res = <-done:
					break wait
				default:
					overlapped++
				}
			}
			if res.err != nil {
				t.Fatalf("hostile request: %v (after %s)", res.err, res.elapsed)
			}
			if tc.kind == "endless" && overlapped == 0 {
				t.Errorf("no request of another solution finished while the hostile one ran for %s", res.elapsed)
			}
			if res.elapsed > 6*time.Second {
				t.Errorf("hostile run took %s", res.elapsed)
			}
			text := failureText(t, s, res.r)
			if !tc.want.MatchString(text) {
				t.Errorf("failure does not name %s: %s", tc.want, text)
			}
			t.Logf("after %s: %s", res.elapsed.Round(time.Millisecond), text)
			// The hostile solution itself recovers for its next run.
			wantHealthy(t, call(t, s, "GET", "/apps/"+sol+"/ok", 10*time.Second))
		})
	}
}

func TestSandboxForbiddenFunctions(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "sneaky", map[string]any{"timeout_ms": 2000})
	s.Deploy(t, "sneaky", "GET", "/ok", healthyScript)
	dir := t.TempDir()
	mark := filepath.Join(dir, "created")   // must never appear
	keep := filepath.Join(dir, "untouched") // must stay as it is
	if err := os.WriteFile(keep, []byte("original"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := strconv.Quote
	cases := []struct{ name, script string }{
		{"os.execute", fmt.Sprintf(`os.execute("touch %s")`, mark)},
		{"os.exit", `os.exit(3)`},
		{"os.remove", fmt.Sprintf(`os.remove(%s)`, q(keep))},
		{"os.rename", fmt.Sprintf(`os.rename(%s, %s)`, q(keep), q(mark))},
		{"os.getenv", `return os.getenv("HOME") or "no home"`},
		{"os.tmpname", `return os.tmpname()`},
		{"io.open", fmt.Sprintf(`local f = io.open(%s, "w") f:write("x") f:close()`, q(mark))},
		{"io.popen", fmt.Sprintf(`io.popen("touch %s")`, mark)},
		{"io.write", `io.write("leak")`},
		{"io.lines", `for l in io.lines("/etc/passwd") do return l end`},
		{"require", `local os2 = require("os") os2.execute("true")`},
		{"package.loadlib", `package.loadlib("libc.so.6", "system")`},
		{"dofile", `return dofile("/etc/passwd")`},
		{"loadfile", `return loadfile("/etc/passwd")()`},
		{"loadstring of bytecode", `return assert(loadstring("\27LuaQ\0\1\4\8\4\8\0"))()`},
		{"load of bytecode", `local sent = false
local f = assert(load(function() if sent then return nil end sent = true return "\27LuaQ\0\1\4\8\4\8\0" end))
return f()`},
		{"debug.getinfo", `return debug.getinfo(1).source`},
		{"debug.sethook", `debug.sethook()`},
		{"debug.getregistry", `return debug.getregistry()`},
		{"string.dump", `return string.dump(function() return 1 end)`},
		{"string.dump as a method", `return ("").dump(function() return 1 end)`},
		{"io through getfenv", fmt.Sprintf(`getfenv(0).io.open(%s, "w")`, q(mark))},
		{"os through rawget", `return rawget(_G, "os").execute("true")`},
	}
	for i, tc := range cases {
		path := "/forbidden/" + strconv.Itoa(i)
		s.Deploy(t, "sneaky", "GET", path, tc.script)
		t.Run(tc.name, func(t *testing.T) {
			scriptFailure(t, s, call(t, s, "GET", "/apps/sneaky"+path, 10*time.Second))
			if _, err := os.Stat(mark); err == nil {
				t.Fatalf("the script made %s", mark)
			}
			if b, err := os.ReadFile(keep); err != nil || string(b) != "original" {
				t.Fatalf("the script changed %s: %q %v", keep, b, err)
			}
			wantHealthy(t, call(t, s, "GET", "/apps/sneaky/ok", 10*time.Second))
		})
	}
}

func TestSandboxNoLeaksBetweenRuns(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "leaker", nil)
	createSolution(t, s, "checker", nil)
	// Every change is tried under pcall: a sandbox may refuse it or allow it for this run only.
	s.Deploy(t, "leaker", "GET", "/leak", `
X = 1
pcall(function() rawset(_G, "Y", 2) end)
pcall(function() string.upper = nil end)
pcall(function() string.lower = function() return "pwned" end end)
pcall(function() table.insert = nil end)
pcall(function() math.floor = function() return -1 end end)
pcall(function() getmetatable("").__index = {upper = function() return "pwned" end} end)
pcall(function() getmetatable("").__index.upper = function() return "pwned" end end)
pcall(function() rawset(getmetatable(""), "__index", {}) end)
pcall(function() setmetatable(_G, {__index = function(_, k) return "leaked " .. k end}) end)
pcall(function() Keystore = nil end)
pcall(function() Config = {solution = function() return {id = "leaker"} end} end)
return "done"`)
	const check = `
local function try(f) local ok, v = pcall(f) if ok then return v end return "error" end
return {
  x = X, y = Y,
  up = try(function() return string.upper("a") end),
  m = try(function() return ("a"):upper() end),
  low = try(function() return string.lower("A") end),
  ins = try(function() local t = {} table.insert(t, "i") return t[1] end),
  fl = try(function() return math.floor(1.5) end),
  ks = Keystore ~= nil,
  sol = try(function() return Config.solution().id end),
}`
	s.Deploy(t, "leaker", "GET", "/check", check)
	s.Deploy(t, "checker", "GET", "/check", check)
	want := func(sol string) string {
		return `{"up":"A","m":"A","low":"a","ins":"i","fl":1,"ks":true,"sol":"` + sol + `"}`
	}

	// The leaker's own run may change its globals.
	wantText(t, call(t, s, "GET", "/apps/leaker/leak", 10*time.Second), "done")

	t.Run("in turn", func(t *testing.T) {
		for range 10 {
			wantText(t, call(t, s, "GET", "/apps/leaker/leak", 10*time.Second), "done")
			wantJSON(t, call(t, s, "GET", "/apps/checker/check", 10*time.Second), want("checker"))
			wantJSON(t, call(t, s, "GET", "/apps/leaker/check", 10*time.Second), want("leaker"))
		}
	})

	t.Run("concurrently", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan string, 200)
		for range 4 {
			wg.Go(func() {
				for range 10 {
					for _, p := range []string{"/apps/leaker/leak", "/apps/checker/check", "/apps/leaker/check"} {
						r, err := fetch(ctx, "GET", s.URL+p, nil)
						switch {
						case err != nil:
							errs <- fmt.Sprintf("%s: %v", p, err)
						case p == "/apps/leaker/leak":
							if r.Status != 200 || string(r.Body) != "done" {
								errs <- fmt.Sprintf("%s: %d %s", p, r.Status, r.Body)
							}
						default:
							sol := strings.Split(p, "/")[2]
							var got, exp any
							_ = json.Unmarshal([]byte(want(sol)), &exp)
							if r.Status != 200 || json.Unmarshal(r.Body, &got) != nil || !reflect.DeepEqual(got, exp) {
								errs <- fmt.Sprintf("%s: %d %s, want %s", p, r.Status, r.Body, want(sol))
							}
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		n := 0
		for e := range errs {
			if n++; n <= 5 {
				t.Error(e)
			}
		}
		if n > 5 {
			t.Errorf("… and %d more", n-5)
		}
	})
}

func TestSandboxPerSolutionLimits(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "tight", nil)
	createSolution(t, s, "roomy", nil)
	scripts := map[string]string{
		"/steps":  `local n = 0 for i = 1, 20000 do n = n + 1 end return "counted " .. n`,
		"/depth":  `local function f(d) if d == 0 then return 0 end return 1 + f(d - 1) end return "depth " .. f(100)`,
		"/memory": `return "bytes " .. #string.rep("x", 2^21)`,
		"/time":   `local t0 = os.clock() while os.clock() - t0 < 0.3 do end return "slept"`,
		"/limits": `return Config.solution().limits`,
	}
	for _, sol := range []string{"tight", "roomy"} {
		for path, script := range scripts {
			s.Deploy(t, sol, "GET", path, script)
		}
	}
	ok := map[string]string{"/steps": "counted 20000", "/depth": "depth 100", "/memory": "bytes 2097152", "/time": "slept"}
	patch := func(t *testing.T, limits map[string]any) {
		t.Helper()
		r := s.Do(t, "PATCH", "/api/v1/solutions/tight", s.AdminToken, map[string]any{"limits": limits})
		if r.Status != http.StatusOK {
			t.Fatalf("patch limits %v: %d %s", limits, r.Status, r.Body)
		}
	}
	for path, body := range ok {
		wantText(t, call(t, s, "GET", "/apps/tight"+path, 20*time.Second), body)
	}
	cases := []struct {
		name   string
		limits map[string]any
		path   string
		want   *regexp.Regexp
	}{
		{"steps", map[string]any{"steps": 10000}, "/steps", regexp.MustCompile(`(?i)step|instruction`)},
		{"call depth", map[string]any{"call_depth": 50}, "/depth", depthLimit},
		{"memory", map[string]any{"memory_bytes": 1 << 20}, "/memory", memoryLimit},
		{"timeout", map[string]any{"timeout_ms": 100, "steps": 1_000_000_000}, "/time", regexp.MustCompile(`(?i)time|deadline`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			patch(t, tc.limits)
			lim := call(t, s, "GET", "/apps/tight/limits", 10*time.Second).Map(t)
			for k, v := range tc.limits {
				if lim[k] != float64(v.(int)) {
					t.Errorf("Config.solution().limits.%s = %v after PATCH %v", k, lim[k], v)
				}
			}
			text := failureText(t, s, call(t, s, "GET", "/apps/tight"+tc.path, 20*time.Second))
			if !tc.want.MatchString(text) {
				t.Errorf("failure does not name %s: %s", tc.want, text)
			}
			t.Logf("%s", text)
			// Another solution keeps its own limits.
			wantText(t, call(t, s, "GET", "/apps/roomy"+tc.path, 20*time.Second), ok[tc.path])
			// Back to the defaults, the same script runs again.
			patch(t, map[string]any{})
			wantText(t, call(t, s, "GET", "/apps/tight"+tc.path, 20*time.Second), ok[tc.path])
		})
	}
}
