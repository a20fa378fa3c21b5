package hub_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	lua "github.com/yuin/gopher-lua"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
	"github.com/switchboardhq/switchboard/internal/kaa"
)

// BenchmarkKaa is Kaa automation invocations (23/AIP) through the executor into a Lua handler
// beside a plain nats.go subscriber decoding the same invocations, on one bus in one run:
//
//	Executor        the hub's executor stores each as an event of automation.bench in a solution
//	                of its own, whose handler (kaaHandler) runs; done when
//	                switchboard_automation_invocations_executed_total has counted them all
//	RawNATS         a plain subscription on the same bus decodes each (kaa.Decode, then the
//	                payload's JSON); done when it has had them all
//	ExecutorSteady  as Executor and RawNATS, at kaaRate invocations/s instead of as fast as
//	RawNATSSteady   they go: p50/p99 of publish → the handler starts (the subscriber has it)
//
// One publisher connection plays Kaa's trigger service. As fast as they go, at most kaaWindow
// invocations are out before the publisher waits for them to be done, well below the
// executor's pending limits (64k), so none is dropped. Buses: embedded (in-process for the
// hub, the publisher and the subscriber on --nats-listen with the nats-token) and outside
// (SWITCHBOARD_TEST_NATS_URL; skipped when unset).
func BenchmarkKaa(b *testing.B) {
	for _, bus := range []struct{ name, url string }{{"embedded", ""}, {"outside", os.Getenv("SWITCHBOARD_TEST_NATS_URL")}} {
		b.Run(bus.name, func(b *testing.B) {
			if bus.name == "outside" && bus.url == "" {
				b.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222 with JetStream)")
			}
			k := startKaaBench(b, bus.url)
			b.Run("Executor", func(b *testing.B) { k.run(b, k.executor(b), 0) })
			b.Run("RawNATS", func(b *testing.B) { k.run(b, k.raw(b), 0) })
			b.Run("ExecutorSteady", func(b *testing.B) { k.run(b, k.executor(b), kaaRate) })
			b.Run("RawNATSSteady", func(b *testing.B) { k.run(b, k.raw(b), kaaRate) })
		})
	}
}

const (
	// kaaWindow bounds the invocations published and not yet done, as fast as they go.
	kaaWindow = 4096
	// kaaRate is the steady runs' invocations per second.
	kaaRate = 1000
	// kaaSamples bounds the latencies taken per steady run (each is a Keystore key).
	kaaSamples = 2000
	// kaaStall ends a run that has made no progress for that long.
	kaaStall = 30 * time.Second
	// The executor's invocations come from kaaTrigger; the raw runs' from kaaRawTrigger,
	// which the executor does not subscribe to, so that it does not run them as well.
	kaaTrigger, kaaRawTrigger = "bench-exec", "bench-raw0"
	kaaType                   = "bench"
)

// kaaHandler is a small automation: it reads the payload's fields and makes a message of them,
// keeping the latest in the Keystore once every 1,000 invocations. In the steady runs its first act
// is os.clock() (seconds since this process started, the clock of the payload's send time t),
// and it keeps publish → start under a key of its own.
const kaaHandler = `local t = os.clock()
local d = event.data
local msg = "device " .. d.device .. ": reading " .. d.n .. " above " .. 50
if d.lat then
  Keystore.set({key = "lat:" .. d.lat, value = d.run .. " " .. string.format("%.6f", t - d.t)})
elseif d.n % 1000 == 0 then
  Keystore.set({key = "last", value = msg})
end`

// kaaBench is one hub and its bus, shared by the executor's and the raw runs.
type kaaBench struct {
	s      *hubtest.Server
	sol    string        // the solution, named afresh: an outside bus may hold others' state
	url    string        // where outside clients connect
	opts   []nats.Option // and how
	pub    *nats.Conn    // Kaa's trigger
	origin time.Time     // os.clock()'s zero
	runs   int           // runs so far, for correlation ids of their own
}

// kaaConsumer is one side under test: the subject it takes invocations on, and how many of
// them it is done with.
type kaaConsumer struct {
	subject string
	done    func() int
	// wait blocks until done() >= n, failing the benchmark when progress stalls.
	wait func(n int)
	// stalls counts the hub's event consumer stalls so far; nil for the raw subscriber.
	stalls func() int
	// latencies are the steady run's, in ms, of the invocations sampled (every step-th of n).
	latencies func(n, step int) []float64
}

