package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/clustertest"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestNATSCluster runs three instances on a 3-node NATS cluster: the streams and buckets they
// create have 3 replicas, and a deploy, a service registration, a handler and a connector made
// on one instance are served by all three. It then measures how long an endpoint deploy takes
// to reach the other two (see deployPropagation).
func TestNATSCluster(t *testing.T) {
	c := clustertest.Start(t)
	// Each instance named: the connector's check that one instance runs it tells them apart.
	onCluster := func(name string) func(*hub.Config) {
		return func(cfg *hub.Config) { cfg.NATSURL, cfg.InstanceName = c.URLs(), name }
	}
	a, b, cc := hubtest.Start(t, onCluster("a")), hubtest.Start(t, onCluster("b")), hubtest.Start(t, onCluster("c"))
	all := []*hubtest.Server{a, b, cc}
	const sol = "demo"
	tok := a.CreateSolution(t, sol)

	t.Run("deploy", func(t *testing.T) {
		a.Deploy(t, sol, "GET", "/hello", `return {hello = "cluster"}`)
		for i, s := range all {
			hubtest.Eventually(t, fmt.Sprintf("instance %d to serve the endpoint", i), func() bool {
				r := s.Do(t, "GET", "/apps/"+sol+"/hello", "", nil)
				return r.Status == http.StatusOK && string(r.Body) == `{"hello":"cluster"}`
			})
		}
	})

	t.Run("service", func(t *testing.T) {
		svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/op" {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"served":true}`)) //nolint:errcheck // test
			}
		}))
		t.Cleanup(svc.Close)
		doc := swagger(strings.TrimPrefix(svc.URL, "http://"), "")
		wantStatus(t, a.Do(t, "POST", "/api/v1/register/", a.Hub.RegistrationToken(), map[string]any{"name": "svc", "swagger": doc}), http.StatusCreated)
		wantStatus(t, a.Do(t, "POST", "/api/v1/solutions/"+sol+"/services", tok, map[string]any{"service": "svc"}), http.StatusCreated)
		a.Deploy(t, sol, "GET", "/call", `return Svc.op({})`)
		for i, s := range all {
			hubtest.Eventually(t, fmt.Sprintf("instance %d to call the service", i), func() bool {
				r := s.Do(t, "GET", "/apps/"+sol+"/call", "", nil)
				return r.Status == http.StatusOK && string(r.Body) == `{"served":true}`
			})
		}
	})

	t.Run("handler", func(t *testing.T) {
		wantStatus(t, a.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", tok, map[string]any{
			"name": "count", "topics": []string{"hits.in"}, "script": `Keystore.set({key = "ran-" .. event.id, value = "yes"})`,
		}), http.StatusCreated)
		for i, s := range all {
			hubtest.Eventually(t, fmt.Sprintf("instance %d to know the handler", i), func() bool {
				return s.Do(t, "GET", "/api/v1/solutions/"+sol+"/handlers/count", tok, nil).Status == http.StatusOK
			})
		}
		// One event through each instance: each is handled once, wherever it runs.
		for i, s := range all {
			status, body, err := publishTo(s, sol, fmt.Sprintf(`{"id":"hit-%d","topic":"hits.in","data":{}}`, i))
			if err != nil || status >= 300 {
				t.Fatalf("publish through instance %d: %d %s %v", i, status, body, err)
			}
		}
		for i := range all {
			key := fmt.Sprintf("ran-hit-%d", i)
			hubtest.Eventually(t, "event hit-"+strconv.Itoa(i)+" handled", func() bool { return keystoreValue(t, cc, sol, tok, key) == "yes" })
		}
	})

	t.Run("connector", func(t *testing.T) {
		wantStatus(t, a.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", tok, map[string]any{
			"name": "ticks", "topics": []string{"ticks.second"}, "script": `Keystore.incr({key = "ticks"})`,
		}), http.StatusCreated)
		wantStatus(t, a.Do(t, "POST", "/api/v1/solutions/"+sol+"/connectors", tok, map[string]any{
			"name": "tick", "type": "cron", "topic": "ticks.second", "config": map[string]any{"schedule": "@every 1s"},
		}), http.StatusCreated)
		// Every instance reports the one instance that runs it.
		var runner string
		for i, s := range all {
			hubtest.Eventually(t, fmt.Sprintf("instance %d to see the connector running", i), func() bool {
				r := s.Do(t, "GET", "/api/v1/solutions/"+sol+"/connectors/tick", tok, nil)
				if r.Status != http.StatusOK {
					return false
				}
				var got connectorAnswer
				r.JSON(t, &got)
				if got.Status.State != "running" || got.Status.Instance == "" {
					return false
				}
				if runner == "" {
					runner = got.Status.Instance
				}
				return got.Status.Instance == runner
			})
		}
		hubtest.Eventually(t, "two ticks handled", func() bool {
			n, _ := strconv.Atoi(keystoreValue(t, b, sol, tok, "ticks"))
			return n >= 2
		})
	})

	t.Run("replicas", func(t *testing.T) {
		js := outsideJetStream(t, c.URLs())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, name := range []string{"KV_sb_solutions", "KV_sb_endpoints", "KV_sb_ks_" + sol, "SB_EVENTS", "SB_DLQ"} {
			st, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatalf("stream %s: %v", name, err)
			}
			info := st.CachedInfo()
			if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas)+1 != 3 {
				t.Errorf("stream %s: %d replicas configured, cluster %+v; want 3 nodes", name, info.Config.Replicas, info.Cluster)
			}
		}
	})

	// The seed's endpoint, busy on one instance, has that instance fence the solution's bucket
	// and answer its same-value sets from memory; a write through another instance makes it give
	// the fence up first, so the busy instance's next set is stored over that write.
	t.Run("keystore fence", func(t *testing.T) {
		// A solution of its own: the handler above may still write the other's bucket.
		const sol = "fence"
		a.CreateSolution(t, sol)
		a.Deploy(t, sol, "GET", "/seed", `Keystore.set({key="my-key", value="my-key-value-updated"})
return Keystore.get({key="my-key"})`)
		a.Deploy(t, sol, "POST", "/put", `Keystore.set({key="my-key", value=request.body.value})
return Keystore.get({key="my-key"})`)
		a.Deploy(t, sol, "GET", "/read", `return Keystore.get({key="my-key"})`)
		metric := func(s *hubtest.Server, name string) float64 {
			v, _ := metricValue(string(s.Do(t, "GET", "/metrics", s.AdminToken, nil).Body), name, nil)
			return v
		}
		const seed = `{"value":"my-key-value-updated"}`
		hubtest.Eventually(t, "instance a to fence the bucket", func() bool {
			for range 100 {
				if r := a.Do(t, "GET", "/apps/"+sol+"/seed", "", nil); r.Status != http.StatusOK || string(r.Body) != seed {
					t.Fatalf("seed endpoint on a: %d %s", r.Status, r.Body)
				}
			}
			return metric(a, "switchboard_keystore_fences_held") == 1
		})
		rounds := metric(a, "switchboard_keystore_catchup_rounds_total")
		for range 100 {
			a.Do(t, "GET", "/apps/"+sol+"/seed", "", nil)
		}
		if n := metric(a, "switchboard_keystore_catchup_rounds_total") - rounds; n != 0 {
			t.Errorf("%v catch-up rounds for 100 requests on the fenced bucket, want none", n)
		}

		hubtest.Eventually(t, "instance b to serve /put", func() bool {
			return b.Do(t, "POST", "/apps/"+sol+"/put", "", map[string]any{"value": "from-b"}).Status == http.StatusOK
		})
		if v := metric(a, "switchboard_keystore_fence_releases_given_total"); v != 1 {
			t.Errorf("a gave its fence up %v times, want 1", v)
		}
		if v := metric(a, "switchboard_keystore_fences_held"); v != 0 {
			t.Errorf("a still holds %v fences", v)
		}
		hubtest.Eventually(t, "instance c to read b's write", func() bool {
			return string(cc.Do(t, "GET", "/apps/"+sol+"/read", "", nil).Body) == `{"value":"from-b"}`
		})
		if r := a.Do(t, "GET", "/apps/"+sol+"/seed", "", nil); string(r.Body) != seed {
			t.Fatalf("seed endpoint on a after b's write: %d %s", r.Status, r.Body)
		}
		hubtest.Eventually(t, "instance c to read a's set over b's write", func() bool {
			return string(cc.Do(t, "GET", "/apps/"+sol+"/read", "", nil).Body) == seed
		})
	})

	t.Run("propagation", func(t *testing.T) {
		n := 50
		if v, err := strconv.Atoi(os.Getenv("SWITCHBOARD_PROPAGATION_DEPLOYS")); err == nil && v > 0 {
			n = v
		}
		ms := deployPropagation(t, a, []*hubtest.Server{b, cc}, sol, n)
		p50, p99 := percentile(ms, 0.50), percentile(ms, 0.99)
		t.Logf("deploy propagation to 2 other instances over %d deploys: p50 %.1f ms, p99 %.1f ms, max %.1f ms", n, p50, p99, ms[len(ms)-1])
		// The figure to hold is 100 ms (BENCHMARKS.md); a loaded CI machine gets ten times that
		// before the test calls it broken.
		if p99 > 1000 {
			t.Errorf("p99 deploy propagation %.1f ms; want well under 100 ms", p99)
		}
	})
}

