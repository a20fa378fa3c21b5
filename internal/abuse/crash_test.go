package abuse

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// The crash test's size: the number of events is the one the events issue asks to survive.
const (
	crashEvents  = 20_000
	crashClients = 8
	// crashShards spreads the handled ids over this many Keystore keys, within the key quota
	// and one mget.
	crashShards = 1000
)

// TestNoAcknowledgedEventLost publishes events from several clients while the server is
// killed with SIGKILL and restarted on the same data twice. Every event answered 202 must
// then be handled; events handled more than once (at-least-once delivery) are counted and
// reported. Clients send an event again, with the same id, when they got no answer, as
// docs/events.md tells senders to.
func TestNoAcknowledgedEventLost(t *testing.T) {
	began := time.Now()
	data := t.TempDir()
	natsAddr := hubtest.FreeAddr(t)
	flags := []string{"--nats-listen", natsAddr}
	s := launch(t, data, "127.0.0.1:0", flags...)
	addr := s.Addr
	s.solution(t, "crash", nil)
	// Each run appends the event id to its shard's key, so an id handled twice appears twice.
	// The retry policy keeps a run that fails while the server goes down from being
	// dead-lettered.
	r := s.do(t, "POST", "/api/v1/solutions/crash/handlers", adminToken, map[string]any{
		"name": "count", "topics": []string{"load.tick"},
		"script": `local r = Keystore.append({key = event.data.k, args = {event.id .. " "}})
if r.error then error(r.error) end`,
		"retry": map[string]any{"attempts": 100, "min_wait": "10ms", "max_wait": "500ms"},
	})
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("deploy handler: %s", r)
	}
	s.endpoint(t, "crash", "POST", "/seen", `local r = Keystore.mget({keys = request.body.keys})
if r.error then error(r.error) end
return r.values`)

	// Kill at a random point near 5,000 and near 12,000 acknowledged events.
	killAt := []int{5000 + rand.IntN(1000), 12000 + rand.IntN(1000)}
	p := &publisher{url: s.URL + "/api/v1/solutions/crash/events", acks: make(chan int, crashClients)}
	p.acked = make([]bool, crashEvents)
	next := make(chan int)
	var wg sync.WaitGroup
	for range crashClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p.publish(i)
			}
		}()
	}
	go func() {
		for i := range crashEvents {
			next <- i
		}
		close(next)
	}()
	go func() { wg.Wait(); close(p.acks) }()

	acked := 0
	for range p.acks {
		acked++
		if len(killAt) > 0 && acked == killAt[0] {
			killAt = killAt[1:]
			down := time.Now()
			s.kill(t)
			s = launch(t, data, addr, flags...)
			t.Logf("killed with SIGKILL after %d acknowledged events; serving again after %v", acked, time.Since(down).Round(time.Millisecond))
		}
	}
	published := time.Since(began)
	t.Logf("%d events acknowledged in %v (%d sends in all: %d without an answer, %d refused for now)",
		acked, published.Round(time.Millisecond), p.sends.Load(), p.lost.Load(), p.busy.Load())
	if len(p.odd) > 0 {
		t.Errorf("%d unexpected answers to a publish, first: %s", len(p.odd), p.odd[0])
	}
	if acked != crashEvents {
		t.Fatalf("only %d of %d events acknowledged", acked, crashEvents)
	}

	drained := waitDrained(t, natsAddr, data, 120*time.Second)
	seen := readSeen(t, s)
	var missing []string
	handled, dupIDs, extraRuns := 0, 0, 0
	for i, ok := range p.acked {
		n := seen[crashID(i)]
		if ok && n == 0 {
			missing = append(missing, crashID(i))
		}
		if n > 0 {
			handled++
		}
		if n > 1 {
			dupIDs++
			extraRuns += n - 1
		}
	}
	t.Logf("acknowledged %d, handled %d, missing %d, duplicates %d events (%d extra runs); "+
		"work drained %v after publishing ended; total %v",
		acked, handled, len(missing), dupIDs, extraRuns, drained.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	if len(seen) > crashEvents {
		t.Errorf("handled %d distinct ids, more than the %d published", len(seen), crashEvents)
	}
	if len(missing) > 0 {
		t.Errorf("%d acknowledged events were never handled, first: %v\nlast logs:\n%s",
			len(missing), missing[:min(len(missing), 10)], tail(s.logs.String(), 4000))
	}
}

