package connectorsdk_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/pkg/connectorsdk"
)

// collector is a Receiver that keeps every Result and signals each on a channel.
type collector struct {
	mu  sync.Mutex
	all []connectorsdk.Result
	ch  chan connectorsdk.Result
}

func newCollector() *collector { return &collector{ch: make(chan connectorsdk.Result, 100)} }

func (c *collector) Receive(r connectorsdk.Result) {
	c.mu.Lock()
	c.all = append(c.all, r)
	c.mu.Unlock()
	c.ch <- r
}

func (c *collector) results() []connectorsdk.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]connectorsdk.Result(nil), c.all...)
}

func (c *collector) next(t *testing.T) connectorsdk.Result {
	t.Helper()
	select {
	case r := <-c.ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10s")
		return connectorsdk.Result{}
	}
}

func newController(t *testing.T, cfg connectorsdk.Config) (*connectorsdk.Controller, *collector) {
	t.Helper()
	if cfg.Solution == "" {
		cfg.Solution = "shop"
	}
	if cfg.Token == "" && cfg.TokenFile == "" {
		cfg.Token = "tok"
	}
	c, err := connectorsdk.NewController(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	col := newCollector()
	c.Subscribe(col)
	return c, col
}

func TestNewControllerConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(good, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cfg     connectorsdk.Config
		wantErr string
	}{
		{"token", connectorsdk.Config{HubURL: "http://hub:8080", Solution: "shop", Token: "t"}, ""},
		{"token file", connectorsdk.Config{HubURL: "https://hub/prefix/", Solution: "shop", TokenFile: good}, ""},
		{"no hub", connectorsdk.Config{Solution: "shop", Token: "t"}, "HubURL is required"},
		{"relative hub", connectorsdk.Config{HubURL: "hub:8080", Solution: "shop", Token: "t"}, "absolute http or https"},
		{"no solution", connectorsdk.Config{HubURL: "http://hub", Token: "t"}, "Solution is required"},
		{"no token", connectorsdk.Config{HubURL: "http://hub", Solution: "shop"}, "Token or Config.TokenFile is required"},
		{"both tokens", connectorsdk.Config{HubURL: "http://hub", Solution: "shop", Token: "t", TokenFile: good}, "not both"},
		{"missing token file", connectorsdk.Config{HubURL: "http://hub", Solution: "shop", TokenFile: filepath.Join(dir, "none")}, "TokenFile"},
		{"empty token file", connectorsdk.Config{HubURL: "http://hub", Solution: "shop", TokenFile: empty}, "is empty"},
		{"negative timeout", connectorsdk.Config{HubURL: "http://hub", Solution: "shop", Token: "t", Timeout: -1}, "Timeout"},
		{"negative in flight", connectorsdk.Config{HubURL: "http://hub", Solution: "shop", Token: "t", MaxInFlight: -1}, "MaxInFlight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := connectorsdk.NewController(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewController: %v", err)
				}
				c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewController: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestInvokeAnswers: each answer of the hub becomes the right Result, and the request is a
// binary-mode CloudEvent on the publish route.
func TestInvokeAnswers(t *testing.T) {
	type answer struct {
		status  int
		headers map[string]string
		body    string
	}
	for _, tc := range []struct {
		name      string
		async     bool
		data      string
		headers   map[string]string
		answer    answer
		wantQuery string
		wantCT    string
		check     func(t *testing.T, r connectorsdk.Result)
	}{
		{
			name: "async stored", async: true, data: `{"n":1}`,
			answer: answer{202, nil, `{"id":"e1"}`}, wantCT: "application/json",
			check: func(t *testing.T, r connectorsdk.Result) {
				if r.Err != nil || r.EventID != "e1" || !r.Async || r.Status != 202 {
					t.Fatalf("result %+v", r)
				}
			},
		},
		{
			name: "sync one handler", data: "plain text", headers: map[string]string{"ID": "x1", "Trace": "abc"},
			answer:    answer{200, map[string]string{"X-Switchboard-Handlers": "audit"}, `{"ok":true}`},
			wantQuery: "mode=sync", wantCT: "text/plain; charset=utf-8",
			check: func(t *testing.T, r connectorsdk.Result) {
				if r.Err != nil || r.EventID != "x1" || string(r.Handlers["audit"]) != `{"ok":true}` || len(r.Handlers) != 1 {
					t.Fatalf("result %+v", r)
				}
			},
		},
		{
			name:      "sync several handlers",
			answer:    answer{200, map[string]string{"X-Switchboard-Handlers": "a,b"}, `{"a":1,"b":"two"}`},
			wantQuery: "mode=sync",
			check: func(t *testing.T, r connectorsdk.Result) {
				if r.Err != nil || string(r.Handlers["a"]) != "1" || string(r.Handlers["b"]) != `"two"` {
					t.Fatalf("result %+v", r)
				}
			},
		},
		{
			name: "no handler", async: true,
			answer: answer{404, nil, `{"error":"no handler of solution shop subscribes to topic \"orders.created\"","field":"topic"}`},
			check: func(t *testing.T, r connectorsdk.Result) {
				var e *connectorsdk.Error
				if !errors.Is(r.Err, connectorsdk.ErrNoHandler) || !errors.As(r.Err, &e) || e.Topic != "orders.created" {
					t.Fatalf("result %+v, want ErrNoHandler naming the topic", r)
				}
				if !strings.Contains(r.Err.Error(), "topic orders.created") {
					t.Fatalf("error %q does not name the topic", r.Err)
				}
			},
		},
		{
			name:      "handler failed",
			answer:    answer{500, nil, `{"error":"handler audit failed: runtime","handler":"audit","error_id":"e9","request_id":"r9"}`},
			wantQuery: "mode=sync",
			check: func(t *testing.T, r connectorsdk.Result) {
				var e *connectorsdk.Error
				if !errors.As(r.Err, &e) || e.Handler != "audit" || e.ErrorID != "e9" || e.Status != 500 || !e.Temporary() {
					t.Fatalf("result %+v", r)
				}
				if errors.Is(r.Err, connectorsdk.ErrNoHandler) {
					t.Fatal("a failed handler is not ErrNoHandler")
				}
				if !strings.Contains(e.Error(), "handler audit") {
					t.Fatalf("error %q does not name the handler", e)
				}
			},
		},
		{
			name: "busy", async: true,
			answer: answer{429, map[string]string{"Retry-After": "2"}, `{"error":"too many runs","bound":"runs"}`},
			check: func(t *testing.T, r connectorsdk.Result) {
				var e *connectorsdk.Error
				if !errors.As(r.Err, &e) || e.RetryAfter != 2*time.Second || !e.Temporary() {
					t.Fatalf("result %+v", r)
				}
			},
		},
		{
			name: "not JSON answer", async: true,
			answer: answer{502, nil, `<html>bad gateway</html>`},
			check: func(t *testing.T, r connectorsdk.Result) {
				if r.Err == nil || !strings.Contains(r.Err.Error(), "bad gateway") {
					t.Fatalf("result %+v", r)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *http.Request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Clone(context.Background())
				for k, v := range tc.answer.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.answer.status)
				_, _ = w.Write([]byte(tc.answer.body))
			}))
			defer srv.Close()
			c, col := newController(t, connectorsdk.Config{HubURL: srv.URL + "/", Async: tc.async})
			if err := c.Invoke(context.Background(), "orders.created", []byte(tc.data), tc.headers); err != nil {
				t.Fatal(err)
			}
			r := col.next(t)
			if r.Topic != "orders.created" {
				t.Fatalf("result topic %q", r.Topic)
			}
			tc.check(t, r)
			if got.URL.Path != "/api/v1/solutions/shop/events" || got.URL.RawQuery != tc.wantQuery {
				t.Fatalf("request to %s", got.URL)
			}
			h := got.Header
			if h.Get("Authorization") != "Bearer tok" || h.Get("Ce-Specversion") != "1.0" || h.Get("Ce-Type") != "orders.created" ||
				h.Get("Ce-Id") == "" || h.Get("Ce-Source") != connectorsdk.DefaultSource || h.Get("Content-Type") != tc.wantCT {
				t.Fatalf("request headers %v", h)
			}
			for k, v := range tc.headers {
				if h.Get("Ce-"+k) != v {
					t.Fatalf("header %s not sent as ce-%s: %v", k, strings.ToLower(k), h)
				}
			}
		})
	}
}

