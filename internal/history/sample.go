// Package history keeps the last hour of each solution's figures: every instance samples its
// own collectors, turns counters into per-interval deltas and publishes one small sample per
// solution to a stream every instance shares; a read sums the samples of all instances into
// fixed time buckets, so whichever instance answers shows the same series.
package history

import (
	"time"
)

// Sample is what one instance counted for one solution over one interval: the message stored
// under sb.metrics.<solution>. Counts are deltas over the interval, never running totals, so
// the samples of any number of instances add up.
type Sample struct {
	// Time is the end of the interval.
	Time     time.Time `json:"t"`
	Instance string    `json:"i"`
	// Requests counts the solution's endpoint requests; Errors those answered with a 5xx.
	Requests uint64 `json:"req,omitempty"`
	Errors   uint64 `json:"err,omitempty"`
	// Latency is the endpoint requests' latency histogram over the interval.
	Latency *Histogram `json:"lat,omitempty"`
	// Handlers are the counts of each event handler that ran, by name.
	Handlers map[string]HandlerCounts `json:"h,omitempty"`
	// Lags are the lags of the connectors running on the instance whose source can tell, by
	// name: a reading, not a delta.
	Lags map[string]uint64 `json:"lag,omitempty"`
	// Truncated is set when handlers or connectors beyond MaxSeries were left out.
	Truncated bool `json:"trunc,omitempty"`
}

// HandlerCounts are one handler's counts over an interval.
type HandlerCounts struct {
	Runs        uint64 `json:"runs,omitempty"`
	Failures    uint64 `json:"fail,omitempty"`
	Retries     uint64 `json:"retry,omitempty"`
	DeadLetters uint64 `json:"dead,omitempty"`
}

func (c HandlerCounts) total() uint64 { return c.Runs + c.Failures + c.Retries + c.DeadLetters }

func (c HandlerCounts) add(d HandlerCounts) HandlerCounts {
	return HandlerCounts{Runs: c.Runs + d.Runs, Failures: c.Failures + d.Failures, Retries: c.Retries + d.Retries, DeadLetters: c.DeadLetters + d.DeadLetters}
}

// Histogram is a latency histogram: Counts[i] observations at or under Bounds[i] (and over
// the bound before), not cumulative; Counts has one more entry than Bounds, for the
// observations over the highest bound.
type Histogram struct {
	Bounds []float64 `json:"le"`
	Counts []uint64  `json:"n"`
}

// MaxSeries bounds the handlers, and separately the connectors, one sample and one answer
// carry: the busiest are kept. It keeps every message and every answer small whatever a
// solution deploys.
const MaxSeries = 64