// TestNATSClusterReplicasRefused: --replicas beyond what the 3-node cluster places stops the
// instance at start, naming the flag and what the cluster allows; nothing is created.
func TestNATSClusterReplicasRefused(t *testing.T) {
	c := clustertest.Start(t)
	h, err := hub.New(hub.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), NATSURL: c.URLs(), Replicas: 5}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = h.Start(ctx)
	want := "--replicas 5: the NATS servers at " + c.URLs() + " place at most 3 replicas"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("start with --replicas 5 on 3 nodes: %v; want %q", err, want)
	}
	js := outsideJetStream(t, c.URLs())
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		t.Errorf("stream %s created by an instance that did not start", name)
	}
}

// deployPropagation deploys n versions of one endpoint on from and measures, for each, the
// time from the deploy's answer until every instance of to answers the new version. It
// returns the times in milliseconds, sorted.
func deployPropagation(t *testing.T, from *hubtest.Server, to []*hubtest.Server, sol string, n int) []float64 {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	answers := func(s *hubtest.Server, want string) bool {
		resp, err := client.Get(s.URL + "/apps/" + sol + "/version")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return err == nil && resp.StatusCode == http.StatusOK && string(body) == want
	}
	var times []float64
	for i := range n {
		want := fmt.Sprintf(`{"version":%d}`, i)
		from.Deploy(t, sol, "GET", "/version", fmt.Sprintf(`return {version = %d}`, i))
		deployed := time.Now()
		var wg sync.WaitGroup
		late := make([]time.Duration, len(to))
		for j, s := range to {
			wg.Go(func() {
				for !answers(s, want) {
					if time.Since(deployed) > 10*time.Second {
						late[j] = -1
						return
					}
					time.Sleep(time.Millisecond) // the poll's resolution
				}
				late[j] = time.Since(deployed)
			})
		}
		wg.Wait()
		if slices.Contains(late, -1) {
			t.Fatalf("deploy %d not served by every instance after 10s", i)
		}
		times = append(times, float64(slices.Max(late))/float64(time.Millisecond))
	}
	slices.Sort(times)
	return times
}

