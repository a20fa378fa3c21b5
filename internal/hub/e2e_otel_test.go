package hub_test

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// otlpSpan is what the test receiver keeps of a span.
type otlpSpan struct {
	name, trace, id, parent string
	attrs                   map[string]string
}

// otlpReceiver is an in-process OTLP/HTTP (protobuf) trace collector.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []otlpSpan
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces with protobuf", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(raw, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				attrs := map[string]string{}
				for _, kv := range sp.Attributes {
					attrs[kv.Key] = kv.Value.GetStringValue()
				}
				o.spans = append(o.spans, otlpSpan{name: sp.Name, trace: hex.EncodeToString(sp.TraceId),
					id: hex.EncodeToString(sp.SpanId), parent: hex.EncodeToString(sp.ParentSpanId), attrs: attrs})
			}
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(out) //nolint:errcheck // the exporter may be gone
}

// TestTraceEveryHop: one endpoint request whose script calls a dynamic service, which
// triggers an event, whose handler calls the Keystore, makes one trace exported by OTLP with
// every hop the child of the one before: endpoint request → script run → service call →
// (the service, by the traceparent it got) → event published → handler run → Keystore call.
func TestTraceEveryHop(t *testing.T) {
	t.Parallel()
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	t.Cleanup(collector.Close)
	s := hubtest.Start(t, func(c *hub.Config) { c.OTLPEndpoint = collector.URL })
	tok := createSolution(t, s, "shop", nil)

	var mu sync.Mutex
	var got string // the traceparent the service got
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		tp := r.Header.Get("traceparent")
		mu.Lock()
		got = tp
		mu.Unlock()
		// The service's work triggers an event, under the trace it was called in.
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/trigger/shop/tracer/created?mode=async", strings.NewReader(`{"n":1}`))
		req.Header.Set("Authorization", "tracer "+s.Hub.ServiceToken("tracer"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", tp)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != http.StatusAccepted {
			http.Error(w, "trigger failed", http.StatusBadGateway)
			return
		}
		res.Body.Close()
		answerOK(w)
	}))
	t.Cleanup(svc.Close)
	registerAndAdd(t, s, "shop", "tracer", svc.URL)
	deployHandler(t, s, "shop", "created", []string{"tracer.created"}, `Keystore.set{key = "seen", value = "yes"}`)
	s.Deploy(t, "shop", "GET", "/order", `return Tracer.op{}`)

	if r := s.Do(t, "GET", "/apps/shop/order", "", nil); r.Status != http.StatusOK {
		t.Fatalf("endpoint: %d %s", r.Status, r.Body)
	}
	hubtest.Eventually(t, "the handler to set the key", func() bool { return keystoreValue(t, s, "shop", tok, "seen") == "yes" })
	// Closing the hub exports the spans still buffered.
	s.Close(t)

	recv.mu.Lock()
	defer recv.mu.Unlock()
	byName := map[string]otlpSpan{}
	for _, sp := range recv.spans {
		byName[sp.name] = sp
	}
	chain := []string{"GET /order", "script GET /order", "Tracer.op", "publish tracer.created", "handler created", "Keystore.set"}
	var prev otlpSpan
	for i, name := range chain {
		sp, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q among %d exported: %+v", name, len(recv.spans), recv.spans)
		}
		if sp.attrs["switchboard.solution"] != "shop" {
			t.Errorf("span %q: switchboard.solution=%q, want shop", name, sp.attrs["switchboard.solution"])
		}
		switch {
		case i == 0 && sp.parent != "":
			t.Errorf("span %q has parent %s, want none (a new trace)", name, sp.parent)
		case i > 0 && (sp.trace != prev.trace || sp.parent != prev.id):
			t.Errorf("span %q is in trace %s under %s, want trace %s under %q (%s)", name, sp.trace, sp.parent, prev.trace, prev.name, prev.id)
		}
		prev = sp
	}
	mu.Lock()
	defer mu.Unlock()
	call := byName["Tracer.op"]
	if want := "00-" + call.trace + "-" + call.id + "-01"; got != want {
		t.Errorf("the service got traceparent %q, want its call's span %q", got, want)
	}
	for k, want := range map[string]string{"switchboard.handler": "created", "messaging.destination.name": "tracer.created"} {
		if v := byName["handler created"].attrs[k]; v != want {
			t.Errorf("handler span %s=%q, want %q", k, v, want)
		}
	}
	if v := byName["Tracer.op"].attrs["switchboard.operation"]; v != "op" {
		t.Errorf("service call span switchboard.operation=%q, want op", v)
	}
}
