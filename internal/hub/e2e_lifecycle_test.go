package hub_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

func TestLifecycleRestartDurability(t *testing.T) {
	t.Parallel()
	// No admin token given: the hub makes one and must keep it across restarts.
	s := hubtest.Start(t, func(c *hub.Config) { c.AdminToken = "" })
	admin := s.AdminToken
	if admin == "" {
		t.Fatal("no admin token was made")
	}
	tok := createSolution(t, s, "keep", map[string]any{"timeout_ms": 2000, "steps": 5000000})
	tempTok := createSolution(t, s, "temp", nil)
	keystoreEndpoints(t, s, "keep")
	s.Deploy(t, "keep", "GET", "/hello", `return "hello v1"`)
	s.Deploy(t, "keep", "GET", "/hello", `return "hello v2"`)
	s.Deploy(t, "keep", "GET", "/removed", `return "removed"`)
	if r := s.Do(t, "DELETE", "/api/v1/solutions/keep/endpoints/GET/removed", tok, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete endpoint: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "DELETE", "/api/v1/solutions/temp", admin, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete temp: %d %s", r.Status, r.Body)
	}
	ksSet(t, s, "keep", "k1", "value one")
	ksSet(t, s, "keep", "k/2", "value two")
	solBefore := s.Do(t, "GET", "/api/v1/solutions/keep", tok, nil)
	epsBefore := s.Do(t, "GET", "/api/v1/solutions/keep/endpoints", tok, nil)

	check := func(t *testing.T, keys []string) {
		t.Helper()
		if s.AdminToken != admin {
			t.Errorf("admin token changed across the restart")
		}
		if r := s.Do(t, "GET", "/api/v1/solutions", admin, nil); r.Status != http.StatusOK || strings.Join(ids(t, r), ",") != "keep" {
			t.Errorf("solutions with the old admin token: %d %s, want keep alone", r.Status, r.Body)
		}
		if r := s.Do(t, "GET", "/api/v1/solutions/keep", tok, nil); r.Status != http.StatusOK || !bytes.Equal(r.Body, solBefore.Body) {
			t.Errorf("solution with its old token: %d %s, want 200 %s", r.Status, r.Body, solBefore.Body)
		}
		if r := s.Do(t, "GET", "/api/v1/solutions/keep/endpoints", tok, nil); r.Status != http.StatusOK || !bytes.Equal(r.Body, epsBefore.Body) {
			t.Errorf("endpoints: %d %s, want 200 %s", r.Status, r.Body, epsBefore.Body)
		}
		wantText(t, call(t, s, "GET", "/apps/keep/hello", 10*time.Second), "hello v2")
		wantAPIError(t, call(t, s, "GET", "/apps/keep/removed", 10*time.Second), http.StatusNotFound, "")
		wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions/temp", admin, nil), http.StatusNotFound, "")
		wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions", tempTok, nil), http.StatusUnauthorized, "")
		for k, v := range map[string]string{"k1": "value one", "k/2": "value two"} {
			if got, ok := ksGet(t, s, "keep", k); !ok || got != v {
				t.Errorf("keystore %s = %q (exists %v), want %q", k, got, ok, v)
			}
		}
		if got, n := ksKeys(t, s, "keep"); strings.Join(got, ",") != strings.Join(keys, ",") || n != len(keys) {
			t.Errorf("keys %v (count %d), want %v", got, n, keys)
		}
	}

	s.Restart(t)
	t.Run("after a restart", func(t *testing.T) { check(t, []string{"k/2", "k1"}) })

	// What is written after a restart lasts the next one too.
	ksSet(t, s, "keep", "k3", "value three")
	s.Restart(t)
	t.Run("after a second restart", func(t *testing.T) {
		check(t, []string{"k/2", "k1", "k3"})
		if got, _ := ksGet(t, s, "keep", "k3"); got != "value three" {
			t.Errorf("k3 = %q", got)
		}
	})
}

