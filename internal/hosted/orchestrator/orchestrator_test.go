package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/script"
)

// seedService is the seed's sample service in Lua.
const seedService = `
local MyService = {}
function MyService:Start()
  self:Debug("Started")
end
function MyService:Stop()
  self:Debug("Stopped")
end
return MyService`

// TestSeedExample runs the seed's sample: Start logs "Started", Close calls Stop.
func TestSeedExample(t *testing.T) {
	orc, h, e := setup(t, Options{})
	if err := orc.Apply(context.Background(), []Spec{luaSpec("hello", seedService)}); err != nil {
		t.Fatal(err)
	}
	got := h.waitCount(t, 1, "log", "hello", "Started")
	if got[0].level != slog.LevelInfo {
		t.Fatalf("Debug logged at %v", got[0].level)
	}
	if r := orc.Running(); len(r) != 1 || r["hello"] == "" {
		t.Fatalf("running %v", r)
	}
	if st := orc.States(); len(st) != 1 || st["hello"] != "running" {
		t.Fatalf("states %v", st)
	}
	orc.Close(context.Background())
	if n := len(h.matching("log", "hello", "Stopped")); n != 1 {
		t.Fatalf("%d Stopped after Close:\n%s", n, dump(h.all()))
	}
	if n := e.Sessions(); n != 0 {
		t.Fatalf("%d sessions open", n)
	}
	if err := orc.Apply(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
}

// TestTimerSubmitMessage is a GPIO-style service: every 100 ms it reads a value and sends it
// upstream; messages arrive in order, about one per period, and stop with the instance.
func TestTimerSubmitMessage(t *testing.T) {
	orc, h, _ := setup(t, Options{})
	spec := luaSpec("gpio", `
local ReadGPIO = {}
function ReadGPIO:Start()
  self.pin = self:GetPropertyValue("static", "gpio_pin")
  self.n = 0
  self.timer = Timer.every(100, function()
    self.n = self.n + 1
    self:SubmitMessage({pin = self.pin, n = self.n})
  end)
end
function ReadGPIO:Stop()
  Timer.cancel(self.timer)
  self:Debug("stopped after " .. self.n)
end
return ReadGPIO`)
	spec.Static = map[string]any{"gpio_pin": float64(17)}
	start := time.Now()
	if err := orc.Apply(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	subs := h.waitCount(t, 10, "submit", "gpio", "")
	elapsed := subs[9].at.Sub(start)
	for i, r := range subs[:10] {
		m := r.body.(map[string]any)
		if m["n"] != float64(i+1) || m["pin"] != float64(17) {
			t.Fatalf("message %d is %v", i, m)
		}
	}
	// Ten ticks of 100 ms cannot come sooner than a second.
	if elapsed < 950*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("10 messages took %v", elapsed)
	}
	orc.Close(context.Background())
	n := len(h.matching("submit", "gpio", ""))
	stopped := h.matching("log", "gpio", "stopped after")
	if len(stopped) != 1 || stopped[0].msg != fmt.Sprintf("stopped after %d", n) {
		t.Fatalf("%d messages sent, Stop logged %v", n, stopped)
	}
}

// TestTimerTicksDoNotPileUp fires a timer many times while its tick is not processed: one
// tick is pending, not many.
func TestTimerTicksDoNotPileUp(t *testing.T) {
	in := newInstance(New(Options{}), luaSpec("x", ""))
	tm := &timer{in: in, id: 1, period: time.Hour, every: false}
	for range 100 {
		tm.fire()
	}
	if n := len(in.ticks); n != 1 {
		t.Fatalf("%d ticks pending, want 1", n)
	}
	<-in.ticks
	tm.pending.Store(false)
	tm.fire()
	tm.cancel()
	tm.pending.Store(false)
	tm.fire()
	if n := len(in.ticks); n != 1 {
		t.Fatalf("%d ticks pending after a cancel, want 1 (from before it)", n)
	}
}

// TestTimerBounds checks the timer count and period bounds, after and cancel.
func TestTimerBounds(t *testing.T) {
	orc, h, _ := setup(t, Options{MaxTimers: 3})
	spec := luaSpec("timers", `
local S = {}
function S:Start()
  local ids = {}
  for i = 1, 3 do ids[i] = Timer.every(1000, function() end) end
  local ok, err = pcall(Timer.every, 1000, function() end)
  self:Debug("fourth: " .. tostring(err))
  ok, err = pcall(Timer.every, 1, function() end)
  self:Debug("short: " .. tostring(err))
  ok, err = pcall(Timer.every, "x", function() end)
  self:Debug("bad: " .. tostring(err))
  self:Debug("cancel: " .. tostring(Timer.cancel(ids[1])) .. " " .. tostring(Timer.cancel(ids[1])))
  Timer.after(20, function() self:Debug("after fired") end)
end
return S`)
	if err := orc.Apply(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	h.waitCount(t, 1, "log", "timers", "after fired")
	for _, want := range []string{"an instance may have at most 3 timers", "the period must be between 10 ms", "the period must be a number", "cancel: true false"} {
		if len(h.matching("log", "timers", want)) != 1 {
			t.Errorf("no log %q:\n%s", want, dump(h.all()))
		}
	}
}

const receiver = `
local R = {}
function R:Start() self.got = 0 end
function R:hello(msg)
  self.got = self.got + 1
  self:Debug(self:get_settings().instance .. " got " .. to_json(msg))
end
return R`

// TestSubmitAction sends between instances, to "*" (every other instance) and to an unknown
// destination (logged, and an error in the sender).
func TestSubmitAction(t *testing.T) {
	orc, h, _ := setup(t, Options{})
	sender := luaSpec("a", `
local A = {}
function A:Start()
  self:SubmitAction("b", "hello", {x = 1})
  self:SubmitAction("*", "hello", "all")
  local ok, err = pcall(self.SubmitAction, self, "nobody", "hello", 1)
  self:Debug("unknown: " .. tostring(ok) .. " " .. tostring(err))
  ok, err = pcall(self.SubmitAction, self, "b", "Stop", 1)
  self:Debug("reserved: " .. tostring(err))
  ok, err = pcall(self.SubmitAction, self, "b", "SubmitMessage", 1)
  self:Debug("builtin: " .. tostring(err))
  ok, err = pcall(self.SubmitAction, self, "b", "x y", 1)
  self:Debug("bad name: " .. tostring(err))
  ok, err = pcall(self.SubmitAction, self, "b", "hello", string.rep("x", 300 * 1024))
  self:Debug("too big: " .. tostring(err))
  self:SubmitAction("b", "missing", 1)
end
function A:hello(msg) self:Debug("a got it") end
return A`)
	if err := orc.Apply(context.Background(), []Spec{sender, luaSpec("b", receiver), luaSpec("c", receiver)}); err != nil {
		t.Fatal(err)
	}
	h.waitCount(t, 1, "log", "b", `b got {"x":1}`)
	h.waitCount(t, 1, "log", "b", `b got "all"`)
	h.waitCount(t, 1, "log", "c", `c got "all"`)
	h.waitCount(t, 1, "log", "b", "no method missing")
	for _, want := range []string{
		`SubmitAction to an unknown destination "nobody" (action hello)`,
		"SubmitAction: Stop is not an action",
		"SubmitAction: SubmitMessage is not an action",
		`SubmitAction: the action must be a method name`,
		"SubmitAction: the message is about",
	} {
		if len(h.matching("log", "a", want)) == 0 {
			t.Errorf("no log %q:\n%s", want, dump(h.all()))
		}
	}
	if w := h.matching("log", "a", `SubmitAction to an unknown destination "nobody"`); len(w) != 2 || w[0].level != slog.LevelWarn {
		t.Errorf("unknown destination not logged at warn: %v", w)
	}
	orc.Close(context.Background())
	if len(h.matching("log", "a", "a got it")) != 0 {
		t.Fatal(`"*" reached the sender`)
	}
	if n := len(h.matching("log", "c", "got")); n != 1 {
		t.Fatalf("c got %d messages", n)
	}
}

// TestBackPressure: a slow receiver with a small inbox makes the sender wait, then fail before
// its callback's deadline with a clear error; every accepted message is processed.
func TestBackPressure(t *testing.T) {
	orc, h, _ := setup(t, Options{Inbox: 2, Limits: script.Limits{Timeout: 700 * time.Millisecond, Memory: 4 << 20}})
	h.gate = make(chan struct{})
	sender := luaSpec("fast", `
local S = {}
function S:Start()
  local sent = 0
  for i = 1, 10 do
    local ok, err = pcall(self.SubmitAction, self, "slow", "work", i)
    if not ok then self:Warning("send failed: " .. tostring(err)) break end
    sent = sent + 1
  end
  self:Debug("sent " .. sent)
end
return S`)
	slow := luaSpec("slow", `
local S = {}
function S:Start() end
function S:work(i)
  local ok, err = pcall(self.SubmitMessage, self, i)
  if not ok then self:Warning("upstream: " .. tostring(err)) end
end
return S`)
	start := time.Now()
	if err := orc.Apply(context.Background(), []Spec{sender, slow}); err != nil {
		t.Fatal(err)
	}
	failed := h.waitCount(t, 1, "log", "fast", "SubmitAction to slow: the inbox of slow is full (2 actions)")
	if d := failed[0].at.Sub(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Fatalf("the sender gave up after %v; its callback's deadline is 700ms", d)
	}
	sentLog := h.waitCount(t, 1, "log", "fast", "sent ")
	var sent int
	fmt.Sscanf(sentLog[0].msg, "sent %d", &sent)
	if sent < 2 || sent > 3 {
		t.Fatalf("sent %d with an inbox of 2 and one being processed", sent)
	}
	h.mu.Lock()
	h.gate = nil
	h.mu.Unlock()
	// The first message's Submit has waited past its callback's deadline meanwhile.
	// Every accepted message reaches the receiver's method (the first one's Submit waited
	// past that callback's deadline; the others go through).
	h.waitFor(t, 10*time.Second, "every accepted message processed", func(recs []record) bool {
		seen := map[float64]bool{}
		for _, r := range recs {
			if r.instance == "slow" && (r.kind == "submit" || r.kind == "submit-wait") {
				seen[r.body.(float64)] = true
			}
		}
		for i := 1; i <= sent; i++ {
			if !seen[float64(i)] {
				return false
			}
		}
		return true
	})
	if n := len(h.matching("log", "slow", "work failed: time limit of 700ms exceeded")); n != 1 {
		t.Fatalf("the receiver's blocked callback: %d time-limit errors, want 1:\n%s", n, dump(h.all()))
	}
}

// TestMutualBlockIsBounded: two instances whose Starts fill each other's inboxes do not hang:
// both fail at their deadlines.
func TestMutualBlockIsBounded(t *testing.T) {
	orc, h, _ := setup(t, Options{Inbox: 1, Limits: script.Limits{Timeout: 500 * time.Millisecond, Memory: 4 << 20}})
	peer := func(name, other string) Spec {
		return luaSpec(name, fmt.Sprintf(`
local S = {}
function S:Start()
  for i = 1, 5 do self:SubmitAction(%q, "poke", i) end
  self:Debug("all sent")
end
function S:poke(i) end
return S`, other))
	}
	start := time.Now()
	if err := orc.Apply(context.Background(), []Spec{peer("p", "q"), peer("q", "p")}); err != nil {
		t.Fatal(err)
	}
	// Both block on the other's full inbox; the first to reach its deadline fails, and then
	// takes its inbox, which unblocks the other.
	h.waitFor(t, 5*time.Second, "both Starts over", func([]record) bool {
		return len(h.matching("log", "p", "Start"))+len(h.matching("log", "p", "all sent")) == 1 &&
			len(h.matching("log", "q", "Start"))+len(h.matching("log", "q", "all sent")) == 1
	})
	if len(h.matching("log", "", "Start failed: ")) == 0 || len(h.matching("log", "", "is full (1 actions): not delivered in time")) == 0 {
		t.Fatalf("neither Start failed on a full inbox:\n%s", dump(h.all()))
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestApplyRestartsOnlyChanged: a changed hash restarts that instance only (Stop before the
// new Start), a removed one is stopped, unchanged ones are not touched.
func TestApplyRestartsOnlyChanged(t *testing.T) {
	orc, h, _ := setup(t, Options{})
	specs := []Spec{luaSpec("a", seedService), luaSpec("b", seedService), luaSpec("c", seedService)}
	ctx := context.Background()
	if err := orc.Apply(ctx, specs); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		h.waitCount(t, 1, "log", n, "Started")
	}
	specs[1].Hash = "changed"
	specs[1].Static = map[string]any{"p": "new"}
	if err := orc.Apply(ctx, specs[:2]); err != nil {
		t.Fatal(err)
	}
	h.waitCount(t, 2, "log", "b", "Started")
	count := func(n, what string) int { return len(h.matching("log", n, what)) }
	for _, c := range []struct {
		name          string
		starts, stops int
	}{{"a", 1, 0}, {"b", 2, 1}, {"c", 1, 1}} {
		if s, p := count(c.name, "Started"), count(c.name, "Stopped"); s != c.starts || p != c.stops {
			t.Errorf("%s: %d starts, %d stops; want %d, %d", c.name, s, p, c.starts, c.stops)
		}
	}
	var order []string
	for _, r := range h.all() {
		if r.instance == "b" {
			order = append(order, r.msg)
		}
	}
	if strings.Join(order, ",") != "Started,Stopped,Started" {
		t.Fatalf("b: %v", order)
	}
	if r := orc.Running(); len(r) != 2 || r["b"] != "changed" {
		t.Fatalf("running %v", r)
	}
}

// TestHangingStopIsKilled: a Stop that loops, or waits on the host, is killed at the stop
// deadline; the kill is logged and the session closed.
func TestHangingStopIsKilled(t *testing.T) {
	for _, tc := range []struct{ name, stop string }{
		{"loop", `while true do end`},
		{"wait", `self:SubmitMessage("bye")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orc, h, e := setup(t, Options{StopDeadline: 300 * time.Millisecond,
				Limits: script.Limits{Timeout: 10 * time.Second, Memory: 4 << 20, Steps: 1 << 40}})
			h.gate = make(chan struct{}) // never opened
			spec := luaSpec("stuck", `
local S = {}
function S:Start() self:Debug("Started") end
function S:Stop() `+tc.stop+` end
return S`)
			if err := orc.Apply(context.Background(), []Spec{spec}); err != nil {
				t.Fatal(err)
			}
			h.waitCount(t, 1, "log", "stuck", "Started")
			start := time.Now()
			if err := orc.Apply(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
				t.Fatalf("Apply took %v with a stop deadline of 300ms", d)
			}
			k := h.matching("log", "stuck", "instance killed: it did not stop within 300ms")
			if len(k) != 1 || k[0].level != slog.LevelError {
				t.Fatalf("kill not logged at error:\n%s", dump(h.all()))
			}
			if n := e.Sessions(); n != 0 {
				t.Fatalf("%d sessions open after the kill", n)
			}
		})
	}
}

// TestCallbackLimits: a callback stopped by a per-call limit is logged and the instance goes
// on; passing the instance's memory bound kills it.
func TestCallbackLimits(t *testing.T) {
	orc, h, e := setup(t, Options{Limits: script.Limits{Timeout: 300 * time.Millisecond, Memory: 1 << 20, Steps: 1 << 40}})
	spec := luaSpec("svc", `
local S = {}
function S:Start() self.n = 0 kept = {} end
function S:spin() while true do end end
function S:inc() self.n = self.n + 1 self:Debug("n=" .. self.n) end
function S:grow() kept[#kept + 1] = string.rep("x", 100 * 1024) .. #kept end
return S`)
	driver := luaSpec("driver", `
local D = {}
function D:Start() end
function D:go(what) self:SubmitAction("svc", what) end
return D`)
	if err := orc.Apply(context.Background(), []Spec{spec, driver}); err != nil {
		t.Fatal(err)
	}
	drv := orc.lookup("driver")
	send := func(what string) {
		t.Helper()
		if err := drv.send(context.Background(), action{from: "test", name: "go", body: what}); err != nil {
			t.Fatal(err)
		}
	}
	send("inc")
	send("spin")
	send("inc")
	h.waitCount(t, 1, "log", "svc", "spin failed: time limit of 300ms exceeded")
	h.waitCount(t, 1, "log", "svc", "n=2")
	before := e.Sessions()
	for range 20 {
		send("grow")
	}
	killed := h.waitCount(t, 1, "log", "svc", "instance killed in grow: memory limit of 1 MiB exceeded")
	if killed[0].level != slog.LevelError {
		t.Fatalf("kill logged at %v", killed[0].level)
	}
	select {
	case <-orc.lookup("svc").done:
	case <-time.After(5 * time.Second):
		t.Fatal("the killed instance's goroutine did not end")
	}
	if n := e.Sessions(); n != before-1 {
		t.Fatalf("%d sessions open, want %d", n, before-1)
	}
	if _, ok := orc.Running()["svc"]; ok {
		t.Fatal("a killed instance is still running")
	}
	if st := orc.States()["svc"]; st != "stopped" {
		t.Fatalf("a killed instance's state is %q, want stopped", st)
	}
	send("inc")
	h.waitCount(t, 1, "log", "driver", "go failed: Svc_driver:4: SubmitAction to svc: svc is not running")
}

// TestSecurityValuesNeverShown: a service that writes its security value into every channel
// it has: the value reaches the service, never a log, an alert or an error.
func TestSecurityValuesNeverShown(t *testing.T) {
	const secret = "hunter2-very-secret"
	orc, h, _ := setup(t, Options{})
	spec := luaSpec("leaky", `
local S = {}
function S:Start()
  local pw = self:GetPropertyValue("security", "password")
  if pw == "`+secret+`" then self:Debug("the value is right") end
  self:Debug("pw=" .. pw)
  self:Warning({pw = pw})
  print(pw)
  Log.info("login", {password = pw, [pw] = 1})
  self:ThrowError("bad " .. pw, pw, "desc " .. pw)
  pcall(self.SubmitAction, self, pw, "x", 1)
  pcall(self.GetPropertyValue, self, pw, "x")
  error("failed with " .. pw)
end
function S:Stop() self:Debug("Stopped") end
return S`)
	spec.Security = hosted.Secrets{"password": secret}
	if err := orc.Apply(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	h.waitCount(t, 1, "log", "leaky", "Start failed: ")
	orc.Close(context.Background())
	recs := h.all()
	if len(h.matching("log", "leaky", "the value is right")) != 1 || len(h.matching("alert", "leaky", "bad (secret)")) != 1 {
		t.Fatalf("the service did not run as expected:\n%s", dump(recs))
	}
	if all := dump(recs); strings.Contains(all, secret) || !strings.Contains(all, redactMark) {
		t.Fatalf("a security value was shown (or nothing was redacted):\n%s", all)
	}
	for _, s := range []string{fmt.Sprint(spec), fmt.Sprintf("%+v", spec), fmt.Sprintf("%#v", spec), slogText(spec)} {
		if strings.Contains(s, secret) {
			t.Fatalf("the spec shows its security value: %s", s)
		}
	}
}

func slogText(v any) string {
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "spec", v)
	return b.String()
}

// TestBuiltins covers get_settings, properties, ThrowError's alert, SubmitMessage's failure
// and method calls without self.
func TestBuiltins(t *testing.T) {
	orc, h, _ := setup(t, Options{})
	h.fail = errors.New("broker down")
	spec := luaSpec("b", `
local S = {}
function S:Start()
  local s = self:get_settings()
  self:Debug(s.nodeName .. "|" .. s.tags[1] .. "|" .. s.solution .. "|" .. s.flow .. "|" .. s.instance)
  self:Debug("static " .. tostring(self:GetPropertyValue("static", "a")) .. " " .. tostring(self:GetPropertyValue("static", "none")))
  local ok, err = pcall(self.GetPropertyValue, self, "other", "a")
  self:Debug("type: " .. tostring(err))
  self:ThrowError("Unable to read GPIO", "666", "Some internal error description")
  ok, err = pcall(self.SubmitMessage, self, {x = 1})
  self:Debug("submit: " .. tostring(err))
  ok, err = pcall(self.Debug, "no self")
  self:Debug("dot: " .. tostring(err))
end
return S`)
	spec.Static = map[string]any{"a": "A"}
	if err := orc.Apply(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	h.waitCount(t, 1, "log", "b", "dot: ")
	for _, want := range []string{
		"node1|edge|sol|f|b", "static A nil", `GetPropertyValue: the type must be "static" or "security", not "other"`,
		"SubmitMessage to up.b failed: broker down", "Debug is a method: call it as self:Debug(...)",
	} {
		if len(h.matching("log", "b", want)) == 0 {
			t.Errorf("no log %q:\n%s", want, dump(h.all()))
		}
	}
	a := h.matching("alert", "b", "Unable to read GPIO")
	if len(a) != 1 || a[0].code != "666" || a[0].desc != "Some internal error description" {
		t.Fatalf("alert %v", a)
	}
	if len(h.matching("log", "b", "SubmitMessage to up.b failed")) < 2 {
		t.Errorf("a failed SubmitMessage is not logged:\n%s", dump(h.all()))
	}
}

// TestApplyBadSpecs: specs that cannot run are left out and named; the others run.
func TestApplyBadSpecs(t *testing.T) {
	orc, h, _ := setup(t, Options{MaxInstances: 4})
	py := luaSpec("py", "")
	py.Kind = hosted.KindPython
	broken := luaSpec("broken", "local x = ")
	notClass := luaSpec("noclass", "return 42")
	err := orc.Apply(context.Background(), []Spec{luaSpec("ok", seedService), luaSpec("ok", seedService), {Kind: hosted.KindLua}, py})
	if err == nil || !strings.Contains(err.Error(), "ok: the name is given twice") || !strings.Contains(err.Error(), "instance 2: no name") {
		t.Fatalf("Apply: %v", err)
	}
	h.waitCount(t, 1, "log", "ok", "Started")
	h.waitCount(t, 1, "log", "py", "instance not run: this runtime runs lua services, not python")
	if err := orc.Apply(context.Background(), make([]Spec, 5)); err == nil || !strings.Contains(err.Error(), "at most 4") {
		t.Fatalf("Apply of too many: %v", err)
	}
	if err := orc.Apply(context.Background(), []Spec{luaSpec("ok", seedService), broken, notClass}); err != nil {
		t.Fatal(err)
	}
	h.waitCount(t, 1, "log", "broken", "instance not started: Svc_broken:1:")
	h.waitCount(t, 1, "log", "noclass", "instance not started: the code must return the service's class")
	if n := len(h.matching("log", "ok", "Started")); n != 1 {
		t.Fatalf("ok started %d times", n)
	}
}

// TestSpecOf builds a spec from an assignment.
func TestSpecOf(t *testing.T) {
	a := hosted.Assigned{Flow: "f1", Instance: "reader", Service: "ReadGPIO", Kind: hosted.KindLua, Version: "1.2",
		Static: map[string]any{"pin": 4.0}, Security: hosted.Secrets{"key": "k"}, Upstream: "up", Hash: "h"}
	s := SpecOf(a, "return {}", Settings{NodeName: "n1", Tags: []string{"t"}, Solution: "sol", Flow: "ignored"})
	if s.Name != "reader" || s.Service != "ReadGPIO" || s.Kind != "lua" || s.Version != "1.2" || s.Code != "return {}" ||
		s.Static["pin"] != 4.0 || s.Security["key"] != "k" || s.Upstream != "up" || s.Hash != "h" ||
		s.Settings.Flow != "f1" || s.Settings.NodeName != "n1" || s.Settings.Solution != "sol" || s.Settings.Tags[0] != "t" {
		t.Fatalf("%+v", s)
	}
	a.Static["pin"] = 5.0
	if s.Static["pin"] != 4.0 {
		t.Fatal("the spec shares the assignment's map")
	}
}
