package hub_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/clustertest"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
	"github.com/switchboardhq/switchboard/internal/lbproxy"
)

const (
	// faultEventsDefault is the events of the CI run; bench/faults.sh sets
	// SWITCHBOARD_FAULT_EVENTS=20000.
	faultEventsDefault = 2000
	// faultSpan is how long the publishing is paced to last, so that it runs through both
	// faults: the instance's (whose connector takes up to a lease and a reconcile round to
	// move) and the NATS node's. A machine too slow for the pace publishes longer.
	faultSpan = 35 * time.Second
	// faultMargin is what a loaded machine may add to the front's detection time before an
	// instance's failures count as not noticed.
	faultMargin = 2500 * time.Millisecond
	// connectorMoveBound: a dead instance's lease expires at most 15s after its last beat
	// (internal/connector leaseTTL), another instance looks for connectors nobody runs every 5s,
	// and a loaded machine gets 5s more.
	connectorMoveBound = 25 * time.Second
	faultSolution      = "faults"
)

// TestClusterFaults runs three instances, each a process of its own, on a 3-node NATS cluster
// behind a round-robin front that checks their /readyz. While events are published through
// the front and a steady endpoint load runs, the instance running a cron connector is killed
// (SIGKILL), and later the NATS node leading the events stream is stopped and started again.
// Then every acknowledged event was handled at least once (runs beyond the first are counted
// and reported), the endpoint failed only within the front's detection time of each fault,
// the connector moved to a live instance within its lease and ticks again, and the live
// instances serve, publish and handle again without anyone stepping in.
// SWITCHBOARD_FAULT_EVENTS sets how many events are published (default 2,000).
func TestClusterFaults(t *testing.T) {
	n := faultEventsDefault
	if v, err := strconv.Atoi(os.Getenv("SWITCHBOARD_FAULT_EVENTS")); err == nil && v > 0 {
		n = v
	}
	began := time.Now()
	nats := clustertest.Start(t)
	rec := startRecorder(t)
	const regToken = "test-registration-token-0123456789"
	names := []string{"sb1", "sb2", "sb3"}
	var insts []*hubtest.Server
	// Registered before the instances' own cleanups, so it runs after they have stopped, with
	// all they said.
	t.Cleanup(func() {
		for i, s := range insts {
			if strings.Contains(s.Logs.String(), "DATA RACE") {
				t.Errorf("instance %s reported a data race:\n%s", names[i], s.Logs.String())
			} else if t.Failed() && s.Logs.String() != "" {
				t.Logf("instance %s, last lines of its log:\n%s", names[i], tail(s.Logs.String(), 30))
			}
		}
	})
	for _, name := range names {
		insts = append(insts, hubtest.StartProcess(t, func(cfg *hub.Config) {
			cfg.NATSURL = nats.URLs()
			cfg.InstanceName = name
			cfg.RegistrationToken = regToken
			cfg.LogLevel = "info"
		}))
	}
	front, frontURL := startFront(t, insts)
	a := insts[0]
	tok := setUpFaultSolution(t, a, rec, regToken)
	runner := waitFaultsReady(t, insts, names, tok, rec)
	t.Logf("setup done in %v; connector on %s; front detection time %v", time.Since(began).Round(time.Millisecond), names[runner], front.DetectionTime())

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	steady := startSteadyLoad(ctx, frontURL+"/apps/"+faultSolution+"/steady")
	pub := startFaultPublisher(ctx, frontURL, a.AdminToken, n)

	// Fault 1: the connector's instance is killed once a tenth of the events are in.
	waitFor(t, "a tenth of the events acknowledged", time.Minute, func() bool { return pub.acked.Load() >= int64(n/10) })
	killed := names[runner]
	// A fault's time is taken before it is made: the failures it causes may come before the
	// call making it returns.
	killAt := time.Now()
	insts[runner].Kill(t)
	faults := []fault{{what: "instance " + killed + " killed", at: killAt}}
	waitFor(t, "the front to take "+killed+" out", 10*time.Second, func() bool { return !front.Healthy()[runner] })
	outAfter := time.Since(killAt)
	live := slices.Delete(slices.Clone(insts), runner, runner+1)
	var movedTo string
	waitFor(t, "the connector to run on a live instance", connectorMoveBound+10*time.Second, func() bool {
		st := connectorStatus(t, live[0], tok)
		if st.State == "running" && st.Instance != "" && st.Instance != killed {
			movedTo = st.Instance
			return true
		}
		return false
	})
	moved := time.Since(killAt)
	waitFor(t, "a tick handled after the move", 10*time.Second, func() bool { return rec.lastTick().After(killAt.Add(moved)) })
	ticked := rec.lastTick().Sub(killAt)

	// Fault 2: the node leading the events stream stops while publishing goes on, and comes
	// back once a tenth of the events more are in (or all are published).
	js := outsideJetStream(t, nats.URLs())
	node := streamLeader(t, js, events.EventsStream)
	ackedBefore := pub.acked.Load()
	faults = append(faults, fault{what: "nats node " + node + " stopped", at: time.Now()})
	if err := nats.Stop(node); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "events acknowledged with node "+node+" down", time.Minute, func() bool {
		return pub.acked.Load() >= ackedBefore+int64(n/10) || pub.finished()
	})
	ackedDown := pub.acked.Load() - ackedBefore
	faults = append(faults, fault{what: "nats node " + node + " restarted", at: time.Now()})
	restartCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := nats.Restart(restartCtx, node)
	cancel()
	if err != nil {
		t.Fatalf("restart nats node %s: %v", node, err)
	}
	rejoined := time.Since(faults[2].at)

	waitFor(t, "every event published", 2*faultSpan+time.Duration(n)*5*time.Millisecond, pub.finished)
	published := time.Since(pub.began)
	stopLoad()
	failures := steady.wait()
	acked := pub.ackedIDs()

	// Handled: every acknowledged event's id was recorded by the handler's service call. What
	// a killed instance held comes back after the consumer's ack wait (30s). Not a fatal wait:
	// the figures are wanted even when some are missing.
	var missing []string
	deadline := time.Now().Add(time.Minute + time.Duration(n)*5*time.Millisecond)
	for missing = rec.missing(acked); len(missing) > 0 && time.Now().Before(deadline); missing = rec.missing(acked) {
		time.Sleep(100 * time.Millisecond)
	}
	handledAt := time.Since(pub.began)

	// Recovered: each live instance is ready, serves the endpoint, and takes and handles an
	// event of its own.
	for i, s := range live {
		waitFor(t, "instance "+s.URL+" ready", 30*time.Second, func() bool { return s.Do(t, "GET", "/readyz", "", nil).Status == http.StatusOK })
		if r := s.Do(t, "GET", "/apps/"+faultSolution+"/steady", "", nil); r.Status != http.StatusOK {
			t.Errorf("after the faults, %s answers the endpoint %d %s", s.URL, r.Status, r.Body)
		}
		id := fmt.Sprintf("after-%d", i)
		waitFor(t, "an event accepted by "+s.URL, 30*time.Second, func() bool {
			status, _, err := publishTo(s, faultSolution, fmt.Sprintf(`{"id":%q,"topic":"load.in","data":{}}`, id))
			return err == nil && status == http.StatusAccepted
		})
		waitFor(t, "event "+id+" handled", 30*time.Second, func() bool { return rec.count(id) > 0 })
	}
	waitFor(t, "the front to have both live instances in rotation", 10*time.Second, func() bool {
		h := front.Healthy()
		return h[(runner+1)%3] && h[(runner+2)%3]
	})

	// The figures.
	handled, dups, extra := rec.tally(acked)
	since := func(at time.Time) time.Duration { return at.Sub(pub.began).Round(time.Millisecond) }
	pubFailures := pub.failures.sorted()
	t.Logf("faults: events published %d, acknowledged %d, refused or unanswered %d, in %v (paced over %v); %d acknowledged with node %s down",
		n, len(acked), len(pubFailures), published.Round(time.Millisecond), faultSpan, ackedDown, node)
	t.Logf("faults: events acknowledged %d, handled %d, missing %d, duplicates %d (%d extra runs); all handled %v after publishing began",
		len(acked), handled, len(missing), dups, extra, handledAt.Round(time.Millisecond))
	t.Logf("faults: connector moved from %s to %s %v after the kill (front took %s out after %v); first tick after the move %v after the kill",
		killed, movedTo, moved.Round(time.Millisecond), killed, outAfter.Round(time.Millisecond), ticked.Round(time.Millisecond))
	t.Logf("faults: after publishing began: %s at %v, %s at %v, %s at %v (back in the cluster %v later); slowest publish %v, sent at %v",
		faults[0].what, since(faults[0].at), faults[1].what, since(faults[1].at), faults[2].what, since(faults[2].at),
		rejoined.Round(time.Millisecond), pub.slowestTook().Round(time.Millisecond), since(pub.slowestFrom))
	t.Logf("faults: endpoint requests %d, failed %d", steady.requests.Load(), len(failures))
	bound := front.DetectionTime() + faultMargin
	if early := failedBefore(failures, faults[0].at); len(early) > 0 {
		t.Errorf("%d endpoint requests failed before any fault, first: %s", len(early), early[0].err)
	}
	if early := failedBefore(pubFailures, faults[0].at); len(early) > 0 {
		t.Errorf("%d publishes failed before any fault, first: %s", len(early), early[0].err)
	}
	longest := time.Duration(0)
	for i, f := range faults {
		end := time.Now()
		if i+1 < len(faults) {
			end = faults[i+1].at
		}
		w, count, first := failureWindow(failures, f.at, end, false)
		longest = max(longest, w)
		// Publishes by the time they were sent: one may wait for JetStream's answer
		// (bus.PublishAckTimeout) until after the next fault.
		pw, pcount, pfirst := failureWindow(pubFailures, f.at, end, true)
		t.Logf("faults: after %s: endpoint failure window %v (%d failures)%s; publish failure window %v (%d failures, by the time each was sent)%s",
			f.what, w.Round(time.Millisecond), count, first, pw.Round(time.Millisecond), pcount, pfirst)
		if w > bound {
			t.Errorf("endpoint requests failed for %v after %s; want at most the front's detection time %v + %v", w.Round(time.Millisecond), f.what, front.DetectionTime(), faultMargin)
		}
	}
	t.Logf("faults: longest endpoint failure window %v (bound %v); total %v", longest.Round(time.Millisecond), bound, time.Since(began).Round(time.Millisecond))
	if moved > connectorMoveBound {
		t.Errorf("connector moved %v after its instance was killed; want within %v (lease 15s, reconcile 5s, margin)", moved, connectorMoveBound)
	}
	if d := deadLettered(t, js, faultSolution); len(d) > 0 {
		t.Errorf("dead letters: %v", d)
	}
	if len(missing) > 0 {
		t.Errorf("%d acknowledged events never handled, first: %v", len(missing), missing[:min(len(missing), 10)])
	}
}

