package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/events"
)

// fakeRegistry has application "shop" of solution "demo", declaring order.created in v1 (its
// data must hold an orderId) and in v0 (deprecated, no schema); "lenient" lets undeclared
// types through and marks invalid data instead of refusing it.
type fakeRegistry struct{}

func (fakeRegistry) Application(sol, name string) (Application, bool) {
	if sol != "demo" || (name != "shop" && name != "lenient") {
		return Application{}, false
	}
	needsOrderID := func(data []byte) error {
		var v map[string]any
		if json.Unmarshal(data, &v) != nil || v["orderId"] == nil {
			return errors.New("orderId: required")
		}
		return nil
	}
	return Application{Solution: sol, ID: "id-" + name, Name: name, AllowUndeclared: name == "lenient", MarkInvalid: name == "lenient",
		Resolve: func(typ, version string) (Target, bool) {
			switch {
			case typ == "order.created" && version == "v1":
				return Target{Topic: name + ".order.created.v1", Version: "v1", Validate: needsOrderID}, true
			case typ == "order.created" && version == "v0":
				return Target{Topic: name + ".order.created.v0", Version: "v0", Deprecated: true}, true
			case typ == "order.quiet" && version == "v1":
				return Target{Topic: name + ".order.quiet.v1", Version: "v1"}, true
			case typ == "order.broken" && version == "v1":
				return Target{Topic: name + ".order.broken.v1", Version: "v1"}, true
			}
			return Target{}, false
		}}, true
}

// fakeAuth takes bearer tokens tok-<application>; "expired" is refused as such.
type fakeAuth struct{}

func (fakeAuth) Authenticate(r *http.Request) (Caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok:
		return Caller{}, &AuthError{Status: http.StatusUnauthorized, Reason: "no bearer token"}
	case tok == "expired":
		return Caller{}, &AuthError{Status: http.StatusUnauthorized, Reason: "token expired"}
	}
	app, ok := strings.CutPrefix(tok, "tok-")
	if !ok {
		return Caller{}, &AuthError{Status: http.StatusUnauthorized, Reason: "bad signature"}
	}
	return Caller{Solution: "demo", Application: "id-" + app}, nil
}

// fakeStore keeps what is stored; topic *.order.quiet.v1 has no handler, *.order.broken.v1
// cannot be stored.
type fakeStore struct {
	mu  sync.Mutex
	got []events.Event
}

func (s *fakeStore) Enqueue(_ context.Context, e events.Event) error {
	switch {
	case strings.HasSuffix(e.Topic, ".order.quiet.v1"):
		return events.ErrNoHandler
	case strings.HasSuffix(e.Topic, ".order.broken.v1"):
		return errors.New("stream unavailable")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, e)
	return nil
}

func (s *fakeStore) last() (events.Event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return events.Event{}, 0
	}
	return s.got[len(s.got)-1], len(s.got)
}

func newGateway(t *testing.T) (*httptest.Server, *fakeStore, *Metrics) {
	t.Helper()
	st := &fakeStore{}
	m := NewMetrics(prometheus.NewRegistry())
	g := New(Options{Registry: fakeRegistry{}, Auth: fakeAuth{}, Store: st, MaxBody: 4096, Metrics: m})
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, st, m
}

func legacyBody(typ, version, data string) string {
	return fmt.Sprintf(`{"event-type":%q,"event-type-version":%q,"event-id":"ev-1","event-time":"2026-11-30T08:00:00Z","data":%s}`, typ, version, data)
}