// TestInvokeRefusedHere: what cannot be sent still ends in a Result, without a request.
func TestInvokeRefusedHere(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.URL)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name, topic string
		data        []byte
		headers     map[string]string
		want        string
	}{
		{"empty topic", "", nil, nil, "topic is empty"},
		{"binary data", "t.x", []byte{0xff, 0xfe, 0x00}, nil, "neither JSON nor UTF-8"},
		{"bad header name", "t.x", nil, map[string]string{"X-Trace": "1"}, `header "X-Trace"`},
		{"reserved header", "t.x", nil, map[string]string{"type": "other"}, "not settable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, col := newController(t, connectorsdk.Config{HubURL: srv.URL})
			if err := c.Invoke(context.Background(), tc.topic, tc.data, tc.headers); err != nil {
				t.Fatal(err)
			}
			r := col.next(t)
			var e *connectorsdk.Error
			if !errors.As(r.Err, &e) || e.Topic != tc.topic || !strings.Contains(e.Error(), tc.want) || e.Temporary() {
				t.Fatalf("result %+v, want an error containing %q", r, tc.want)
			}
		})
	}
}

// blockingHub answers 202 only once release is closed; arrived gets one value per request.
type blockingHub struct {
	*httptest.Server
	arrived chan struct{}
	release chan struct{}
	mu      sync.Mutex
	now     int
	max     int
}

