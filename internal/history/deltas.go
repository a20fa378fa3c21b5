package history

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The collectors a sample is made of, as internal/metrics names them.
const (
	requestsMetric           = "switchboard_http_requests_total"
	latencyMetric            = "switchboard_http_request_duration_seconds"
	handlerRunsMetric        = "switchboard_event_handler_runs_total"
	handlerFailuresMetric    = "switchboard_event_handler_failures_total"
	handlerRetriesMetric     = "switchboard_event_handler_retries_total"
	handlerDeadLettersMetric = "switchboard_event_handler_dead_letters_total"
)

// overflow is the label of a histogram's observations over its highest bound.
const overflow = "+Inf"

// Lag is the lag of one connector running on this instance.
type Lag struct {
	Solution, Connector string
	N                   uint64
}

// key names one counter: a metric, its solution, and its other label (status code, handler,
// or a histogram bucket's upper bound).
type key struct{ name, solution, label string }

// deltas turns the running totals of successive gathers into what was counted in between.
// The zero value starts from nothing counted, as a new process's collectors do.
type deltas struct {
	prev map[key]float64
}

// next reads one gather and returns, per solution that had anything, what was counted since
// the previous one, with the connectors' lags. A counter lower than before was reset (its
// series deleted and made anew): all of its value is new. A series gone is forgotten.
func (d *deltas) next(fams []*dto.MetricFamily, lags []Lag, instance string, now time.Time) map[string]*Sample {
	cur := readCounters(fams)
	out := map[string]*Sample{}
	get := func(sol string) *Sample {
		s := out[sol]
		if s == nil {
			s = &Sample{Time: now, Instance: instance}
			out[sol] = s
		}
		return s
	}
	latency := map[string]map[string]uint64{} // solution → bucket label → delta
	for k, v := range cur {
		prev := d.prev[k]
		delta := v
		if v >= prev {
			delta = v - prev
		}
		n := uint64(math.Round(delta))
		if k.name == latencyMetric {
			// Every bucket, empty ones too: a percentile over the highest bound needs that bound.
			if latency[k.solution] == nil {
				latency[k.solution] = map[string]uint64{}
			}
			latency[k.solution][k.label] += n
			continue
		}
		if n == 0 {
			continue
		}
		switch k.name {
		case requestsMetric:
			s := get(k.solution)
			s.Requests += n
			if strings.HasPrefix(k.label, "5") {
				s.Errors += n
			}
		default:
			s := get(k.solution)
			if s.Handlers == nil {
				s.Handlers = map[string]HandlerCounts{}
			}
			c := s.Handlers[k.label]
			switch k.name {
			case handlerRunsMetric:
				c.Runs += n
			case handlerFailuresMetric:
				c.Failures += n
			case handlerRetriesMetric:
				c.Retries += n
			case handlerDeadLettersMetric:
				c.DeadLetters += n
			}
			s.Handlers[k.label] = c
		}
	}
	for sol, buckets := range latency {
		var total uint64
		for _, n := range buckets {
			total += n
		}
		if total > 0 {
			get(sol).Latency = histogramOf(buckets)
		}
	}
	for _, l := range lags {
		s := get(l.Solution)
		if s.Lags == nil {
			s.Lags = map[string]uint64{}
		}
		s.Lags[l.Connector] = l.N
	}
	for _, s := range out {
		s.bound()
	}
	d.prev = cur
	return out
}

// readCounters reads the counters a sample is made of; a histogram's buckets become counters
// of the observations in each bucket alone. Series of no solution are left out.
func readCounters(fams []*dto.MetricFamily) map[key]float64 {
	cur := map[key]float64{}
	for _, f := range fams {
		name := f.GetName()
		var other string
		switch name {
		case requestsMetric:
			other = "code"
		case latencyMetric:
		case handlerRunsMetric, handlerFailuresMetric, handlerRetriesMetric, handlerDeadLettersMetric:
			other = "handler"
		default:
			continue
		}
		for _, m := range f.GetMetric() {
			sol, label := labelValue(m, "solution"), labelValue(m, other)
			if sol == "" {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				var below uint64
				for _, b := range h.GetBucket() {
					if math.IsInf(b.GetUpperBound(), 1) {
						continue
					}
					cum := b.GetCumulativeCount()
					cur[key{name, sol, strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)}] = float64(cum - min(below, cum))
					below = max(below, cum)
				}
				cur[key{name, sol, overflow}] = float64(h.GetSampleCount() - min(below, h.GetSampleCount()))
				continue
			}
			if label == "" {
				continue
			}
			cur[key{name, sol, label}] = m.GetCounter().GetValue()
		}
	}
	return cur
}

func labelValue(m *dto.Metric, name string) string {
	if name == "" {
		return ""
	}
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// histogramOf orders bucket deltas by bound.
func histogramOf(buckets map[string]uint64) *Histogram {
	h := &Histogram{}
	type bucket struct {
		le float64
		n  uint64
	}
	var bs []bucket
	for label, n := range buckets {
		if label == overflow {
			continue
		}
		le, err := strconv.ParseFloat(label, 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, n})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	for _, b := range bs {
		h.Bounds = append(h.Bounds, b.le)
		h.Counts = append(h.Counts, b.n)
	}
	h.Counts = append(h.Counts, buckets[overflow])
	return h
}

// bound keeps the MaxSeries busiest handlers and the MaxSeries connectors of most lag.
func (s *Sample) bound() {
	if len(s.Handlers) > MaxSeries {
		names := keysBy(s.Handlers, func(c HandlerCounts) uint64 { return c.total() })
		for _, n := range names[MaxSeries:] {
			delete(s.Handlers, n)
		}
		s.Truncated = true
	}
	if len(s.Lags) > MaxSeries {
		names := keysBy(s.Lags, func(n uint64) uint64 { return n })
		for _, n := range names[MaxSeries:] {
			delete(s.Lags, n)
		}
		s.Truncated = true
	}
}

// keysBy lists m's keys by weight, heaviest first, then by name.
func keysBy[V any](m map[string]V, weight func(V) uint64) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(weight(m[b]), weight(m[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return names
}