func TestLegacy(t *testing.T) {
	srv, st, m := newGateway(t)
	for _, tc := range []struct {
		name, app, token, body string
		status                 int
		field                  string // of the error's details
		ext                    map[string]string
		topic                  string
	}{
		{"declared", "shop", "tok-shop", legacyBody("order.created", "v1", `{"orderId":"o-1"}`), 200, "", map[string]string{"eventtypeversion": "v1"}, "shop.order.created.v1"},
		{"deprecated version", "shop", "tok-shop", legacyBody("order.created", "v0", `{}`), 200, "", map[string]string{"eventtypeversion": "v0", "deprecated": "true"}, "shop.order.created.v0"},
		{"undeclared type", "shop", "tok-shop", legacyBody("order.deleted", "v1", `{}`), 400, "type", nil, ""},
		{"undeclared version", "shop", "tok-shop", legacyBody("order.created", "v9", `{}`), 400, "type", nil, ""},
		{"data not matching the schema", "shop", "tok-shop", legacyBody("order.created", "v1", `{"id":1}`), 400, "data", nil, ""},
		{"marked instead", "lenient", "tok-lenient", legacyBody("order.created", "v1", `{"id":1}`), 200, "", map[string]string{"eventtypeversion": "v1", "payloadvalid": "false"}, "lenient.order.created.v1"},
		{"undeclared let through", "lenient", "tok-lenient", legacyBody("order.deleted", "v2", `{}`), 200, "", map[string]string{"eventtypeversion": "v2"}, "lenient.order.deleted.v2"},
		{"nothing subscribes", "shop", "tok-shop", legacyBody("order.quiet", "v1", `{}`), 200, "", nil, ""},
		{"store down", "shop", "tok-shop", legacyBody("order.broken", "v1", `{}`), 503, "", nil, ""},
		{"no event-type", "shop", "tok-shop", `{"event-type-version":"v1","event-time":"2026-11-30T08:00:00Z","data":{}}`, 400, "event-type", nil, ""},
		{"no data", "shop", "tok-shop", `{"event-type":"order.created","event-type-version":"v1","event-time":"2026-11-30T08:00:00Z"}`, 400, "data", nil, ""},
		{"bad time", "shop", "tok-shop", strings.Replace(legacyBody("order.created", "v1", `{}`), "2026-11-30T08:00:00Z", "yesterday", 1), 400, "event-time", nil, ""},
		{"bad version", "shop", "tok-shop", legacyBody("order.created", "v 1", `{}`), 400, "event-type-version", nil, ""},
		{"repeated key", "shop", "tok-shop", `{"event-type":"a","event-type":"b"}`, 400, "", nil, ""},
		{"too large", "shop", "tok-shop", legacyBody("order.created", "v1", `"`+strings.Repeat("x", 5000)+`"`), 413, "", nil, ""},
		{"no token", "shop", "", legacyBody("order.created", "v1", `{}`), 401, "", nil, ""},
		{"expired token", "shop", "expired", legacyBody("order.created", "v1", `{}`), 401, "", nil, ""},
		{"another application's token", "shop", "tok-lenient", legacyBody("order.created", "v1", `{}`), 403, "application", nil, ""},
		{"unknown application", "ghost", "tok-ghost", legacyBody("order.created", "v1", `{}`), 404, "application", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := st.last()
			req, _ := http.NewRequest("POST", srv.URL+"/gateway/"+tc.app+"/v1/events", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var ans map[string]any
			json.NewDecoder(resp.Body).Decode(&ans) //nolint:errcheck // checked below
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %v, want %d", resp.StatusCode, ans, tc.status)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.status != 200 {
				if ans["status"] != float64(tc.status) || ans["message"] == "" {
					t.Errorf("legacy error %v", ans)
				}
				if tc.field != "" {
					d, _ := ans["details"].([]any)
					if len(d) != 1 || d[0].(map[string]any)["field"] != tc.field {
						t.Errorf("details %v, want field %s", ans["details"], tc.field)
					}
				}
				if _, after := st.last(); after != before {
					t.Error("a refused event was stored")
				}
				return
			}
			if tc.topic == "" {
				return
			}
			e, after := st.last()
			if after != before+1 || ans["event-id"] != "ev-1" || e.ID != "ev-1" || e.Topic != tc.topic || e.Solution != "demo" || e.Source != "/applications/"+tc.app {
				t.Fatalf("answer %v, stored %+v", ans, e)
			}
			if fmt.Sprint(e.Extensions) != fmt.Sprint(tc.ext) {
				t.Errorf("extensions %v, want %v", e.Extensions, tc.ext)
			}
		})
	}
	for _, c := range []struct {
		app, typ, outcome string
		want              float64
	}{
		{"shop", "order.created", "accepted", 2}, {"shop", "undeclared", "undeclared_type", 2},
		{"shop", "order.quiet", "no_handler", 1}, {"shop", "order.created", "invalid_payload", 1},
		{"lenient", "undeclared", "accepted", 1},
	} {
		if got := testutil.ToFloat64(m.Events.WithLabelValues("demo", c.app, c.typ, c.outcome)); got != c.want {
			t.Errorf("events_total{%s,%s,%s} = %v, want %v", c.app, c.typ, c.outcome, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.Refused.WithLabelValues("unauthenticated")); got != 2 {
		t.Errorf("refused unauthenticated = %v, want 2", got)
	}
}

func TestPublishCloudEvents(t *testing.T) {
	srv, st, _ := newGateway(t)
	send := func(t *testing.T, header map[string]string, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/gateway/shop/publish", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok-shop")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans map[string]any
		json.NewDecoder(resp.Body).Decode(&ans) //nolint:errcheck // may be empty
		return resp.StatusCode, ans
	}
	binary := func(typ string, ext map[string]string) map[string]string {
		h := map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "ce-1", "Ce-Source": "/anything", "Ce-Type": typ, "Content-Type": "application/json"}
		for k, v := range ext {
			h[k] = v
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
		body   string
		status int
		topic  string
		field  string
	}{
		{"binary, version extension", binary("order.created", map[string]string{"Ce-Eventtypeversion": "v1"}), `{"orderId":"o-2"}`, 204, "shop.order.created.v1", ""},
		{"binary, Kyma's full type", binary("sap.kyma.custom.shop.order.created.v1", nil), `{"orderId":"o-3"}`, 204, "shop.order.created.v1", ""},
		{"structured", map[string]string{"Content-Type": "application/cloudevents+json"},
			`{"specversion":"1.0","id":"ce-4","source":"/x","type":"order.created.v0","datacontenttype":"application/json","data":{"n":1}}`, 204, "shop.order.created.v0", ""},
		{"undeclared", binary("order.deleted.v1", nil), `{}`, 400, "", "type"},
		{"schema", binary("order.created.v1", nil), `{"n":1}`, 400, "", "data"},
		{"no id", map[string]string{"Ce-Specversion": "1.0", "Ce-Source": "/x", "Ce-Type": "order.created.v1"}, `{}`, 400, "", ""},
		{"not a CloudEvent", map[string]string{"Content-Type": "application/json"}, `{"orderId":"o"}`, 400, "", "cloudevent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := st.last()
			status, ans := send(t, tc.header, tc.body)
			if status != tc.status {
				t.Fatalf("status %d %v, want %d", status, ans, tc.status)
			}
			if tc.status != 204 {
				if ans["error"] == nil || (tc.field != "" && ans["field"] != tc.field) {
					t.Errorf("error %v, want field %q", ans, tc.field)
				}
				if _, after := st.last(); after != before {
					t.Error("a refused event was stored")
				}
				return
			}
			e, _ := st.last()
			if e.Topic != tc.topic || e.Source != "/applications/shop" || e.Extensions[ExtEventTypeVersion] == "" {
				t.Errorf("stored %+v", e)
			}
		})
	}
}