func startKaaBench(b *testing.B, url string) *kaaBench {
	k := &kaaBench{url: url, origin: luaClockOrigin(b), sol: "kaabench-" + strings.ToLower(rand.Text()[:8])}
	if url == "" {
		addr := hubtest.FreeAddr(b)
		k.s = hubtest.Start(b, func(c *hub.Config) { c.NATSListen, c.KaaTriggers = addr, kaaTrigger })
		tok, err := os.ReadFile(filepath.Join(k.s.DataDir, "nats-token"))
		if err != nil {
			b.Fatal(err)
		}
		k.url, k.opts = "nats://"+addr, []nats.Option{nats.Token(strings.TrimSpace(string(tok)))}
	} else {
		k.s = hubtest.Start(b, func(c *hub.Config) { c.NATSURL, c.KaaTriggers = url, kaaTrigger })
	}
	k.s.CreateSolution(b, k.sol)
	b.Cleanup(func() { k.s.Do(b, "DELETE", "/api/v1/solutions/"+k.sol, k.s.AdminToken, nil) })
	if r := k.s.Do(b, "POST", "/api/v1/solutions/"+k.sol+"/handlers", k.s.AdminToken, map[string]any{
		"name": "notify", "topics": []string{"automation." + kaaType}, "script": kaaHandler}); r.Status != http.StatusCreated {
		b.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	k.s.Deploy(b, k.sol, "POST", "/lat", `return Keystore.mget({keys = request.body.keys}).values`)
	k.pub = k.connect(b)
	return k
}

func (k *kaaBench) connect(b *testing.B) *nats.Conn {
	nc, err := nats.Connect(k.url, k.opts...)
	if err != nil {
		b.Fatalf("connect to %s: %v", k.url, err)
	}
	b.Cleanup(nc.Close)
	return nc
}

// luaClockOrigin is the instant os.clock() counts from in this process (gopher-lua's start),
// so that the test's clock and the handlers' are one.
func luaClockOrigin(b *testing.B) time.Time {
	L := lua.NewState()
	defer L.Close()
	before := time.Now()
	if err := L.DoString("return os.clock()"); err != nil {
		b.Fatal(err)
	}
	return before.Add(-time.Duration(float64(L.Get(-1).(lua.LNumber)) * float64(time.Second)))
}

// clock is now on os.clock()'s scale.
func (k *kaaBench) clock() float64 { return time.Since(k.origin).Seconds() }

// run publishes b.N invocations to c, at rate per second (0: as fast as c is done with them,
// kaaWindow at most out), and waits until c is done with all of them.
func (k *kaaBench) run(b *testing.B, c kaaConsumer, rate int) {
	k.runs++
	run, n := k.runs, b.N
	step := (n + kaaSamples - 1) / kaaSamples // steady runs: every step-th has its latency taken
	msg := func(i int) []byte {
		p := map[string]any{"device": "dev-" + strconv.Itoa(i%100), "n": i, "run": run}
		if rate > 0 && i%step == 0 {
			p["lat"], p["t"] = i/step, k.clock()
		}
		payload, _ := json.Marshal(p)
		data, err := kaa.Encode(kaa.Invocation{CorrelationID: fmt.Sprintf("%s-%d-%d", k.sol, run, i), Timestamp: time.Now().UnixMilli(), TenantID: k.sol, Payload: &payload})
		if err != nil {
			b.Fatal(err)
		}
		return data
	}
	// As fast as they go, encoding is the trigger's work, not the consumer's: done beforehand.
	var pre [][]byte
	if rate == 0 {
		pre = make([][]byte, n)
		for i := range pre {
			pre[i] = msg(i)
		}
	}
	base, known := c.done(), 0
	var stalls int
	if c.stalls != nil {
		stalls = c.stalls()
	}
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		var data []byte
		if rate == 0 {
			// done may be costly (the executor's is a scrape of /metrics): asked only when
			// the window is full by what was last known.
			if i-known >= kaaWindow {
				if known = c.done() - base; i-known >= kaaWindow {
					c.wait(base + i - kaaWindow/2)
					known = i - kaaWindow/2
				}
			}
			data = pre[i]
		} else {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
				time.Sleep(d) // the pace of the steady runs
			}
			data = msg(i)
		}
		if err := k.pub.Publish(c.subject, data); err != nil {
			b.Fatalf("publish: %v", err)
		}
	}
	if err := k.pub.Flush(); err != nil {
		b.Fatalf("flush: %v", err)
	}
	c.wait(base + n)
	took := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/took.Seconds(), "inv/s")
	if c.stalls != nil {
		b.ReportMetric(float64(c.stalls()-stalls), "stalls")
	}
	if rate > 0 {
		lat := c.latencies(n, step)
		slices.Sort(lat)
		b.ReportMetric(percentile(lat, 0.50), "p50-ms")
		b.ReportMetric(percentile(lat, 0.99), "p99-ms")
	}
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// stalls counts the times the handler's event consumer has reported a missed heartbeat: its
// pull had ended at the server unbeknown to the client, and no event was delivered for about
// two heartbeats (4 s, see internal/events/worker.go) until it pulled again.
func (k *kaaBench) stalls() int {
	n := 0
	for line := range strings.Lines(k.s.Logs.String()) {
		if strings.Contains(line, "no heartbeat received") && strings.Contains(line, k.sol) {
			n++
		}
	}
	return n
}

