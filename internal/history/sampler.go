package history

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SamplerOptions configure a Sampler.
type SamplerOptions struct {
	// Gatherer has the collectors a sample is made of (metrics.Metrics.History).
	Gatherer prometheus.Gatherer
	// Lags are the lags of the connectors running on this instance; nil has none.
	Lags func() []Lag
	// Exists tells a solution that still exists; nil takes every solution as existing.
	Exists func(solution string) bool
	// Instance names this instance in its samples.
	Instance string
	Logger   *slog.Logger
}

// Sampler samples this instance's collectors every interval of the History and publishes
// what each solution counted, until Close.
type Sampler struct {
	h      *History
	o      SamplerOptions
	d      deltas
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	// failing is set while publishing fails, so that it is told once, not every interval.
	failing bool
}

// StartSampler starts sampling.
func (h *History) StartSampler(o SamplerOptions) *Sampler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sampler{h: h, o: o, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

func (s *Sampler) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.h.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// What was counted since the last tick is not lost on a graceful stop.
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			s.sample(fctx, time.Now())
			cancel()
			return
		case now := <-t.C:
			sctx, cancel := context.WithTimeout(ctx, s.h.o.Interval)
			s.sample(sctx, now)
			cancel()
		}
	}
}

// sample takes one sample and publishes it.
func (s *Sampler) sample(ctx context.Context, now time.Time) {
	fams, err := s.o.Gatherer.Gather()
	if err != nil {
		// A gather that fails in part still has the rest.
		s.o.Logger.Debug("metrics history: gather", "err", err)
	}
	var lags []Lag
	if s.o.Lags != nil {
		lags = s.o.Lags()
	}
	samples := s.d.next(fams, lags, s.o.Instance, now.UTC())
	for sol := range samples {
		if s.o.Exists != nil && !s.o.Exists(sol) {
			delete(samples, sol) // deleted meanwhile: its samples are gone, none comes back
		}
	}
	if len(samples) == 0 {
		return
	}
	failed, err := s.h.publish(ctx, samples)
	switch {
	case err != nil && !s.failing:
		s.failing = true
		s.o.Logger.Warn("metrics history: samples not stored; charts miss them", "failed", failed, "err", err)
	case err == nil && s.failing:
		s.failing = false
		s.o.Logger.Info("metrics history: samples stored again")
	}
}

// Close stops sampling, after publishing what was counted since the last sample.
func (s *Sampler) Close() {
	if s == nil {
		return
	}
	s.once.Do(s.cancel)
	<-s.done
}
