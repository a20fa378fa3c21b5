package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// The restart suites: for each durable connector type, a stream of numbered messages goes on
// while the hub (TestConnectorHubRestart) or the broker (TestConnectorBrokerRestart) stops
// and comes back, and in the end every number was handled, each by one event: a message is
// acknowledged to its source only once stored, and one redelivered keeps its event id.
// The types' sides (brokers, publishers, configs) are in e2e_connector_sources_test.go.

// restartTypes are the durable connector types, with how each test gets its source.
var restartTypes = []struct {
	typ    string
	source func(t *testing.T, mode restartMode) *restartSource
}{
	{"nats", natsRestartSource},
	{"mqtt", mqttRestartSource},
	{"amqp", amqpRestartSource},
	{"redis", redisRestartSource},
	{"kafka", kafkaRestartSource},
}

// restartMode is what a test stops in the middle of the stream.
type restartMode string

const (
	hubGraceful restartMode = "graceful" // the hub closes as on SIGTERM
	hubAbrupt   restartMode = "abrupt"   // the hub's process is killed: no lease given up, nothing closed
	brokerDown  restartMode = "broker"   // the broker goes away and comes back
)

// restartSource is one type's side of a test.
type restartSource struct {
	typ    string
	config map[string]any
	// publish sends message n, data {"n": n}, with an id of the source where the type has
	// one, and returns once the broker holds it. Sending n again after an error must not make
	// a second message of another id.
	publish func(ctx context.Context, n int) error
	// lossyUntilSubscribed: the broker keeps nothing for a subscription not made yet (MQTT), so
	// the first message is sent until one arrives.
	lossyUntilSubscribed bool
	// stop and start the broker, in brokerDown mode.
	stop, start func()
	// publishesThroughOutage: the publisher reaches the broker while the connector cannot
	// (a proxy cut), so publishing goes on during the outage; otherwise it pauses.
	publishesThroughOutage bool
}

// restartHandler records each event as "<n> <event id>" in one set.
const restartHandler = `local r = Keystore.sadd({key = "got", args = {tostring(event.data.n) .. " " .. event.id}})
if type(r) == "table" and r.error then error(r.error) end`

const (
	restartSolution = "rs"
	restartTopic    = "restart.in"
	// restartPace spaces the messages: a stream, not a burst, so each stop lands mid-stream.
	restartPace = 20 * time.Millisecond
)

// TestConnectorHubRestart: for each durable type, the hub stops mid-stream and a new one
// starts on its data directory while the publisher goes on; every message published is
// handled, once. graceful closes the hub; abrupt kills its process, so the new hub waits for
// the dead one's lease to expire (up to 15s) and the broker redelivers what was unacknowledged.
func TestConnectorHubRestart(t *testing.T) {
	for _, tc := range restartTypes {
		for _, mode := range []restartMode{hubGraceful, hubAbrupt} {
			t.Run(tc.typ+"/"+string(mode), func(t *testing.T) {
				t.Parallel()
				src := tc.source(t, mode)
				var s *hubtest.Server
				if mode == hubAbrupt {
					s = hubtest.StartProcess(t)
				} else {
					s = hubtest.Start(t)
				}
				st := startStream(t, s, src)
				st.waitHandled(t, "30 messages handled before the stop", 20*time.Second, 30)

				if mode == hubAbrupt {
					s.Kill(t)
				} else {
					s.Close(t)
				}
				down := st.pub.published()
				st.pub.waitPublished(t, down+20)
				t.Logf("hub stopped (%s) after %d published; %d published while it was down", mode, down, st.pub.published()-down)
				s.Restart(t)

				// A dead hub's lease expires within 15s and is taken within 5s more; then the
				// stream goes on, what the dead hub held at its broker given up at once (a
				// Kafka group member would hold its partitions for its 45s session).
				after := st.pub.published()
				st.waitHandled(t, "messages published after the restart", 40*time.Second, after+20)
				st.finish(t)
			})
		}
	}
}

