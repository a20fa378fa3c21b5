package hub_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// benchEndpoint starts a hub with solution demo, a registered service svc answering
// {"value":"x"} at POST /op, and GET /call (return Svc.op({value="x"})) and GET /plain
// (return {value="x"}) deployed. It returns the hub.
func benchEndpoint(b *testing.B) *hubtest.Server {
	s := hubtest.Start(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck // benchmark
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"value":"x"}`)) //nolint:errcheck // benchmark
	}))
	b.Cleanup(srv.Close)
	doc := swagger(strings.TrimPrefix(srv.URL, "http://"), "") +
		`      parameters:
        - {name: body, in: body, schema: {type: object, properties: {value: {type: string}}}}
`
	if r := s.Do(b, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "svc", "swagger": doc}); r.Status != http.StatusCreated {
		b.Fatalf("register: %d %s", r.Status, r.Body)
	}
	if r := s.Do(b, "POST", "/api/v1/solutions", s.AdminToken, map[string]any{"id": "demo"}); r.Status != http.StatusCreated {
		b.Fatalf("solution: %d %s", r.Status, r.Body)
	}
	if r := s.Do(b, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc"}); r.Status != http.StatusCreated {
		b.Fatalf("add: %d %s", r.Status, r.Body)
	}
	s.Deploy(b, "demo", "GET", "/call", `return Svc.op({value="x"})`)
	s.Deploy(b, "demo", "GET", "/plain", `return {value="x"}`)
	return s
}

func benchGet(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != `{"value":"x"}` {
			b.Fatalf("%d %s %v", resp.StatusCode, body, err)
		}
	}
}

// BenchmarkEndpointServiceCall is one request to an endpoint whose script makes one call to a
// dynamic service, client, hub and service in this process, over loopback.
func BenchmarkEndpointServiceCall(b *testing.B) {
	benchGet(b, benchEndpoint(b).URL+"/apps/demo/call")
}

// BenchmarkEndpointPlain is the same endpoint without the service call, for what the call adds.
func BenchmarkEndpointPlain(b *testing.B) {
	benchGet(b, benchEndpoint(b).URL+"/apps/demo/plain")
}

// BenchmarkEndpointPrint is the plain endpoint printing one line to its solution's log, for
// what logging adds to a request (compare with BenchmarkEndpointPlain).
func BenchmarkEndpointPrint(b *testing.B) {
	s := benchEndpoint(b)
	s.Deploy(b, "demo", "GET", "/print", `print("hello from the benchmark") return {value="x"}`)
	benchGet(b, s.URL+"/apps/demo/print")
}

// BenchmarkDurableEvents is events published in batches of 100 (POST …/events with a JSON
// array) to a handler doing Keystore.incr, until the counter shows them all handled: the
// whole durable path, HTTP in to handler done, per event.
func BenchmarkDurableEvents(b *testing.B) { benchDurableEvents(b, 100) }

// BenchmarkDurableEventsOneByOne is BenchmarkDurableEvents with one event per POST, from one
// client.
func BenchmarkDurableEventsOneByOne(b *testing.B) { benchDurableEvents(b, 1) }

func benchDurableEvents(b *testing.B, batch int) {
	s := hubtest.Start(b)
	s.CreateSolution(b, "bench")
	if r := s.Do(b, "POST", "/api/v1/solutions/bench/handlers", s.AdminToken, map[string]any{
		"name": "count", "topics": []string{"bench.count"}, "script": `Keystore.incr({key = "count"})`, "max_in_flight": benchInFlight}); r.Status != http.StatusCreated {
		b.Fatalf("deploy: %d %s", r.Status, r.Body)
	}
	s.Deploy(b, "bench", "GET", "/count", `return Keystore.get({key = "count"}).value or "0"`)
	total := (b.N + batch - 1) / batch * batch
	var body strings.Builder
	body.WriteByte('[')
	for i := range batch {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"topic":"bench.count"}`)
	}
	body.WriteByte(']')
	b.ResetTimer()
	for range total / batch {
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/solutions/bench/events", strings.NewReader(body.String()))
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		req.Header.Set("Content-Type", "application/json")
		if r := s.Send(b, req); r.Status != http.StatusAccepted {
			b.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	// At least once: a run that failed after its increment (a timeout) runs again.
	var got int
	hubtest.Eventually(b, "every event handled", func() bool {
		r := s.Do(b, "GET", "/apps/bench/count", "", nil)
		got, _ = strconv.Atoi(strings.Trim(string(r.Body), "\"\n"))
		return got >= total
	})
	b.StopTimer()
	if got > total {
		b.Logf("%d events counted %d times", total, got)
	}
}

// benchInFlight is the max_in_flight of BenchmarkDurableEvents's handler.
var benchInFlight = 16
