package hub_test

import (
	"io"
	"net/http"
	"net/http/httptest"
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