// TestConnectorBrokerRestart: for each durable type, the broker goes away mid-stream and comes
// back; the connector backs off (its status says why), runs again, and every message
// published is handled, once. nats, mqtt, redis and kafka restart a broker of the test's own
// (embedded nats-server and kfake with their files, Mosquitto with persistence, redis-server
// with an append-only file); RabbitMQ is too heavy to run per test, so its connections go
// through a proxy that is cut and restored, which is a restart as the client sees it.
func TestConnectorBrokerRestart(t *testing.T) {
	for _, tc := range restartTypes {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			src := tc.source(t, brokerDown)
			s := hubtest.Start(t)
			st := startStream(t, s, src)
			st.waitHandled(t, "30 messages handled before the broker stops", 20*time.Second, 30)

			if !src.publishesThroughOutage {
				st.pub.pause()
			}
			src.stop()
			state, lastErr := st.waitState(t, "backing-off", 20*time.Second)
			t.Logf("broker down: %s, %s", state, lastErr)
			if lastErr == "" {
				t.Errorf("backing off with no last_error")
			}
			if src.publishesThroughOutage {
				st.pub.waitPublished(t, st.pub.published()+20)
			}
			src.start()
			if !src.publishesThroughOutage {
				st.pub.resume()
			}
			// Within a back-off or two, not a broker-side timeout of the connection that
			// went (a Kafka group member's session: 45s).
			after := st.pub.published()
			st.waitHandled(t, "messages published after the broker came back", 25*time.Second, after+20)
			if state, lastErr := st.status(t); state != "running" || lastErr == "" {
				t.Errorf("after the broker came back: state %q, last_error %q; want running, and the last error kept", state, lastErr)
			}
			st.finish(t)
		})
	}
}

// restartStream is a connector of a test's hub, fed by a publisher.
type restartStream struct {
	s   *hubtest.Server
	src *restartSource
	pub *streamPublisher
}

