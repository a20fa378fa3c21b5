package servicekit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testRegistrationToken = "sbr_registration-0123456789"
	testServiceToken      = "sbs_service-token-0123456789"
)

// fakeHub implements the hub's side of the service protocol (docs/service-protocol.md):
// registration, calls of platform services and event triggers.
type fakeHub struct {
	*httptest.Server

	mu sync.Mutex
	// registerFailures are answered, in order, to the first registration attempts.
	registerFailures []int
	// probeHealth makes the hub GET the registered document's host + health path and refuse
	// the registration unless it answers 2xx, as the real hub does.
	probeHealth bool
	healthPath  string
	attempts    int
	taken       bool                // the name is registered: updates need testServiceToken
	presented   []string            // X-Switchboard-Service-Token of each registration attempt
	registered  chan map[string]any // each accepted registration's body
	requests    []*http.Request     // calls and triggers, bodies in bodies
	bodies      []string
}

func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	h := &fakeHub{registered: make(chan map[string]any, 10), healthPath: "/health"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/register/", h.register)
	mux.HandleFunc("POST /api/v1/call/{solution}/{service}/{operation}", h.call)
	mux.HandleFunc("POST /api/v1/trigger/{solution}/{service}/{event}", h.trigger)
	h.Server = httptest.NewServer(mux)
	t.Cleanup(h.Close)
	return h
}

func hubJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *fakeHub) register(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testRegistrationToken {
		hubJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid registration token"})
		return
	}
	h.mu.Lock()
	h.attempts++
	n := h.attempts
	presented := r.Header.Get(HeaderServiceToken)
	h.presented = append(h.presented, presented)
	taken := h.taken
	var fail int
	if n <= len(h.registerFailures) {
		fail = h.registerFailures[n-1]
	}
	probe := h.probeHealth
	h.mu.Unlock()
	if fail != 0 {
		hubJSON(w, fail, map[string]any{"error": fmt.Sprintf("attempt %d: failing with %d", n, fail)})
		return
	}
	if taken && presented != testServiceToken {
		hubJSON(w, http.StatusForbidden, map[string]any{"error": "service demo is already registered: updating it needs its service token"})
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		hubJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "body: " + err.Error()})
		return
	}
	if body["name"] != "demo" {
		hubJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "unknown name", "field": "name"})
		return
	}
	if probe {
		doc, _ := body["swagger"].(map[string]any)
		host, _ := doc["host"].(string)
		resp, err := http.Get("http://" + host + h.healthPath)
		if err != nil || resp.StatusCode/100 != 2 {
			hubJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": fmt.Sprintf("health check of %s failed: %v", host, err), "field": "swagger"})
			return
		}
		resp.Body.Close()
	}
	h.mu.Lock()
	h.taken = true
	h.mu.Unlock()
	h.registered <- body
	hubJSON(w, http.StatusCreated, map[string]any{"name": "demo", "token": testServiceToken, "status": "registered"})
}

// record keeps r and its body; false (with the answer written) when r is not authorized.
func (h *fakeHub) record(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.requests = append(h.requests, r)
	h.bodies = append(h.bodies, string(body))
	h.mu.Unlock()
	if r.Header.Get("Authorization") != "demo "+testServiceToken {
		hubJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid service token", "status": 401})
		return nil, false
	}
	return body, true
}

func (h *fakeHub) call(w http.ResponseWriter, r *http.Request) {
	body, ok := h.record(w, r)
	if !ok {
		return
	}
	sol, svc, op := r.PathValue("solution"), r.PathValue("service"), r.PathValue("operation")
	var args map[string]any
	_ = json.Unmarshal(body, &args)
	switch {
	case sol != "demo":
		hubJSON(w, http.StatusNotFound, map[string]any{"error": "solution " + sol + " not found", "status": 404})
	case svc == "keystore" && op == "get":
		hubJSON(w, http.StatusOK, map[string]any{"value": fmt.Sprint("value of ", args["key"])})
	case svc == "broken":
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("upstream exploded"))
	default:
		hubJSON(w, http.StatusNotFound, map[string]any{"error": "no operation " + svc + "." + op, "status": 404})
	}
}

func (h *fakeHub) trigger(w http.ResponseWriter, r *http.Request) {
	body, ok := h.record(w, r)
	if !ok {
		return
	}
	sol, svc, ev := r.PathValue("solution"), r.PathValue("service"), r.PathValue("event")
	switch {
	case svc != "demo" || sol != "demo":
		hubJSON(w, http.StatusForbidden, map[string]any{"error": "solution " + sol + " has not added " + svc, "status": 403})
	case r.URL.Query().Get("mode") == "async":
		hubJSON(w, http.StatusAccepted, map[string]any{"id": "evt-1"})
	default:
		var data any
		_ = json.Unmarshal(body, &data)
		hubJSON(w, http.StatusOK, map[string]any{"event": ev, "data": data})
	}
}

func (h *fakeHub) lastRequest(t *testing.T) (*http.Request, string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.requests) == 0 {
		t.Fatal("the hub received no call")
	}
	return h.requests[len(h.requests)-1], h.bodies[len(h.bodies)-1]
}

// signedRequest is a call of the hub to a service, signed with token at ts.
func signedRequest(method, target, body, token string, ts time.Time) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	unix := ts.Unix()
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(unix, 10))
	r.Header.Set(HeaderSignature, Sign(token, unix, method, r.RequestURI, []byte(body)))
	r.Header.Set(HeaderSolution, "demo")
	r.Header.Set(HeaderRequestID, "req-1")
	r.Header.Set(HeaderTraceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	return r
}

// clientRequest is signedRequest for an http.Client, to a running service.
func clientRequest(t *testing.T, method, target, body, token string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, target, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	unix := time.Now().Unix()
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(unix, 10))
	r.Header.Set(HeaderSignature, Sign(token, unix, method, r.URL.RequestURI(), []byte(body)))
	r.Header.Set(HeaderSolution, "demo")
	return r
}
