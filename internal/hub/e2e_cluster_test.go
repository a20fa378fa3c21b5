package hub_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

const (
	clusterEvents  = 2000
	clusterClients = 8
	// clusterShards spreads each handler's record over this many Keystore keys, so the two
	// instances' appends seldom collide on one key.
	clusterShards = 200
)

var clusterHandlers = []string{"left", "right"}

// TestClusterSharesEvents runs two instances on the outside NATS named by
// SWITCHBOARD_TEST_NATS_URL, with two handlers on one topic. Events are published through
// both instances in turn, and one instance is closed half-way; afterwards every acknowledged
// event was handled by each handler, both instances ran some of the work, and the runs of one
// event beyond the first (allowed by at-least-once delivery) are counted and reported. The
// outside server keeps state between runs and may serve other tests at once, so the solution
// id is unique per run and its subjects are purged at the end.
func TestClusterSharesEvents(t *testing.T) {
	url := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222 with JetStream); .ci/run sets it")
	}
	began := time.Now()
	outside := func(c *hub.Config) { c.NATSURL = url }
	a := hubtest.Start(t, outside)
	b := hubtest.Start(t, outside)
	js := outsideJetStream(t, url)

	raw := make([]byte, 4)
	rand.Read(raw) //nolint:errcheck // never fails
	sol := "cluster-" + hex.EncodeToString(raw)
	a.CreateSolution(t, sol)
	t.Cleanup(func() {
		b.Do(t, "DELETE", "/api/v1/solutions/"+sol, b.AdminToken, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for stream, subj := range map[string]string{events.EventsStream: "sb.events.", events.DLQStream: "sb.dlq."} {
			if s, err := js.Stream(ctx, stream); err == nil {
				s.Purge(ctx, jetstream.WithPurgeSubject(subj+sol+".>")) //nolint:errcheck // best effort
			}
		}
	})
	for _, h := range clusterHandlers {
		r := a.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", a.AdminToken, map[string]any{
			"name": h, "topics": []string{"load.tick"},
			"script": fmt.Sprintf(`local r = Keystore.append({key = %q .. ":" .. event.data.k, args = {event.id .. " "}})
if r.error then error(r.error) end`, h),
			// Appends racing on one key retry; none may become a dead letter.
			"retry": map[string]any{"attempts": 100, "min_wait": "10ms", "max_wait": "500ms"},
		})
		if r.Status != http.StatusCreated {
			t.Fatalf("deploy handler %s: %d %s", h, r.Status, r.Body)
		}
	}
	a.Deploy(t, sol, "POST", "/seen", `local r = Keystore.mget({keys = request.body.keys})
if r.error then error(r.error) end
return r.values`)
	// An instance that does not know a handler yet drops its work, so both must know them
	// before the first event.
	hubtest.Eventually(t, "instance b to know the handlers and endpoint", func() bool {
		for _, h := range clusterHandlers {
			if r := b.Do(t, "GET", "/api/v1/solutions/"+sol+"/handlers/"+h, b.AdminToken, nil); r.Status != http.StatusOK {
				return false
			}
		}
		return b.Do(t, "POST", "/apps/"+sol+"/seen", "", map[string]any{"keys": []string{"x"}}).Status == http.StatusOK
	})

	// Event i goes to instance i%2 first, and to the other when the first does not answer
	// 202, with the same id, as docs/events.md tells senders to.
	servers := []*hubtest.Server{a, b}
	acked := make([]bool, clusterEvents)
	var sends, moved atomic.Int64
	var oddMu sync.Mutex
	var odd []string
	acks := make(chan int, clusterEvents)
	next := make(chan int)
	var wg sync.WaitGroup
	for range clusterClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := fmt.Sprintf("e-%d", i)
				body := fmt.Sprintf(`{"id":%q,"topic":"load.tick","data":{"k":"%d"}}`, id, i%clusterShards)
			tries:
				for try := 0; try < 20; try++ {
					s := servers[(i+try)%2]
					sends.Add(1)
					status, answer, err := publishTo(s, sol, body)
					switch {
					case err == nil && status == http.StatusAccepted:
						acked[i] = true
						acks <- i
						break tries
					case err == nil && status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests:
						oddMu.Lock()
						odd = append(odd, fmt.Sprintf("%s: %d %s", id, status, answer))
						oddMu.Unlock()
						break tries
					default:
						moved.Add(1)
					}
				}
			}
		}()
	}
	go func() {
		for i := range clusterEvents {
			next <- i
		}
		close(next)
		wg.Wait()
		close(acks)
	}()

	// Instance a stops once half the events are acknowledged, while the rest are published.
	var runsA map[string]int
	stopped := make(chan time.Duration, 1)
	n := 0
	for range acks {
		n++
		if n == clusterEvents/2 {
			runsA = handlerRuns(t, a, sol)
			go func() {
				start := time.Now()
				a.Close(t)
				stopped <- time.Since(start)
			}()
		}
	}
	published := time.Since(began)
	closeTook := <-stopped
	if len(odd) > 0 {
		t.Fatalf("%d unexpected answers to a publish, first: %s", len(odd), odd[0])
	}
	t.Logf("%d of %d events acknowledged in %v (%d sends, %d sent again to the other instance); instance a closed in %v",
		n, clusterEvents, published.Round(time.Millisecond), sends.Load(), moved.Load(), closeTook.Round(time.Millisecond))
	if n != clusterEvents {
		t.Fatalf("only %d of %d events acknowledged", n, clusterEvents)
	}

	// Work items a stopped instance held without an outcome come back after the consumer's
	// ack wait (30s); the work is done when none of the solution's items is left.
	drainStart := time.Now()
	waitSolutionDrained(t, js, sol, 90*time.Second)
	drained := time.Since(drainStart)

	seen := clusterSeen(t, b, sol)
	for _, h := range clusterHandlers {
		var missing []string
		handled, dupIDs, extra := 0, 0, 0
		for i, ok := range acked {
			c := seen[h][fmt.Sprintf("e-%d", i)]
			if ok && c == 0 {
				missing = append(missing, fmt.Sprintf("e-%d", i))
			}
			if c > 0 {
				handled++
			}
			if c > 1 {
				dupIDs++
				extra += c - 1
			}
		}
		t.Logf("handler %s: acknowledged %d, handled %d, missing %d, handled more than once %d (%d extra runs)",
			h, n, handled, len(missing), dupIDs, extra)
		if len(missing) > 0 {
			t.Errorf("handler %s never handled %d acknowledged events, first: %v", h, len(missing), missing[:min(len(missing), 10)])
		}
		if len(seen[h]) > clusterEvents {
			t.Errorf("handler %s handled %d distinct ids, more than the %d published", h, len(seen[h]), clusterEvents)
		}
	}

	// Runs by instance: a's were read just before it closed, so they are a lower bound.
	runsB := handlerRuns(t, b, sol)
	for _, h := range clusterHandlers {
		t.Logf("handler %s runs: instance a %d (before it closed), instance b %d", h, runsA[h], runsB[h])
		if runsA[h] == 0 || runsB[h] == 0 {
			t.Errorf("handler %s: instance a ran %d, instance b %d; want both to share the work", h, runsA[h], runsB[h])
		}
	}
	t.Logf("work drained %v after publishing ended; total %v", drained.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// publishTo sends one event body to s, returning its answer; an error is no answer at all.
func publishTo(s *hubtest.Server, sol, body string) (int, string, error) {
	req, err := http.NewRequest("POST", s.URL+"/api/v1/solutions/"+sol+"/events", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// outsideJetStream connects the test itself to the outside NATS, to watch and clean up the
// streams the instances share.
func outsideJetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// waitSolutionDrained waits until no handler of sol (clusterHandlers) has an event left.
func waitSolutionDrained(t *testing.T, js jetstream.JetStream, sol string, within time.Duration) {
	t.Helper()
	waitHandlersDrained(t, js, sol, clusterHandlers, within)
}

// waitHandlersDrained waits until none of sol's handlers has an event left, and fails on any
// dead-lettered: each one's consumer keeps an event until it is acknowledged, done or parked.
func waitHandlersDrained(t *testing.T, js jetstream.JetStream, sol string, handlers []string, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	left := -1
	for {
		var err error
		left = 0
		for _, h := range handlers {
			var c jetstream.Consumer
			if c, err = js.Consumer(ctx, events.EventsStream, events.ConsumerName(sol, h)); err != nil {
				break
			}
			var info *jetstream.ConsumerInfo
			if info, err = c.Info(ctx); err != nil {
				break
			}
			left += int(info.NumPending) + info.NumAckPending
		}
		if err == nil && left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("events of %s not drained within %v: %d left, err %v", sol, within, left, err)
		case <-tick.C:
		}
	}
	for subj, c := range deadLettered(t, js, sol) {
		t.Errorf("%d work items dead-lettered on %s", c, subj)
	}
}

// deadLettered is how many of sol's work items are parked as dead letters, per subject.
func deadLettered(t *testing.T, js jetstream.JetStream, sol string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dlq, err := js.Stream(ctx, events.DLQStream)
	if err != nil {
		return nil // no dead letter was ever parked
	}
	info, err := dlq.Info(ctx, jetstream.WithSubjectFilter("sb.dlq."+sol+".>"))
	if err != nil {
		t.Fatalf("dead letters of %s: %v", sol, err)
	}
	return info.State.Subjects
}

// clusterSeen reads the ids each handler recorded, with how often each was recorded.
func clusterSeen(t *testing.T, s *hubtest.Server, sol string) map[string]map[string]int {
	t.Helper()
	seen := map[string]map[string]int{}
	for _, h := range clusterHandlers {
		keys := make([]string, clusterShards)
		for i := range keys {
			keys[i] = h + ":" + strconv.Itoa(i)
		}
		r := s.Do(t, "POST", "/apps/"+sol+"/seen", "", map[string]any{"keys": keys})
		if r.Status != http.StatusOK {
			t.Fatalf("read %s's record: %d %s", h, r.Status, r.Body)
		}
		var values map[string]string
		if string(r.Body) != "[]" { // an empty Lua table
			r.JSON(t, &values)
		}
		seen[h] = map[string]int{}
		for _, v := range values {
			for _, id := range strings.Fields(v) {
				seen[h][id]++
			}
		}
	}
	return seen
}

// handlerRuns reads s's switchboard_event_handler_runs_total for sol's handlers: the runs that
// instance did.
func handlerRuns(t *testing.T, s *hubtest.Server, sol string) map[string]int {
	t.Helper()
	r := s.Do(t, "GET", "/metrics", s.AdminToken, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("metrics: %d %s", r.Status, r.Body)
	}
	runs := map[string]int{}
	for _, line := range strings.Split(string(r.Body), "\n") {
		if !strings.HasPrefix(line, "switchboard_event_handler_runs_total{") || !strings.Contains(line, `solution="`+sol+`"`) {
			continue
		}
		for _, h := range clusterHandlers {
			if strings.Contains(line, `handler="`+h+`"`) {
				f := strings.Fields(line)
				v, err := strconv.ParseFloat(f[len(f)-1], 64)
				if err != nil {
					t.Fatalf("metrics line %q: %v", line, err)
				}
				runs[h] = int(v)
			}
		}
	}
	return runs
}