// startStream makes the solution, its handler and the connector, sees a first message
// through, then publishes 2, 3, … until finish.
func startStream(t *testing.T, s *hubtest.Server, src *restartSource) *restartStream {
	t.Helper()
	s.CreateSolution(t, restartSolution)
	if r := s.Do(t, "POST", "/api/v1/solutions/"+restartSolution+"/handlers", s.AdminToken, map[string]any{
		"name": "record", "topics": []string{restartTopic}, "script": restartHandler,
	}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/"+restartSolution+"/connectors", s.AdminToken, map[string]any{
		"name": "src", "type": src.typ, "topic": restartTopic, "config": src.config,
	}); r.Status != http.StatusCreated {
		t.Fatalf("create connector: %d %s", r.Status, r.Body)
	}
	st := &restartStream{s: s, src: src}
	first := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := src.publish(ctx, 1); err != nil {
			t.Fatalf("publish the first message: %v", err)
		}
	}
	first()
	deadline := time.Now().Add(20 * time.Second)
	for again := time.Now().Add(250 * time.Millisecond); len(st.handled(t)[1]) == 0; {
		if time.Now().After(deadline) {
			state, lastErr := st.status(t)
			t.Fatalf("the first message not handled within 20s (connector %s, last error %q)", state, lastErr)
		}
		if src.lossyUntilSubscribed && time.Now().After(again) {
			first() // same id: stored once however often it arrives
			again = time.Now().Add(250 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st.pub = startPublisher(t, 2, src.publish)
	return st
}

// handled is what the handler recorded: the event ids of each number.
func (st *restartStream) handled(t *testing.T) map[int][]string {
	t.Helper()
	r := st.s.Do(t, "GET", "/api/v1/solutions/"+restartSolution+"/keystore/keys/got", st.s.AdminToken, nil)
	if r.Status == http.StatusNotFound {
		return nil
	}
	var v struct{ Value []string }
	if r.Status != http.StatusOK {
		t.Fatalf("read what was handled: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &v)
	got := map[int][]string{}
	for _, m := range v.Value {
		num, id, _ := strings.Cut(m, " ")
		n, err := strconv.Atoi(num)
		if err != nil {
			t.Fatalf("handled %q: not a number and an id", m)
		}
		got[n] = append(got[n], id)
	}
	return got
}

// waitHandled waits until numbers 1 to n were all handled.
func (st *restartStream) waitHandled(t *testing.T, what string, timeout time.Duration, n int) map[int][]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := st.handled(t)
		missing := missingOf(got, n)
		if len(missing) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			state, lastErr := st.status(t)
			t.Fatalf("timed out after %s waiting for %s: of 1 to %d, %d not handled (%s); connector %s, last error %q",
				timeout, what, n, len(missing), listNumbers(missing), state, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// finish stops the publisher and checks every number published was handled, by one event.
func (st *restartStream) finish(t *testing.T) {
	t.Helper()
	n := st.pub.stop(t)
	got := st.waitHandled(t, "every message published", 30*time.Second, n)
	var twice []string
	for i := 1; i <= n; i++ {
		if ids := got[i]; len(ids) > 1 {
			twice = append(twice, fmt.Sprintf("%d as %v", i, ids))
		}
	}
	if len(twice) > 0 {
		t.Errorf("%d messages stored as more than one event: %s", len(twice), strings.Join(twice, "; "))
	}
	for i := range got {
		if i < 1 || i > n {
			t.Errorf("handled %d, never published (1 to %d were)", i, n)
		}
	}
	state, _ := st.status(t)
	t.Logf("%d messages, each handled once; connector %s", n, state)
}

// status is the connector's state and last error.
func (st *restartStream) status(t *testing.T) (state, lastError string) {
	t.Helper()
	r := st.s.Do(t, "GET", "/api/v1/solutions/"+restartSolution+"/connectors/src", st.s.AdminToken, nil)
	var c connectorAnswer
	if r.Status != http.StatusOK {
		t.Fatalf("connector status: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &c)
	return c.Status.State, c.Status.LastError
}

// waitState waits for the connector's state.
func (st *restartStream) waitState(t *testing.T, want string, timeout time.Duration) (state, lastError string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		state, lastError = st.status(t)
		if state == want {
			return state, lastError
		}
		if time.Now().After(deadline) {
			t.Fatalf("connector still %s after %s (last error %q), want %s", state, timeout, lastError, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func missingOf(got map[int][]string, n int) []int {
	var missing []int
	for i := 1; i <= n; i++ {
		if len(got[i]) == 0 {
			missing = append(missing, i)
		}
	}
	return missing
}

// listNumbers shows numbers as ranges, the first few of them.
func listNumbers(ns []int) string {
	slices.Sort(ns)
	var parts []string
	for i := 0; i < len(ns) && len(parts) < 10; {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(ns[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ns[i], ns[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// streamPublisher publishes n, n+1, … one every restartPace, each until the broker took it.
type streamPublisher struct {
	publish func(ctx context.Context, n int) error
	gate    sync.Mutex // held while paused, and around each message
	stopCh  chan struct{}
	done    chan struct{}

	mu     sync.Mutex
	last   int
	err    error
	paused bool
}

func startPublisher(t *testing.T, from int, publish func(ctx context.Context, n int) error) *streamPublisher {
	p := &streamPublisher{publish: publish, last: from - 1, stopCh: make(chan struct{}), done: make(chan struct{})}
	go p.run(from)
	t.Cleanup(func() { // a test that failed midway may have left it paused
		select {
		case <-p.stopCh:
		default:
			close(p.stopCh)
		}
		p.mu.Lock()
		paused := p.paused
		p.mu.Unlock()
		if paused {
			p.resume()
		}
		<-p.done
	})
	return p
}

func (p *streamPublisher) run(n int) {
	defer close(p.done)
	for ; ; n++ {
		p.gate.Lock()
		err := p.send(n)
		p.gate.Unlock()
		if err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		p.last = n
		p.mu.Unlock()
		select {
		case <-p.stopCh:
			return
		case <-time.After(restartPace):
		}
	}
}

// send publishes message n, again after an error (a broker coming back), for up to 30s.
func (p *streamPublisher) send(n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.publish(ctx, n)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("message %d not published within 30s: %w", n, err)
		}
		select {
		case <-p.stopCh:
			return fmt.Errorf("message %d not published before the end: %w", n, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pause waits for the message being sent, and sends no more until resume.
func (p *streamPublisher) pause() {
	p.gate.Lock()
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

func (p *streamPublisher) resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	p.gate.Unlock()
}

// published is the last number the broker took.
func (p *streamPublisher) published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// waitPublished waits until the broker took message n.
func (p *streamPublisher) waitPublished(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for p.published() < n {
		p.mu.Lock()
		err := p.err
		p.mu.Unlock()
		if err != nil {
			t.Fatalf("publisher: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %d not published within 20s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends publishing and returns the last number published.
func (p *streamPublisher) stop(t *testing.T) int {
	t.Helper()
	close(p.stopCh)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatalf("publisher: %v", p.err)
	}
	return p.last
}