// setUpFaultSolution makes the solution on s: the recorder service, handlers calling it for
// each event of load.in and each tick, the endpoint of the steady load and the cron connector.
// It returns the solution's token.
func setUpFaultSolution(t *testing.T, s *hubtest.Server, rec *recorder, regToken string) string {
	t.Helper()
	tok := s.CreateSolution(t, faultSolution)
	doc := swagger(strings.TrimPrefix(rec.srv.URL, "http://"), `      parameters:
        - {name: id, in: query, type: string, required: true}
        - {name: kind, in: query, type: string, required: true}
`)
	wantStatus(t, s.Do(t, "POST", "/api/v1/register/", regToken, map[string]any{"name": "rec", "swagger": doc}), http.StatusCreated)
	wantStatus(t, s.Do(t, "POST", "/api/v1/solutions/"+faultSolution+"/services", tok, map[string]any{"service": "rec"}), http.StatusCreated)
	// A failed call fails the run, so the event is delivered again rather than taken as done.
	record := `local r = Rec.op({id = event.id, kind = %q})
if type(r) == "table" and r.error then error(r.error) end`
	for name, topic := range map[string]string{"record": "load.in", "tick": "ticks.second"} {
		wantStatus(t, s.Do(t, "POST", "/api/v1/solutions/"+faultSolution+"/handlers", tok, map[string]any{
			"name": name, "topics": []string{topic}, "script": fmt.Sprintf(record, name),
		}), http.StatusCreated)
	}
	s.Deploy(t, faultSolution, "GET", "/steady", `return {ok = true}`)
	wantStatus(t, s.Do(t, "POST", "/api/v1/solutions/"+faultSolution+"/connectors", tok, map[string]any{
		"name": "tick", "type": "cron", "topic": "ticks.second", "config": map[string]any{"schedule": "@every 1s"},
	}), http.StatusCreated)
	return tok
}