// TestNATSClusterNoQuorum: with two of the cluster's three nodes stopped, JetStream has no
// quorum and stores nothing. A publish then answers 503 with Retry-After, one event or a
// batch, since sending it again is all a sender needs to do; /readyz says not ready (JetStream
// not answering, though the connection is up) while /healthz stays 200; once the nodes are
// back, /readyz is 200 again and the same id is taken and handled.
func TestNATSClusterNoQuorum(t *testing.T) {
	c := clustertest.Start(t)
	s := hubtest.Start(t, func(cfg *hub.Config) { cfg.NATSURL = c.URLs() })
	const sol = "quorum"
	tok := s.CreateSolution(t, sol)
	wantStatus(t, s.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", tok, map[string]any{
		"name": "mark", "topics": []string{"q.in"}, "script": `local r = Keystore.set({key = event.id, value = "handled"})
if type(r) == "table" and r.error then error(r.error) end`,
	}), http.StatusCreated)
	publish := func(body any) hubtest.Response {
		return s.Do(t, "POST", "/api/v1/solutions/"+sol+"/events", tok, body)
	}
	// The streams exist before the quorum goes.
	wantStatus(t, publish(map[string]any{"id": "before", "topic": "q.in"}), http.StatusAccepted)

	lost := time.Now()
	for _, n := range []string{"n2", "n3"} {
		if err := c.Stop(n); err != nil {
			t.Fatal(err)
		}
	}
	// Both at once: each may wait for JetStream's answer until bus.PublishAckTimeout.
	event := map[string]any{"id": "during", "topic": "q.in"}
	var wg sync.WaitGroup
	for name, body := range map[string]any{"one event": event, "a batch": []any{event}} {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			req, _ := http.NewRequest("POST", s.URL+"/api/v1/solutions/"+sol+"/events", bytes.NewReader(raw))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("%s without quorum: %v", name, err)
				return
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s without quorum: %d (Retry-After %q) %s; want 503 with Retry-After", name, resp.StatusCode, resp.Header.Get("Retry-After"), answer)
			}
		})
	}
	wg.Wait()
	// The connection to n1 is up, but JetStream has no quorum: not ready, though alive.
	readyz := func() (int, map[string]string) {
		r := s.Do(t, "GET", "/readyz", "", nil)
		var body map[string]string
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("/readyz body %q: %v", r.Body, err)
		}
		return r.Status, body
	}
	waitFor(t, "/readyz to say JetStream is not answering", 45*time.Second, func() bool {
		code, body := readyz()
		return code == http.StatusServiceUnavailable && body["status"] == "not ready" && strings.Contains(body["reason"], "JetStream")
	})
	t.Logf("/readyz not ready %v after two nodes stopped", time.Since(lost).Round(time.Millisecond))
	if r := s.Do(t, "GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("/healthz without a quorum: %d, want 200 (alive, only not ready)", r.Status)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range []string{"n2", "n3"} {
		if err := c.Restart(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	hubtest.Eventually(t, "/readyz to be ready again", func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
	hubtest.Eventually(t, "the event taken when sent again", func() bool { return publish(event).Status == http.StatusAccepted })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("report of the event: %s", s.Do(t, "GET", "/api/v1/solutions/"+sol+"/events/during", tok, nil).Body)
			t.Logf("the hub's log:\n%s", tail(s.Logs.String(), 60))
		}
	})
	// The Keystore may fail the first runs while its stream settles; the retries wait 1s,
	// then 5s, then 30s.
	waitFor(t, "the event handled", 45*time.Second, func() bool { return keystoreValue(t, s, sol, tok, "during") == "handled" })
}
