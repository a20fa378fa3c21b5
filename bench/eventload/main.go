// Command eventload measures, in one run, a raw JetStream publish + consume + ack loop (the
// ceiling) and Switchboard's events end to end, on the same embedded NATS server and storage.
// bench/events.sh starts the hub and deploys the handlers it drives; see that script for what
// each figure means.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type config struct {
	hub, token, solution string
	natsAddr, natsToken  string
	n, clients, batch    int
	rate                 int
	steady               time.Duration
}

func main() {
	var c config
	var tokenFile string
	flag.StringVar(&c.hub, "hub", "http://127.0.0.1:18080", "hub base URL")
	flag.StringVar(&c.token, "token", "", "admin token")
	flag.StringVar(&c.solution, "solution", "bench", "solution holding the bench handlers")
	flag.StringVar(&c.natsAddr, "nats", "127.0.0.1:14222", "the hub's embedded NATS client address (--nats-listen)")
	flag.StringVar(&tokenFile, "nats-token-file", "", "the hub's nats-token file")
	flag.IntVar(&c.n, "n", 5000, "events per throughput run")
	flag.IntVar(&c.clients, "clients", 16, "concurrent publishers (HTTP keep-alive clients, or JetStream publishers)")
	flag.IntVar(&c.batch, "batch", 1, "events per POST in the throughput run (more than 1: a JSON array, stored in one go)")
	flag.IntVar(&c.rate, "rate", 1000, "events/s of the steady runs")
	flag.DurationVar(&c.steady, "steady", 5*time.Second, "length of each steady run")
	flag.Parse()
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		log.Fatalf("read the NATS token: %v", err)
	}
	c.natsToken = strings.TrimSpace(string(b))
	if err := run(context.Background(), c); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, c config) error {
	nc, err := nats.Connect("nats://"+c.natsAddr, nats.Token(c.natsToken))
	if err != nil {
		return fmt.Errorf("connect to the hub's NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: c.clients * 2, MaxIdleConnsPerHost: c.clients * 2}}
	sb := &hub{c: c, hc: hc}

	fmt.Printf("throughput: %d events, %d concurrent publishers\n", c.n, c.clients)
	raw, err := rawRun(ctx, js, "BENCH_RAW_T", c.n, c.clients, 0)
	if err != nil {
		return err
	}
	thr, err := sb.throughput(ctx)
	if err != nil {
		return err
	}
	hp99, err := sb.handlerP99(ctx, "count")
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %10s %10s %10s\n", "run", "events/s", "p50 ms", "p99 ms")
	fmt.Printf("%-34s %10.0f %10.3f %10.3f   (publish -> consumer has it)\n", "raw JetStream pub+consume+ack", raw.rate, raw.p50, raw.p99)
	label := "switchboard POST -> Keystore.incr"
	if c.batch > 1 {
		label = fmt.Sprintf("switchboard POST x%d -> Keystore.incr", c.batch)
	}
	fmt.Printf("%-34s %10.0f %10s %10s   (POST accepted: %.0f events/s)\n", label, thr.rate, "-", "-", thr.acceptRate)
	fmt.Printf("handler run time p99 (switchboard_event_handler_duration_seconds, handler count): <= %s ms\n", hp99)
	fmt.Printf("ratio switchboard / raw: %.2f (target >= 0.5)\n", thr.rate/raw.rate)

	fmt.Printf("\nsteady %d events/s for %s, %d publishers\n", c.rate, c.steady, c.clients)
	n := int(float64(c.rate) * c.steady.Seconds())
	rawS, err := rawRun(ctx, js, "BENCH_RAW_S", n, c.clients, c.rate)
	if err != nil {
		return err
	}
	st, err := sb.steady(ctx, n)
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %10s %10s %10s\n", "run", "events", "p50 ms", "p99 ms")
	fmt.Printf("%-34s %10d %10.3f %10.3f   (publish -> consumer has it)\n", "raw JetStream", n, rawS.p50, rawS.p99)
	fmt.Printf("%-34s %10d %10.3f %10.3f   (POST sent -> handler starts; min %.3f ms, clock offset +-%.3f ms)\n", "switchboard", n, st.p50, st.p99, st.min, st.offsetErr)
	fmt.Printf("added by switchboard at %d events/s: p50 %.3f ms, p99 %.3f ms (target p99 < 0.6 ms); ratio of p99s %.2f\n",
		c.rate, st.p50-rawS.p50, st.p99-rawS.p99, st.p99/rawS.p99)
	return nil
}

type result struct{ rate, p50, p99 float64 }

// rawRun publishes n messages with acknowledgement into a fresh file-backed work-queue stream
// (as the hub's own) from `clients` publishers, at `rate` messages/s in all when rate > 0,
// while a durable pull consumer acks each; latency is publish call → consumer callback.
func rawRun(ctx context.Context, js jetstream.JetStream, name string, n, clients, rate int) (result, error) {
	subj := "bench.raw." + strings.ToLower(name)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj},
		Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy, Duplicates: 2 * time.Minute})
	if err != nil {
		return result{}, fmt.Errorf("create stream %s: %w", name, err)
	}
	defer js.DeleteStream(context.WithoutCancel(ctx), name) //nolint:errcheck // best effort
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1000})
	if err != nil {
		return result{}, fmt.Errorf("create consumer: %w", err)
	}
	lat := make([]float64, 0, n)
	var mu sync.Mutex
	done := make(chan struct{})
	var got atomic.Int64
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now().UnixNano()
		sent := int64(binary.BigEndian.Uint64(m.Data()))
		m.Ack() //nolint:errcheck // a lost ack only redelivers
		mu.Lock()
		lat = append(lat, float64(now-sent)/1e6)
		mu.Unlock()
		if got.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		return result{}, fmt.Errorf("consume: %w", err)
	}
	defer cc.Stop()
	start := time.Now()
	err = publishAll(ctx, n, clients, rate, start, func(i int) error {
		data := make([]byte, 64)
		binary.BigEndian.PutUint64(data, uint64(time.Now().UnixNano()))
		_, err := js.Publish(ctx, subj, data, jetstream.WithMsgID(name+"-"+strconv.Itoa(i)))
		return err
	})
	if err != nil {
		return result{}, fmt.Errorf("raw publish: %w", err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return result{}, fmt.Errorf("raw consumer got %d of %d", got.Load(), n)
	}
	el := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	return result{rate: float64(n) / el.Seconds(), p50: pct(lat, 0.50), p99: pct(lat, 0.99)}, nil
}