// waitFaultsReady waits until every instance serves the endpoint and handles an event
// published to it, and the connector runs and ticks; it returns the index of the instance
// running the connector.
func waitFaultsReady(t *testing.T, insts []*hubtest.Server, names []string, tok string, rec *recorder) int {
	t.Helper()
	for i, s := range insts {
		hubtest.Eventually(t, names[i]+" to serve the endpoint", func() bool {
			return s.Do(t, "GET", "/apps/"+faultSolution+"/steady", "", nil).Status == http.StatusOK
		})
		id := "warm-" + names[i]
		hubtest.Eventually(t, names[i]+" to know the handler", func() bool {
			return s.Do(t, "GET", "/api/v1/solutions/"+faultSolution+"/handlers/record", tok, nil).Status == http.StatusOK
		})
		status, body, err := publishTo(s, faultSolution, fmt.Sprintf(`{"id":%q,"topic":"load.in","data":{}}`, id))
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("publish through %s: %d %s %v", names[i], status, body, err)
		}
		waitFor(t, "event "+id+" handled", 30*time.Second, func() bool { return rec.count(id) > 0 })
	}
	var st connectorStatusAnswer
	waitFor(t, "the connector running", 30*time.Second, func() bool {
		st = connectorStatus(t, insts[0], tok)
		return st.State == "running" && slices.Contains(names, st.Instance)
	})
	waitFor(t, "a tick handled", 30*time.Second, func() bool { return !rec.lastTick().IsZero() })
	return slices.Index(names, st.Instance)
}

