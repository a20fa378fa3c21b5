package hub_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
	"github.com/switchboardhq/switchboard/internal/traceparent"
)

// TestEventTrace: an event carries the traceparent of the request publishing it (or a new
// trace), and its handler's service calls continue that trace, whether the handler runs now
// or durably later.
func TestEventTrace(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	tok := createSolution(t, s, "shop", nil)
	seen := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		seen <- r.Header.Get("traceparent")
		answerOK(w)
	}))
	t.Cleanup(srv.Close)
	registerAndAdd(t, s, "shop", "tracer", srv.URL)
	deployHandler(t, s, "shop", "traced", []string{"orders.*"}, `Tracer.op{} return {traceparent = event.extensions.traceparent}`)

	publish := func(query, tp string) hubtest.Response {
		t.Helper()
		req, err := http.NewRequest("POST", s.URL+"/api/v1/solutions/shop/events"+query, strings.NewReader(`{"topic":"orders.created","data":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if tp != "" {
			req.Header.Set("traceparent", tp)
		}
		return s.Send(t, req)
	}
	called := func(t *testing.T) string {
		t.Helper()
		select {
		case tp := <-seen:
			if !traceparent.Valid(tp) {
				t.Fatalf("the service got traceparent %q, not a valid one", tp)
			}
			return tp
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not call the service")
			return ""
		}
	}
	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sameTrace := func(t *testing.T, got, want string) {
		t.Helper()
		if got[3:35] != want[3:35] || got[36:52] == want[36:52] {
			t.Fatalf("the service got %q: want trace %s under a span of its own", got, want[3:35])
		}
	}

	t.Run("durable, from the request", func(t *testing.T) {
		if r := publish("", incoming); r.Status != http.StatusAccepted {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		sameTrace(t, called(t), incoming)
	})
	t.Run("sync, from the request", func(t *testing.T) {
		r := publish("?mode=sync", incoming)
		if r.Status != http.StatusOK || r.Map(t)["traceparent"] != incoming {
			t.Fatalf("publish: %d %s, want the event to carry %s", r.Status, r.Body, incoming)
		}
		sameTrace(t, called(t), incoming)
	})
	t.Run("a new trace", func(t *testing.T) {
		r := publish("?mode=sync", "")
		tp, _ := r.Map(t)["traceparent"].(string)
		if r.Status != http.StatusOK || !traceparent.Valid(tp) || tp[3:35] == incoming[3:35] {
			t.Fatalf("publish: %d %s, want the event to carry a new trace", r.Status, r.Body)
		}
		sameTrace(t, called(t), tp)
	})
	t.Run("the CloudEvent's own", func(t *testing.T) {
		const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		req, err := http.NewRequest("POST", s.URL+"/api/v1/solutions/shop/events", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{
			"Authorization": "Bearer " + tok, "Content-Type": "application/json", "traceparent": incoming,
			"ce-specversion": "1.0", "ce-id": "ce1", "ce-source": "/shop", "ce-type": "orders.paid", "ce-traceparent": own,
		} {
			req.Header.Set(k, v)
		}
		if r := s.Send(t, req); r.Status != http.StatusAccepted {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		sameTrace(t, called(t), own)
	})
}

// registerAndAdd registers a dynamic service name at url (one operation, op) and adds it to sol.
func registerAndAdd(t *testing.T, s *hubtest.Server, sol, name, url string) {
	t.Helper()
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": name, "swagger": swagger(strings.TrimPrefix(url, "http://"), "")}); r.Status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", name, r.Status, r.Body)
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/services", s.AdminToken, map[string]any{"service": name}); r.Status != http.StatusCreated {
		t.Fatalf("add %s: %d %s", name, r.Status, r.Body)
	}
}

// answerOK answers a service call with {"ok":true}.
func answerOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`) //nolint:errcheck // the hub may be gone
}