func newBlockingHub(t *testing.T) *blockingHub {
	h := &blockingHub{arrived: make(chan struct{}, 100), release: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.now++
		h.max = max(h.max, h.now)
		h.mu.Unlock()
		defer func() { h.mu.Lock(); h.now--; h.mu.Unlock() }()
		h.arrived <- struct{}{}
		select {
		case <-h.release:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"x"}`))
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(h.Server.Close)
	return h
}

func (h *blockingHub) waitArrivals(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-h.arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("request did not arrive within 10s")
		}
	}
}

func TestTimeout(t *testing.T) {
	hub := newBlockingHub(t)
	c, col := newController(t, connectorsdk.Config{HubURL: hub.URL, Timeout: 50 * time.Millisecond})
	if err := c.Invoke(context.Background(), "slow.topic", nil, nil); err != nil {
		t.Fatal(err)
	}
	r := col.next(t)
	var e *connectorsdk.Error
	if !errors.Is(r.Err, context.DeadlineExceeded) || !errors.As(r.Err, &e) || e.Status != 0 || !e.Temporary() || e.Topic != "slow.topic" {
		t.Fatalf("result %+v, want a timeout", r)
	}
}

// TestMaxInFlight: no more than MaxInFlight requests at once; an Invoke that finds no slot
// waits, and gives up with its context.
func TestMaxInFlight(t *testing.T) {
	hub := newBlockingHub(t)
	c, col := newController(t, connectorsdk.Config{HubURL: hub.URL, Async: true, MaxInFlight: 2})
	for range 2 {
		if err := c.Invoke(context.Background(), "a.b", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	hub.waitArrivals(t, 2)
	// Both slots are taken: an Invoke whose context is done cannot start.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Invoke(ctx, "a.b", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Invoke with no free slot: %v, want context.Canceled", err)
	}
	if r := col.next(t); !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("result %+v, want context.Canceled", r)
	}
	// A waiting Invoke starts once a slot frees.
	done := make(chan error, 1)
	go func() { done <- c.Invoke(context.Background(), "a.b", nil, nil) }()
	close(hub.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := col.next(t); r.Err != nil {
			t.Fatalf("result %+v", r)
		}
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if hub.max != 2 {
		t.Fatalf("%d requests at once, want 2", hub.max)
	}
}

// TestClose: Close wakes the invocations waiting for a slot with ErrClosed, waits for those
// in flight, and refuses later ones.
func TestClose(t *testing.T) {
	hub := newBlockingHub(t)
	c, col := newController(t, connectorsdk.Config{HubURL: hub.URL, Async: true, MaxInFlight: 1})
	if err := c.Invoke(context.Background(), "a.b", nil, nil); err != nil {
		t.Fatal(err)
	}
	hub.waitArrivals(t, 1)
	waiting := make(chan error, 1)
	go func() { waiting <- c.Invoke(context.Background(), "a.c", nil, nil) }()
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	if err := <-waiting; !errors.Is(err, connectorsdk.ErrClosed) {
		t.Fatalf("waiting Invoke: %v, want ErrClosed", err)
	}
	select {
	case <-closed:
		t.Fatal("Close returned while an invocation was in flight")
	default:
	}
	close(hub.release)
	<-closed
	rs := col.results()
	if len(rs) != 2 {
		t.Fatalf("%d results after Close, want 2: %+v", len(rs), rs)
	}
	for _, r := range rs {
		if (r.Topic == "a.b") != (r.Err == nil) {
			t.Fatalf("result %+v", r)
		}
	}
	if err := c.Invoke(context.Background(), "a.d", nil, nil); !errors.Is(err, connectorsdk.ErrClosed) {
		t.Fatalf("Invoke after Close: %v, want ErrClosed", err)
	}
	c.Close() // twice is fine
}