type connectorStatusAnswer struct {
	State    string `json:"state"`
	Instance string `json:"instance"`
}

func connectorStatus(t *testing.T, s *hubtest.Server, tok string) connectorStatusAnswer {
	t.Helper()
	r := s.Do(t, "GET", "/api/v1/solutions/"+faultSolution+"/connectors/tick", tok, nil)
	var got connectorAnswer
	if r.Status == http.StatusOK {
		r.JSON(t, &got)
	}
	return connectorStatusAnswer{State: got.Status.State, Instance: got.Status.Instance}
}

// startFront runs the round-robin front over the instances until the test ends, checking
// their /readyz every 250ms.
func startFront(t *testing.T, insts []*hubtest.Server) (*lbproxy.Proxy, string) {
	t.Helper()
	var backends []*url.URL
	for _, s := range insts {
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		backends = append(backends, u)
	}
	// The check's timeout is longer than the interval: a loaded instance may take a while to
	// answer without being gone.
	p := lbproxy.New(lbproxy.Options{Backends: backends, Interval: 250 * time.Millisecond, Timeout: time.Second})
	stop := p.Start()
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		stop()
	})
	return p, srv.URL
}

// recorder is the dynamic service the handlers call: it counts the calls per event id, and
// keeps the time of the last tick.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen map[string]int
	tick time.Time
}

func startRecorder(t *testing.T) *recorder {
	rec := &recorder{seen: map[string]int{}}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/op" {
			q := r.URL.Query()
			rec.mu.Lock()
			rec.seen[q.Get("id")]++
			if q.Get("kind") == "tick" {
				rec.tick = time.Now()
			}
			rec.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":true}`) //nolint:errcheck // test
		}
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func (r *recorder) lastTick() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tick
}

// missing is the ids of ids not recorded.
func (r *recorder) missing(ids []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range ids {
		if r.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// tally is how many of ids were recorded, how many more than once, and the calls beyond the
// first.
func (r *recorder) tally(ids []string) (handled, dups, extra int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		c := r.seen[id]
		if c > 0 {
			handled++
		}
		if c > 1 {
			dups++
			extra += c - 1
		}
	}
	return handled, dups, extra
}

// faultPublisher publishes events ev-0 … ev-(n-1) through the front, event i due at
// faultSpan*i/n after the start (sent at once when late), from a few clients; each event is
// sent once. It keeps every failure with its time, and the slowest publish.
type faultPublisher struct {
	began    time.Time
	acked    atomic.Int64
	ok       []atomic.Bool
	done     chan struct{}
	failures failureLog

	mu          sync.Mutex
	slowest     time.Duration
	slowestFrom time.Time
}

func startFaultPublisher(ctx context.Context, front, token string, n int) *faultPublisher {
	p := &faultPublisher{began: time.Now(), ok: make([]atomic.Bool, n), done: make(chan struct{})}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range n {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(p.began.Add(faultSpan * time.Duration(i) / time.Duration(n)))):
			}
			next <- i
		}
	}()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				start := time.Now()
				why := p.publish(ctx, client, front, token, i)
				if took := time.Since(start); took > p.slowestTook() {
					p.mu.Lock()
					p.slowest, p.slowestFrom = took, start
					p.mu.Unlock()
				}
				if why == "" {
					p.ok[i].Store(true)
					p.acked.Add(1)
				} else if ctx.Err() == nil {
					p.failures.add(start, why)
				}
			}
		})
	}
	go func() {
		wg.Wait()
		client.CloseIdleConnections()
		close(p.done)
	}()
	return p
}