func crashID(i int) string { return fmt.Sprintf("e-%d", i) }

// publisher sends the crash test's events, each until it is acknowledged.
type publisher struct {
	url   string
	acks  chan int
	acked []bool // by event; each index is written by the one client sending it

	sends, lost, busy atomic.Int64
	mu                sync.Mutex
	odd               []string
}

// crashClient has short timeouts: a request caught by the kill fails at once (the connection
// is reset), and a restart takes well under them.
var crashClient = &http.Client{Timeout: 15 * time.Second}

// publish sends event i until it is answered 202, again with the same id after no answer or
// a busy answer, and reports the acknowledgement.
func (p *publisher) publish(i int) {
	body := fmt.Sprintf(`{"id":%q,"topic":"load.tick","data":{"k":"s:%d"}}`, crashID(i), i%crashShards)
	deadline := time.Now().Add(2 * time.Minute) // within the dedup window
	for attempt := 1; time.Now().Before(deadline); attempt++ {
		p.sends.Add(1)
		status, answer, err := p.send(body)
		switch {
		case err != nil:
			p.lost.Add(1)
		case status == http.StatusAccepted:
			var a struct{ ID string }
			if json.Unmarshal(answer, &a) != nil || a.ID != crashID(i) {
				p.note(fmt.Sprintf("%s: 202 naming another id: %s", crashID(i), answer))
			}
			p.acked[i] = true
			p.acks <- i
			return
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
			p.busy.Add(1)
		default:
			p.note(fmt.Sprintf("%s: %d %s", crashID(i), status, truncate(string(answer), 300)))
		}
		// Back off a little, so clients do not spin while the server restarts.
		time.Sleep(time.Duration(min(attempt, 20)) * 10 * time.Millisecond)
	}
	p.note(crashID(i) + ": not acknowledged within 2 minutes")
}

func (p *publisher) note(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.odd = append(p.odd, s)
}

func (p *publisher) send(body string) (int, []byte, error) {
	req, err := http.NewRequest("POST", p.url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := crashClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// waitDrained waits until the shared work consumer has nothing left to deliver and nothing
// delivered without an outcome, reading it through the embedded server's client port, and
// returns how long that took. Work items a killed process held come back only after the
// consumer's ack wait (30s).
func waitDrained(t *testing.T, natsAddr, data string, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	token, err := os.ReadFile(filepath.Join(data, "nats-token"))
	if err != nil {
		t.Fatalf("read the NATS token: %v", err)
	}
	nc, err := nats.Connect("nats://"+natsAddr, nats.Token(strings.TrimSpace(string(token))))
	if err != nil {
		t.Fatalf("connect to the embedded NATS: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last *jetstream.ConsumerInfo
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		cons, err := js.Consumer(ctx, events.EventsStream, events.ConsumerName("crash", "count"))
		if err == nil {
			last, err = cons.Info(ctx)
		}
		if err == nil && last.NumPending == 0 && last.NumAckPending == 0 {
			if dlq, err := js.Stream(ctx, events.DLQStream); err == nil {
				if n := dlq.CachedInfo().State.Msgs; n > 0 {
					t.Errorf("%d events were dead-lettered", n)
				}
			}
			return time.Since(began)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("work not drained within %v: consumer %+v, err %v", within, last, err)
		case <-tick.C:
		}
	}
}

// readSeen counts the runs of each event id from the shards the handler appended to.
func readSeen(t *testing.T, s *server) map[string]int {
	t.Helper()
	keys := make([]string, crashShards)
	for i := range keys {
		keys[i] = fmt.Sprintf("s:%d", i)
	}
	r := s.do(t, "POST", "/apps/crash/seen", "", map[string]any{"keys": keys})
	if r.Status != http.StatusOK {
		t.Fatalf("read the shards: %s", r)
	}
	var values map[string]string
	if string(r.Body) != "[]" { // an empty Lua table
		if err := json.Unmarshal(r.Body, &values); err != nil {
			t.Fatalf("read the shards: %v: %s", err, truncate(string(r.Body), 300))
		}
	}
	seen := map[string]int{}
	for _, v := range values {
		for _, id := range strings.Fields(v) {
			seen[id]++
		}
	}
	return seen
}