// metricValue finds the sample of name whose labels include want, in Prometheus text format.
func metricValue(text, name string, want map[string]string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		end := strings.LastIndex(line, "}")
		if end < 0 {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(line[len(name)+1:end], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		return v, err == nil
	}
	return 0, false
}

func TestLifecycleHealthAndMetrics(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	for _, tc := range []struct{ path, body string }{
		{"/healthz", `{"status":"ok"}`},
		{"/readyz", `{"status":"ready"}`},
	} {
		r := s.Do(t, "GET", tc.path, "", nil)
		wantJSON(t, r, tc.body)
	}

	createSolution(t, s, "demo", nil)
	s.Deploy(t, "demo", "GET", "/ok", `return "ok"`)
	s.Deploy(t, "demo", "GET", "/fail", `error("on purpose")`)
	const oks, fails = 3, 2
	for range oks {
		wantText(t, call(t, s, "GET", "/apps/demo/ok", 10*time.Second), "ok")
	}
	for range fails {
		scriptFailure(t, s, call(t, s, "GET", "/apps/demo/fail", 10*time.Second))
	}
	wantAPIError(t, call(t, s, "GET", "/apps/demo/missing", 10*time.Second), http.StatusNotFound, "")
	wantAPIError(t, call(t, s, "GET", "/apps/nosuch/x", 10*time.Second), http.StatusNotFound, "")

	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"switchboard_http_requests_total", map[string]string{"solution": "demo", "code": "200"}, oks},
		{"switchboard_http_requests_total", map[string]string{"solution": "demo", "code": "500"}, fails},
		{"switchboard_http_requests_total", map[string]string{"solution": "demo", "code": "404"}, 1},
		{"switchboard_script_runs_total", map[string]string{"solution": "demo", "outcome": "ok"}, oks},
		{"switchboard_script_runs_total", map[string]string{"solution": "demo", "outcome": "error"}, fails},
		{"switchboard_script_errors_total", map[string]string{"solution": "demo"}, fails},
	}
	var text string
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := s.Do(t, "GET", "/metrics", s.AdminToken, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("/metrics: %d %s", r.Status, r.Body)
		}
		text = string(r.Body)
		all := true
		for _, w := range want {
			v, ok := metricValue(text, w.name, w.labels)
			all = all && ok && v == w.value
		}
		if all || time.Now().After(deadline) {
			break
		}
	}
	for _, w := range want {
		if v, ok := metricValue(text, w.name, w.labels); !ok || v != w.value {
			t.Errorf("%s%v = %v (found %v), want %v", w.name, w.labels, v, ok, w.value)
		}
	}
	if strings.Contains(text, `solution="nosuch"`) {
		t.Errorf("a request to an unknown solution made a series for it")
	}

	// A deleted solution's series go with it.
	if r := s.Do(t, "DELETE", "/api/v1/solutions/demo", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete demo: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "GET", "/metrics", s.AdminToken, nil); strings.Contains(string(r.Body), `solution="demo"`) {
		t.Errorf("series of the deleted solution remain")
	}
}

func TestLifecycleGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "slow", map[string]any{"timeout_ms": 20000, "steps": 1_000_000_000})
	// The run says it has started through the keystore, then stays busy for a second.
	s.Deploy(t, "slow", "GET", "/slow", `Keystore.set({key = "started", value = request.parameters.run})
local t0 = os.clock()
while os.clock() - t0 < 1.0 do end
return "done"`)
	s.Deploy(t, "slow", "GET", "/started", `return {run = Keystore.get({key = "started"}).value or ""}`)

	type result struct {
		r   hubtest.Response
		err error
		at  time.Time
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		r, err := fetch(ctx, "GET", s.URL+"/apps/slow/slow?run=r1", nil)
		done <- result{r, err, time.Now()}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := call(t, s, "GET", "/apps/slow/started", 10*time.Second)
		if r.Status != http.StatusOK {
			t.Fatalf("/started: %d %s", r.Status, r.Body)
		}
		if r.Map(t)["run"] == "r1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow run did not start within 10s")
		}
	}

	closeStart := time.Now()
	s.Close(t)

	res := <-done
	if res.err != nil {
		t.Fatalf("in-flight request during shutdown: %v", res.err)
	}
	if res.r.Status != http.StatusOK || string(res.r.Body) != "done" {
		t.Errorf("in-flight request during shutdown: %d %s, want 200 done", res.r.Status, res.r.Body)
	}
	if res.at.Before(closeStart) {
		t.Fatalf("the slow request ended before shutdown began; the test showed nothing")
	}
	// Once closed, the hub takes no new requests.
	if _, err := fetch(ctx, "GET", s.URL+"/healthz", nil); err == nil {
		t.Errorf("a request after Close was answered")
	}
}
