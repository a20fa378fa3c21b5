package main

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func validConfig() config {
	return config{token: "t", brokers: allBrokers, n: 10, clients: 2, inFlight: 16, rate: 100,
		steady: time.Second, stall: time.Second, kafkaPartitions: 1}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*config)
		want  string // in the error; "" is valid
	}{
		{"defaults", func(*config) {}, ""},
		{"no token", func(c *config) { c.token = "" }, "-token"},
		{"no messages", func(c *config) { c.n = 0 }, "-n"},
		{"no publishers", func(c *config) { c.clients = 0 }, "-clients"},
		{"in flight beyond the connectors' bound", func(c *config) { c.inFlight = 1025 }, "-inflight"},
		{"no rate", func(c *config) { c.rate = 0 }, "-rate"},
		{"no steady run", func(c *config) { c.steady = 0 }, "-steady"},
		{"no stall", func(c *config) { c.stall = 0 }, "-stall"},
		{"more steady messages than Keystore keys", func(c *config) { c.rate, c.steady = 1000, 10*time.Second }, "Keystore keys"},
		{"unknown broker", func(c *config) { c.brokers = []string{"mqtt", "pulsar"} }, `"pulsar"`},
		{"no broker", func(c *config) { c.brokers = nil }, "none given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.tweak(&c)
			err := c.check()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestRecorderCountsEachMessageOfItsPhaseOnce(t *testing.T) {
	r := &recorder{}
	r.got(body(kindThroughput, 0)) // before any phase: ignored
	ph := newPhase(kindThroughput, 3)
	r.cur.Store(ph)
	for _, b := range [][]byte{
		body(kindThroughput, 0),
		body(kindThroughput, 0), // delivered again
		body(kindSteady, 1),     // another run's
		body(kindThroughput, 7), // out of range
		[]byte("not json"),
		body(kindProbe, 0),
		body(kindThroughput, 1),
	} {
		r.got(b)
	}
	if g := ph.got.Load(); g != 2 {
		t.Fatalf("counted %d, want 2", g)
	}
	if !r.probed.Load() {
		t.Fatal("probe not noted")
	}
	select {
	case <-ph.done:
		t.Fatal("done before every message came")
	default:
	}
	r.got(body(kindThroughput, 2))
	<-ph.done // closed by the last one: a hang here fails the test by its timeout
	for i := range 3 {
		if ph.recv[i].Load() == 0 {
			t.Fatalf("message %d has no arrival time", i)
		}
	}
}

func TestPhaseWaitEndsOnStall(t *testing.T) {
	ph := newPhase(kindThroughput, 5) // nothing arrives
	if err := ph.wait(context.Background(), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if g := ph.got.Load(); g != 0 {
		t.Fatalf("got %d", g)
	}
}

func TestPublishAll(t *testing.T) {
	t.Run("every message once", func(t *testing.T) {
		var mu sync.Mutex
		seen := map[int]int{}
		err := publishAll(context.Background(), 100, 4, 0, time.Now(), func(i int) error {
			mu.Lock()
			seen[i]++
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			if seen[i] != 1 {
				t.Fatalf("message %d published %d times", i, seen[i])
			}
		}
	})
	t.Run("the first error stops it", func(t *testing.T) {
		boom := errors.New("boom")
		err := publishAll(context.Background(), 1000, 4, 0, time.Now(), func(i int) error {
			if i == 10 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
	})
	t.Run("a cancelled context stops a paced run", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := publishAll(ctx, 1000, 2, 1, time.Now(), func(int) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}

func TestPct(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tt := range []struct{ p, want float64 }{{0, 1}, {0.5, 5}, {0.99, 10}, {1, 10}} {
		if got := pct(v, tt.p); got != tt.want {
			t.Errorf("pct(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if !math.IsNaN(pct(nil, 0.5)) {
		t.Error("pct of nothing is not NaN")
	}
}