func TestUndeclaredTopic(t *testing.T) {
	for _, tc := range []struct{ app, typ, version, want string }{
		{"shop", "order.created", "v1", "shop.order.created.v1"},
		{"shop", "Order/Created", "", "shop.order.created"},
		{"shop", "a:b", "V2", "shop.a.b.v2"},
		{"shop", "a..b", "v1", ""},
		{"shop", "a b", "v1", ""},
	} {
		got, err := UndeclaredTopic(tc.app, tc.typ, tc.version)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("UndeclaredTopic(%q, %q, %q) = %q, %v; want %q", tc.app, tc.typ, tc.version, got, err, tc.want)
		}
	}
}

// TestGatewayHeldBytes: what a solution's applications send at once is bounded by the
// admission gate, as every caller's body is: beyond, 429 with Retry-After, nothing stored.
func TestGatewayHeldBytes(t *testing.T) {
	st := &fakeStore{}
	gate := admission.New(admission.Limits{Runs: 100, RunsPerSolution: 100, Bytes: 1 << 20, BytesPerSolution: 1 << 10}, nil)
	g := New(Options{Registry: fakeRegistry{}, Auth: fakeAuth{}, Store: st, MaxBody: 64 << 10, Gate: gate})
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	body := legacyBody("order.created", "v1", `{"orderId":"`+strings.Repeat("x", 4<<10)+`"}`)
	req, _ := http.NewRequest("POST", srv.URL+"/gateway/shop/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok-shop")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a body over the solution's share: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if _, n := st.last(); n != 0 {
		t.Errorf("%d events stored", n)
	}
}