// publishAll runs pub(0..n-1) on `clients` workers, as fast as they go, or paced to rate/s in
// all (a missed slot is sent late, not skipped).
func publishAll(ctx context.Context, n, clients, rate int, start time.Time, pub func(i int) error) error {
	work := make(chan int, n)
	go func() {
		defer close(work)
		for i := 0; i < n; i++ {
			if rate > 0 {
				if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
					time.Sleep(d)
				}
			}
			work <- i
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := pub(i); err != nil {
					errs <- err
					for range work {
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

type hub struct {
	c  config
	hc *http.Client
}

// publish sends one plain event, async (202 once stored).
func (h *hub) publish(ctx context.Context, id, topic string) error {
	body := fmt.Sprintf(`{"id":%q,"topic":%q,"data":{"id":%q}}`, id, topic, id)
	code, b, err := h.call(ctx, "/events", body)
	if err != nil {
		return err
	}
	if code != http.StatusAccepted {
		return fmt.Errorf("publish %s: %d %s", id, code, b)
	}
	return nil
}

// sync runs the handler of topic now and decodes its result into v.
func (h *hub) sync(ctx context.Context, topic string, data any, v any) error {
	d, _ := json.Marshal(data)
	code, b, err := h.call(ctx, "/events?mode=sync", fmt.Sprintf(`{"topic":%q,"data":%s}`, topic, d))
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("sync %s: %d %s", topic, code, b)
	}
	return json.Unmarshal(b, v)
}

func (h *hub) call(ctx context.Context, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.c.hub+"/api/v1/solutions/"+h.c.solution+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

type counts struct {
	N int `json:"n"`
}

// waitCount polls the Keystore counters until pick(counts) reaches n.
func (h *hub) waitCount(ctx context.Context, n int, pick func(counts) int) error {
	deadline := time.Now().Add(120 * time.Second)
	for {
		var c counts
		if err := h.sync(ctx, "bench.read", map[string]any{}, &c); err != nil {
			return err
		}
		if pick(c) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("counter at %d of %d after 120s", pick(c), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type thrResult struct{ rate, acceptRate float64 }

// throughput publishes n events to bench.count, whose handler increments the Keystore key
// "count", and times from the first POST until the counter reaches n.
func (h *hub) throughput(ctx context.Context) (thrResult, error) {
	start := time.Now()
	batch := max(1, h.c.batch)
	err := publishAll(ctx, (h.c.n+batch-1)/batch, h.c.clients, 0, start, func(i int) error {
		if batch == 1 {
			return h.publish(ctx, "t-"+strconv.Itoa(i), "bench.count")
		}
		var b strings.Builder
		b.WriteByte('[')
		for j := i * batch; j < min(h.c.n, (i+1)*batch); j++ {
			if j > i*batch {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"t-%d","topic":"bench.count","data":{"id":"t-%d"}}`, j, j)
		}
		b.WriteByte(']')
		code, body, err := h.call(ctx, "/events", b.String())
		if err == nil && code != http.StatusAccepted {
			err = fmt.Errorf("publish batch %d: %d %s", i, code, body)
		}
		return err
	})
	if err != nil {
		return thrResult{}, err
	}
	accepted := time.Since(start)
	if err := h.waitCount(ctx, h.c.n, func(c counts) int { return c.N }); err != nil {
		return thrResult{}, err
	}
	el := time.Since(start)
	return thrResult{rate: float64(h.c.n) / el.Seconds(), acceptRate: float64(h.c.n) / accepted.Seconds()}, nil
}

type steadyResult struct{ min, p50, p99, offsetErr float64 }

// steady publishes n events to bench.lat at the configured rate. Its handler pushes
// "<id> <os.clock()>" as its first act; os.clock is seconds since the hub process started, put
// on the wall clock by the sync call (bench.clock) with the shortest round trip, so the offset
// is known to within half that round trip.
func (h *hub) steady(ctx context.Context, n int) (steadyResult, error) {
	offset, halfRTT, err := h.clockOffset(ctx)
	if err != nil {
		return steadyResult{}, err
	}
	sent := make([]int64, n)
	start := time.Now()
	err = publishAll(ctx, n, h.c.clients, h.c.rate, start, func(i int) error {
		sent[i] = time.Now().UnixNano()
		return h.publish(ctx, "s-"+strconv.Itoa(i), "bench.lat")
	})
	if err != nil {
		return steadyResult{}, err
	}
	// Each handler run stored its start under lat:<event id>; read them back until all are in.
	lat := make([]float64, 0, n)
	deadline := time.Now().Add(120 * time.Second)
	for from := 0; from < n; {
		to := min(n, from+500)
		keys := make([]string, 0, to-from)
		for i := from; i < to; i++ {
			keys = append(keys, "lat:s-"+strconv.Itoa(i))
		}
		var vals map[string]string // an empty Lua table comes back as []
		var raw json.RawMessage
		if err := h.sync(ctx, "bench.dump", map[string]any{"keys": keys}, &raw); err != nil {
			return steadyResult{}, err
		}
		json.Unmarshal(raw, &vals) //nolint:errcheck // [] (none yet) leaves it empty
		if len(vals) != len(keys) {
			if time.Now().After(deadline) {
				return steadyResult{}, fmt.Errorf("latency records %d..%d not all in after 120s", from, to-1)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for j, k := range keys {
			c, err := strconv.ParseFloat(vals[k], 64)
			if err != nil {
				return steadyResult{}, fmt.Errorf("bad latency record %q for %s", vals[k], k)
			}
			lat = append(lat, (offset+c*1e9-float64(sent[from+j]))/1e6)
		}
		from = to
	}
	if len(lat) < n {
		return steadyResult{}, fmt.Errorf("%d latency records of %d", len(lat), n)
	}
	if os.Getenv("DIAG") != "" { // where the slowest events fall in the run, to tell bursts from noise
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return lat[idx[a]] > lat[idx[b]] })
		for _, i := range idx[:60] {
			fmt.Fprintf(os.Stderr, "slow %5d at %8.1f ms: %.2f ms\n", i, float64(sent[i]-sent[0])/1e6, lat[i])
		}
	}
	return steadyResult{min: pct(lat, 0), p50: pct(lat, 0.50), p99: pct(lat, 0.99), offsetErr: halfRTT / 1e6}, nil
}

// clockOffset returns wall-clock ns minus the hub's os.clock()*1e9, from 200 sync calls.
func (h *hub) clockOffset(ctx context.Context) (offset, halfRTT float64, err error) {
	halfRTT = math.Inf(1)
	for i := 0; i < 200; i++ {
		var r struct {
			Clock float64 `json:"clock"`
		}
		t0 := time.Now().UnixNano()
		if err := h.sync(ctx, "bench.clock", map[string]any{}, &r); err != nil {
			return 0, 0, err
		}
		t1 := time.Now().UnixNano()
		if half := float64(t1-t0) / 2; half < halfRTT {
			halfRTT = half
			offset = float64(t0) + half - r.Clock*1e9
		}
	}
	return offset, halfRTT, nil
}

// handlerP99 reads the handler's run-time histogram from /metrics and answers the upper bound
// of the bucket holding its 99th percentile.
func (h *hub) handlerP99(ctx context.Context, handler string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.c.hub+"/metrics", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+h.c.token)
	resp, err := h.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	type bucket struct {
		le    float64
		count float64
	}
	var bs []bucket
	for _, line := range bytes.Split(b, []byte("\n")) {
		l := string(line)
		if !strings.HasPrefix(l, "switchboard_event_handler_duration_seconds_bucket{") || !strings.Contains(l, `handler="`+handler+`"`) {
			continue
		}
		_, rest, _ := strings.Cut(l, `le="`)
		le, rest, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		cnt, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
		v := math.Inf(1)
		if le != "+Inf" {
			v, _ = strconv.ParseFloat(le, 64)
		}
		bs = append(bs, bucket{v, cnt})
	}
	if len(bs) == 0 {
		return "", errors.New("no switchboard_event_handler_duration_seconds for handler " + handler)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	total := bs[len(bs)-1].count
	for _, bk := range bs {
		if bk.count >= 0.99*total {
			return strconv.FormatFloat(bk.le*1000, 'g', -1, 64), nil
		}
	}
	return "+Inf", nil
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]
}
