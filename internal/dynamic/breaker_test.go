package dynamic

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/catalog"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// flaky is a server answering with its current status, counting requests.
type flaky struct {
	status atomic.Int64
	hits   atomic.Int64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(f.status.Load()))
	w.Write([]byte(`{"error":"flaky"}`))
}

// TestCircuitBreaker checks a circuit opens after consecutive failures, then fails fast
// without contacting the service, lets one trial through after the cooldown and closes on
// its success or opens again on its failure.
func TestCircuitBreaker(t *testing.T) {
	f := &flaky{}
	f.status.Store(500)
	srv := handlerServer(t, f.ServeHTTP)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	iv := New(Options{BreakerFailures: 3, BreakerCooldown: time.Millisecond})
	iv.now = clock.now
	d := describe(t, "mapper", mapperDoc, srv.URL)
	other := describe(t, "other", mapperDoc, srv.URL)
	call := func(d0 *catalog.Description) error {
		_, err := iv.Call(context.Background(), "sol1", d0, testToken, "search", nil, nil, "r")
		return err
	}

	steps := []struct {
		name    string
		status  int           // the server's status from this step on; 0 keeps it
		advance time.Duration // clock move before the call
		desc    *catalog.Description
		want    int // the call's status, 0 for success
		hits    int64
	}{
		{name: "failure 1", want: 500, hits: 1},
		{name: "failure 2", want: 500, hits: 2},
		{name: "failure 3 opens", want: 500, hits: 3},
		{name: "open fails fast", want: 503, hits: 3},
		{name: "still open", advance: time.Millisecond / 2, want: 503, hits: 3},
		{name: "other service unaffected", desc: other, want: 500, hits: 4},
		{name: "trial fails, reopens", advance: time.Millisecond, want: 500, hits: 5},
		{name: "open again at once", want: 503, hits: 5},
		{name: "trial succeeds, closes", status: 200, advance: time.Millisecond, hits: 6},
		{name: "closed", hits: 7},
		{name: "4xx do not count 1", status: 404, want: 404, hits: 8},
		{name: "4xx do not count 2", want: 404, hits: 9},
		{name: "4xx do not count 3", want: 404, hits: 10},
		{name: "still closed after 4xx", want: 404, hits: 11},
		{name: "5xx after success counts from zero", status: 502, want: 502, hits: 12},
		{name: "a success resets the count", status: 200, hits: 13},
		{name: "failure 1 again", status: 500, want: 500, hits: 14},
		{name: "failure 2 again", want: 500, hits: 15},
		{name: "not yet open", status: 200, hits: 16},
	}
	for _, s := range steps {
		if s.status != 0 {
			f.status.Store(int64(s.status))
		}
		clock.advance(s.advance)
		dd := d
		if s.desc != nil {
			dd = s.desc
		}
		err := call(dd)
		if s.want == 0 {
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		} else {
			wantError(t, err, s.want)
			if s.want == 503 {
				wantError(t, err, 503, "service mapper is unavailable (circuit open)")
			}
		}
		if got := f.hits.Load(); got != s.hits {
			t.Fatalf("%s: server got %d requests, want %d", s.name, got, s.hits)
		}
	}
}

// TestCircuitBreakerSingleTrial checks only one trial call goes through a circuit after its
// cooldown: others fail fast while it runs.
func TestCircuitBreakerSingleTrial(t *testing.T) {
	var hits atomic.Int64
	var fail atomic.Bool
	fail.Store(true)
	entered, release := make(chan struct{}), make(chan struct{})
	srv := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 2 { // the trial
			close(entered)
			<-release
		}
		if fail.Load() {
			w.WriteHeader(500)
		}
	})
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	iv := New(Options{BreakerFailures: 1, BreakerCooldown: time.Millisecond})
	iv.now = clock.now
	d := describe(t, "mapper", mapperDoc, srv.URL)
	call := func() error {
		_, err := iv.Call(context.Background(), "sol1", d, testToken, "search", nil, nil, "r")
		return err
	}
	wantError(t, call(), 500)
	wantError(t, call(), 503)
	clock.advance(time.Millisecond)
	fail.Store(false)
	trial := make(chan error, 1)
	go func() { trial <- call() }()
	<-entered
	wantError(t, call(), 503, "circuit open")
	close(release)
	if err := <-trial; err != nil {
		t.Fatalf("trial: %v", err)
	}
	if err := call(); err != nil {
		t.Fatalf("after the trial: %v", err)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("server got %d requests, want 3", n)
	}
}

// TestCircuitBreakerIgnoresCallerDeadline checks a caller running out of time first says
// nothing about the service, while the operation's own timeout counts as a failure.
func TestCircuitBreakerIgnoresCallerDeadline(t *testing.T) {
	srv := handlerServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	iv := New(Options{BreakerFailures: 2})
	d := describe(t, "mapper", mapperDoc, srv.URL)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := iv.Call(ctx, "sol1", d, testToken, "search", nil, nil, "r")
		cancel()
		wantError(t, err, 504)
	}
	for _, want := range []int{504, 504, 503} { // slow has a 50ms timeout of its own
		_, err := iv.Call(context.Background(), "sol1", d, testToken, "slow", nil, nil, "r")
		wantError(t, err, want)
	}
}
