package lbproxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/lbproxy"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// backend is a test instance: it answers its name, and its /readyz as ready says.
type backend struct {
	name  string
	ready atomic.Bool
	srv   *httptest.Server
}

func startBackend(t *testing.T, name string) *backend {
	b := &backend{name: name}
	b.ready.Store(true)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && !b.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, b.name) //nolint:errcheck // test
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func startProxy(t *testing.T, bs ...*backend) (*lbproxy.Proxy, string) {
	var urls []*url.URL
	for _, b := range bs {
		u, err := url.Parse(b.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, u)
	}
	p := lbproxy.New(lbproxy.Options{Backends: urls, Interval: 20 * time.Millisecond})
	stop := p.Start()
	front := httptest.NewServer(p)
	t.Cleanup(func() {
		front.Close()
		stop()
	})
	return p, front.URL
}

// get is who answered a GET through the front ("" and the status when it failed).
func get(t *testing.T, front string) (string, int) {
	t.Helper()
	resp, err := http.Get(front + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode
	}
	return string(body), resp.StatusCode
}

// TestProxy: requests go round robin over the backends in the rotation; a backend is taken
// out when its health check fails or it cannot be reached, and put back once it passes.
func TestProxy(t *testing.T) {
	tests := []struct {
		name string
		// fail makes backend b stop answering as the case says; recover undoes it (nil: it
		// cannot come back).
		fail    func(b *backend)
		recover func(b *backend)
	}{
		{"not ready", func(b *backend) { b.ready.Store(false) }, func(b *backend) { b.ready.Store(true) }},
		{"gone", func(b *backend) { b.srv.CloseClientConnections(); b.srv.Close() }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
			p, front := startProxy(t, a, b, c)
			seen := map[string]int{}
			for range 30 {
				name, _ := get(t, front)
				seen[name]++
			}
			if seen["a"] != 10 || seen["b"] != 10 || seen["c"] != 10 {
				t.Fatalf("30 requests over 3 backends went %v; want 10 each", seen)
			}

			tc.fail(b)
			testkit.Eventually(t, "b out of the rotation", func() bool { return !p.Healthy()[1] })
			for range 30 {
				if name, status := get(t, front); name != "a" && name != "c" {
					t.Fatalf("with b out, a request got %q (%d)", name, status)
				}
			}
			if tc.recover == nil {
				return
			}
			tc.recover(b)
			testkit.Eventually(t, "b back in the rotation", func() bool { return p.Healthy()[1] })
			clear(seen)
			for range 30 {
				name, _ := get(t, front)
				seen[name]++
			}
			if seen["b"] != 10 {
				t.Errorf("with b back, 30 requests went %v; want 10 to b", seen)
			}
		})
	}
}

// TestProxyUnreachableOut: a request that cannot reach its backend takes it out at once, before
// its next health check, so the backend costs one failed request, not one in three until then.
func TestProxyUnreachableOut(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	u, _ := url.Parse(a.srv.URL)
	v, _ := url.Parse(b.srv.URL)
	// Checks far apart: only the failed request can take b out within the test.
	p := lbproxy.New(lbproxy.Options{Backends: []*url.URL{u, v}, Interval: time.Hour})
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	b.srv.Close()
	failed := 0
	for range 20 {
		if _, status := get(t, front.URL); status != http.StatusOK {
			failed++
		}
	}
	if failed != 1 || p.Healthy()[1] {
		t.Errorf("20 requests with b gone: %d failed, b healthy %v; want 1 failed and b out", failed, p.Healthy()[1])
	}
	if got := p.DetectionTime(); got != 2*time.Hour {
		t.Errorf("DetectionTime %v; want interval + timeout (timeout defaults to the interval)", got)
	}
}