// executor is the hub's executor and solution kaabench's handler: done counts the handler's
// successful runs of automation.bench, read from /metrics every 5 ms while waiting.
func (k *kaaBench) executor(b *testing.B) kaaConsumer {
	subject, err := kaa.InvocationSubject(kaaTrigger, kaaType)
	if err != nil {
		b.Fatal(err)
	}
	executed := func() int {
		return int(k.metric(b, "switchboard_automation_invocations_executed_total{", `tenant="`+k.sol+`"`))
	}
	c := kaaConsumer{subject: subject, done: executed, stalls: k.stalls}
	c.wait = func(n int) {
		last, progressed := executed(), time.Now()
		for last < n {
			time.Sleep(5 * time.Millisecond) // polling /metrics: the handlers tell nobody else
			if now := executed(); now > last {
				last, progressed = now, time.Now()
			} else if time.Since(progressed) > kaaStall {
				b.Fatalf("executor: %d of %d done, none more in %s; dropped unrun: %v", last, n, kaaStall,
					k.metric(b, "switchboard_automation_invocations_rejected_total{", `type="`+kaaType+`"`))
			}
		}
	}
	c.latencies = func(n, step int) []float64 {
		var keys []string
		for i := 0; i < n; i += step {
			keys = append(keys, "lat:"+strconv.Itoa(i/step))
		}
		var out []float64
		for chunk := range slices.Chunk(keys, 1000) { // Keystore's mget bound
			r := k.s.Do(b, "POST", "/apps/"+k.sol+"/lat", "", map[string]any{"keys": chunk})
			var vals map[string]string
			r.JSON(b, &vals)
			for key, v := range vals {
				run, at, _ := strings.Cut(v, " ")
				took, err := strconv.ParseFloat(at, 64)
				if run != strconv.Itoa(k.runs) || err != nil {
					b.Fatalf("latency %s: %q is not this run's", key, v)
				}
				out = append(out, took*1000)
			}
		}
		return out
	}
	return c
}

// raw is a plain nats.go subscription decoding each invocation and its JSON payload, as the
// executor and a handler's event.data do.
func (k *kaaBench) raw(b *testing.B) kaaConsumer {
	subject, err := kaa.InvocationSubject(kaaRawTrigger, kaaType)
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu      sync.Mutex
		changed = sync.NewCond(&mu)
		count   int
		failed  error
		made    string              // the message the handler would make, last one
		lat     = map[int]float64{} // sample → ms
	)
	nc := k.connect(b)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		got := k.clock()
		inv, err := kaa.Decode(m.Data)
		var d struct {
			Device string   `json:"device"`
			N      int      `json:"n"`
			Lat    *int     `json:"lat"`
			T      *float64 `json:"t"`
		}
		if err == nil && inv.Payload != nil {
			err = json.Unmarshal(*inv.Payload, &d)
		}
		msg := "device " + d.Device + ": reading " + strconv.Itoa(d.N) + " above " + strconv.Itoa(50)
		mu.Lock()
		count, made = count+1, msg
		if err != nil {
			failed = err
		}
		if d.Lat != nil && d.T != nil {
			lat[*d.Lat] = (got - *d.T) * 1000
		}
		changed.Broadcast()
		mu.Unlock()
	})
	if err != nil {
		b.Fatalf("subscribe: %v", err)
	}
	b.Cleanup(func() { sub.Unsubscribe() }) //nolint:errcheck // the connection closes too
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		b.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server has the subscription before anything is published
		b.Fatal(err)
	}
	c := kaaConsumer{subject: subject, done: func() int { mu.Lock(); defer mu.Unlock(); return count }}
	c.wait = func(n int) {
		// Woken every second as well, to see a stall.
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-tick.C:
					mu.Lock()
					changed.Broadcast()
					mu.Unlock()
				case <-stop:
					return
				}
			}
		}()
		mu.Lock()
		defer mu.Unlock()
		last, progressed := count, time.Now()
		for count < n && failed == nil {
			changed.Wait()
			if count > last {
				last, progressed = count, time.Now()
			} else if time.Since(progressed) > kaaStall {
				b.Fatalf("raw: %d of %d done, none more in %s", count, n, kaaStall)
			}
		}
		if failed != nil || !strings.HasPrefix(made, "device dev-") {
			b.Fatalf("raw: %v (last message %q)", failed, made)
		}
	}
	c.latencies = func(int, int) []float64 {
		mu.Lock()
		defer mu.Unlock()
		out := make([]float64, 0, len(lat))
		for _, v := range lat {
			out = append(out, v)
		}
		clear(lat)
		return out
	}
	return c
}

// metric is the sum of the values of the lines of /metrics that begin with prefix and contain
// label.
func (k *kaaBench) metric(b *testing.B, prefix, label string) float64 {
	r := k.s.Do(b, "GET", "/metrics", k.s.AdminToken, nil)
	if r.Status != http.StatusOK {
		b.Fatalf("metrics: %d %s", r.Status, r.Body)
	}
	var sum float64
	for line := range strings.Lines(string(r.Body)) {
		if !strings.HasPrefix(line, prefix) || !strings.Contains(line, label) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
		if err != nil {
			b.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}
