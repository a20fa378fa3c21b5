// Package lbproxy is a small round-robin HTTP load balancer for running several Switchboard
// instances behind one address on one machine (bench/cluster, the fault tests). It takes an
// instance out when it stops answering and puts it back once it answers again, with a known
// detection time, as a cloud load balancer's health check would.
package lbproxy

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Options say which backends and how they are checked; zero values are filled by New.
type Options struct {
	// Backends are the instances' base URLs (http://host:port).
	Backends []*url.URL
	// HealthPath is asked of every backend each Interval; anything but 200 within Timeout
	// takes it out. Default /readyz.
	HealthPath string
	// Interval between health checks of a backend; default 500ms.
	Interval time.Duration
	// Timeout of one health check; default Interval.
	Timeout time.Duration
}

// Proxy sends each request to the next healthy backend in turn. A backend is taken out by a
// failed health check, or at once by a request that could not reach it; it is put back by
// the next health check it passes. No request is retried on another backend: what was on its
// way to a backend that went away fails, as behind a real load balancer.
type Proxy struct {
	o       Options
	next    atomic.Uint64
	healthy []atomic.Bool
	rp      *httputil.ReverseProxy
	client  *http.Client
}

// New makes a proxy over o.Backends, every backend taken as healthy until checked; Start checks
// them.
func New(o Options) *Proxy {
	if o.HealthPath == "" {
		o.HealthPath = "/readyz"
	}
	if o.Interval == 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = o.Interval
	}
	p := &Proxy{o: o, healthy: make([]atomic.Bool, len(o.Backends))}
	for i := range p.healthy {
		p.healthy[i].Store(true)
	}
	// Health checks on connections of their own, so that a check does not wait behind the
	// proxied requests for a connection.
	p.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: o.Timeout}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(o.Backends[r.In.Context().Value(backendKey{}).(int)])
			r.Out.Host = r.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil { // not the client giving up
				p.healthy[r.Context().Value(backendKey{}).(int)].Store(false)
			}
			http.Error(w, "backend unreachable: "+err.Error(), http.StatusBadGateway)
		},
	}
	return p
}

// DetectionTime is the longest a backend that stopped answering keeps getting new requests:
// one interval until its next check, and that check's timeout.
func (p *Proxy) DetectionTime() time.Duration { return p.o.Interval + p.o.Timeout }

// Healthy reports, per backend, whether it is in the rotation.
func (p *Proxy) Healthy() []bool {
	out := make([]bool, len(p.healthy))
	for i := range p.healthy {
		out[i] = p.healthy[i].Load()
	}
	return out
}

// Start checks every backend each Interval in the background, until stop is called; stop
// returns once the checks have ended.
func (p *Proxy) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range p.o.Backends {
		wg.Go(func() {
			tick := time.NewTicker(p.o.Interval)
			defer tick.Stop()
			for {
				p.healthy[i].Store(p.check(ctx, i))
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
		p.client.CloseIdleConnections()
	}
}

// check asks backend i's health path once.
func (p *Proxy) check(ctx context.Context, i int) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.o.Backends[i].JoinPath(p.o.HealthPath).String(), nil)
	if err != nil {
		return false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// ServeHTTP relays r to the next healthy backend; when none is, to the next one anyway, since
// a backend that fails its check (a NATS quorum lost a moment) may still serve.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, p.pick())))
}

func (p *Proxy) pick() int {
	n := uint64(len(p.o.Backends))
	for range n {
		i := int(p.next.Add(1) % n)
		if p.healthy[i].Load() {
			return i
		}
	}
	return int(p.next.Add(1) % n)
}

// backendKey is the request context key of the backend's index.
type backendKey struct{}