// publish sends event i, returning why it was not acknowledged ("" when it was).
func (p *faultPublisher) publish(ctx context.Context, client *http.Client, front, token string, i int) string {
	body := fmt.Sprintf(`{"id":"ev-%d","topic":"load.in","data":{}}`, i)
	req, err := http.NewRequestWithContext(ctx, "POST", front+"/api/v1/solutions/"+faultSolution+"/events", strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Sprintf("%d %s", resp.StatusCode, answer)
	}
	return ""
}

func (p *faultPublisher) slowestTook() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.slowest
}

func (p *faultPublisher) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *faultPublisher) ackedIDs() []string {
	var ids []string
	for i := range p.ok {
		if p.ok[i].Load() {
			ids = append(ids, "ev-"+strconv.Itoa(i))
		}
	}
	return ids
}

// steadyLoad is a few clients each getting an endpoint through the front every 20ms, keeping
// every failure with its time.
type steadyLoad struct {
	requests atomic.Int64
	failures failureLog
	wg       sync.WaitGroup
}

type failure struct {
	sent time.Time // when the request was sent
	at   time.Time // when the answer (or the error) came
	err  string
}

// failureLog keeps failures as they come, from several goroutines.
type failureLog struct {
	mu   sync.Mutex
	list []failure
}

// add keeps a failure of a request sent at sent, answered now.
func (l *failureLog) add(sent time.Time, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, failure{sent: sent, at: time.Now(), err: why})
}

// sorted is the failures so far in time order.
func (l *failureLog) sorted() []failure {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.list)
	slices.SortFunc(out, func(a, b failure) int { return a.at.Compare(b.at) })
	return out
}

type fault struct {
	what string
	at   time.Time
}

func startSteadyLoad(ctx context.Context, endpoint string) *steadyLoad {
	l := &steadyLoad{}
	for range 3 {
		l.wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			pace := time.NewTicker(20 * time.Millisecond)
			defer pace.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
				l.requests.Add(1)
				sent := time.Now()
				why := getOK(ctx, client, endpoint)
				if why != "" && ctx.Err() == nil {
					l.failures.add(sent, why)
				}
			}
		})
	}
	return l
}

// getOK is why a GET of url did not answer 200 {"ok":true}, "" when it did.
func getOK(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != `{"ok":true}` {
		return fmt.Sprintf("%d %s %v", resp.StatusCode, body, err)
	}
	return ""
}

// wait stops with the load's context and returns the failures in time order.
func (l *steadyLoad) wait() []failure {
	l.wg.Wait()
	return l.failures.sorted()
}

func failedBefore(fs []failure, at time.Time) []failure {
	var out []failure
	for _, f := range fs {
		if f.at.Before(at) {
			out = append(out, f)
		}
	}
	return out
}

// failureWindow is how long after from the last failure before to came (by the time it was
// sent when bySent, else by its answer's), how many failures came in between, and the first
// one's error (for the log).
func failureWindow(fs []failure, from, to time.Time, bySent bool) (time.Duration, int, string) {
	var w time.Duration
	count, first := 0, ""
	for _, f := range fs {
		at := f.at
		if bySent {
			at = f.sent
		}
		if at.Before(from) || !at.Before(to) {
			continue
		}
		if count == 0 {
			first = "; first: " + f.err
		}
		count++
		w = max(w, at.Sub(from))
	}
	return w, count, first
}

// streamLeader is the NATS node leading stream name.
func streamLeader(t *testing.T, js jetstream.JetStream, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info := st.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("stream %s has no leader: %+v", name, info.Cluster)
	}
	return info.Cluster.Leader
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
