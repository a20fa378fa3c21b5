package history

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Bounds of a read.
const (
	DefaultWindow = time.Hour
	// MaxWindow is as far back as samples are kept.
	MaxWindow   = time.Hour
	DefaultStep = 10 * time.Second
	MinStep     = time.Second
	// MaxPoints bounds the points of each series in one answer: an hour in steps of 10s.
	MaxPoints = 360
	// maxTracked bounds the handlers and the connectors a read keeps points for before it
	// chooses the busiest MaxSeries, and maxInstances the instances it names.
	maxTracked   = 2 * MaxSeries
	maxInstances = 64
)

// Query selects a window of a solution's figures.
type Query struct {
	// Window is how far back from End; Step the width of each point.
	Window, Step time.Duration
	// End is when the window ends, rounded down to a step; zero = now.
	End time.Time
}

// FieldError is a query parameter out of bounds.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ParseQuery reads window and step as the API takes them (Go durations, "" for the default);
// interval is how often the instances sample, the finest step that means anything.
func ParseQuery(window, step string, interval time.Duration) (Query, error) {
	q := Query{Window: DefaultWindow, Step: DefaultStep}
	var err error
	if window != "" {
		if q.Window, err = time.ParseDuration(window); err != nil {
			return q, &FieldError{"window", fmt.Sprintf("%q is not a duration (30m, 1h)", window)}
		}
	}
	if step != "" {
		if q.Step, err = time.ParseDuration(step); err != nil {
			return q, &FieldError{"step", fmt.Sprintf("%q is not a duration (10s, 1m)", step)}
		}
	}
	return q, q.Validate(interval)
}

// Validate checks q's bounds: a window of at most MaxWindow, a step of at least interval (and
// MinStep), at most MaxPoints points.
func (q Query) Validate(interval time.Duration) error {
	minStep := max(MinStep, interval)
	switch {
	case q.Window <= 0 || q.Window > MaxWindow:
		return &FieldError{"window", fmt.Sprintf("%s: want more than 0 and at most %s", q.Window, MaxWindow)}
	case q.Step < minStep:
		return &FieldError{"step", fmt.Sprintf("%s: want at least %s (the instances sample every %s)", q.Step, minStep, interval)}
	case q.Step > q.Window:
		return &FieldError{"step", fmt.Sprintf("%s: want at most the window (%s)", q.Step, q.Window)}
	case points(q) > MaxPoints:
		return &FieldError{"step", fmt.Sprintf("%s: a window of %s would have %d points; want at most %d (a step of at least %s)",
			q.Step, q.Window, points(q), MaxPoints, (q.Window+MaxPoints-1)/MaxPoints)}
	}
	return nil
}

func points(q Query) int { return int((q.Window + q.Step - 1) / q.Step) }

// Series are a figure's points, one per step; NaN (null in JSON) where there is nothing to
// tell, such as the error rate of a step without requests.
type Series []float64

// MarshalJSON writes NaN as null and keeps six significant digits.
func (s Series) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+8*len(s))
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, v, 'g', 6, 64)
	}
	return append(b, ']'), nil
}

// Answer is a window of a solution's figures, every instance's samples summed into steps.
type Answer struct {
	Solution string    `json:"solution"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	// StepSeconds is the width of each point; Times the start of each.
	StepSeconds float64     `json:"step_seconds"`
	Times       []time.Time `json:"times"`
	// Instances are the instances whose samples are in the window.
	Instances  []string          `json:"instances"`
	Endpoints  EndpointSeries    `json:"endpoints"`
	Handlers   []HandlerSeries   `json:"handlers"`
	Connectors []ConnectorSeries `json:"connectors"`
	// Truncated is set when handlers or connectors beyond MaxSeries were left out.
	Truncated bool `json:"truncated,omitempty"`
}

// EndpointSeries are the solution's endpoint requests, all endpoints together.
type EndpointSeries struct {
	RequestsPerSecond Series `json:"requests_per_second"`
	// ErrorRate is the share of requests answered with a 5xx (0 to 1).
	ErrorRate Series `json:"error_rate"`
	// Latency percentiles in seconds, estimated from the summed histogram buckets.
	P50 Series `json:"latency_p50_seconds"`
	P95 Series `json:"latency_p95_seconds"`
	P99 Series `json:"latency_p99_seconds"`
}

// HandlerSeries are one event handler's figures.
type HandlerSeries struct {
	Handler          string `json:"handler"`
	HandledPerSecond Series `json:"handled_per_second"`
	// Failures, Retries and DeadLetters count per step.
	Failures    Series `json:"failures"`
	Retries     Series `json:"retries"`
	DeadLetters Series `json:"dead_letters"`
}

// ConnectorSeries are one connector's lag: the highest any instance said during each step.
type ConnectorSeries struct {
	Connector string `json:"connector"`
	Lag       Series `json:"lag"`
}

// aggregator sums samples into steps.
type aggregator struct {
	start     time.Time
	step      time.Duration
	n         int
	requests  []uint64
	errors    []uint64
	latency   []map[float64]uint64
	handlers  map[string][]HandlerCounts
	lags      map[string]Series
	instances map[string]bool
	truncated bool
}

// newAggregator makes the steps of q, ending at q.End rounded down to a step.
func newAggregator(q Query) *aggregator {
	n := points(q)
	end := q.End.Truncate(q.Step)
	return &aggregator{
		start: end.Add(-time.Duration(n) * q.Step), step: q.Step, n: n,
		requests: make([]uint64, n), errors: make([]uint64, n), latency: make([]map[float64]uint64, n),
		handlers: map[string][]HandlerCounts{}, lags: map[string]Series{}, instances: map[string]bool{},
	}
}

// add counts s in the step its time falls in; a sample outside the window is left out.
func (a *aggregator) add(s Sample) {
	if s.Time.Before(a.start) {
		return
	}
	i := int(s.Time.Sub(a.start) / a.step)
	if i >= a.n {
		return
	}
	if !a.instances[s.Instance] && len(a.instances) < maxInstances {
		a.instances[s.Instance] = true
	}
	a.truncated = a.truncated || s.Truncated
	a.requests[i] += s.Requests
	a.errors[i] += s.Errors
	if h := s.Latency; h != nil && len(h.Counts) == len(h.Bounds)+1 {
		if a.latency[i] == nil {
			a.latency[i] = map[float64]uint64{}
		}
		for j, n := range h.Counts {
			le := math.Inf(1)
			if j < len(h.Bounds) {
				le = h.Bounds[j]
			}
			a.latency[i][le] += n // empty buckets too: their bounds place the percentiles
		}
	}
	for name, c := range s.Handlers {
		pts, ok := a.handlers[name]
		if !ok {
			if len(a.handlers) >= maxTracked {
				a.truncated = true
				continue
			}
			pts = make([]HandlerCounts, a.n)
			a.handlers[name] = pts
		}
		pts[i] = pts[i].add(c)
	}
	for name, n := range s.Lags {
		pts, ok := a.lags[name]
		if !ok {
			if len(a.lags) >= maxTracked {
				a.truncated = true
				continue
			}
			pts = nanSeries(a.n)
			a.lags[name] = pts
		}
		if math.IsNaN(pts[i]) || float64(n) > pts[i] {
			pts[i] = float64(n)
		}
	}
}

func nanSeries(n int) Series {
	s := make(Series, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// answer turns the sums into series.
func (a *aggregator) answer(solution string) Answer {
	secs := a.step.Seconds()
	ans := Answer{
		Solution: solution, Start: a.start, End: a.start.Add(time.Duration(a.n) * a.step), StepSeconds: secs,
		Times: make([]time.Time, a.n), Instances: []string{}, Handlers: []HandlerSeries{}, Connectors: []ConnectorSeries{},
		Endpoints: EndpointSeries{RequestsPerSecond: make(Series, a.n), ErrorRate: nanSeries(a.n), P50: nanSeries(a.n), P95: nanSeries(a.n), P99: nanSeries(a.n)},
		Truncated: a.truncated,
	}
	for i := range a.n {
		ans.Times[i] = a.start.Add(time.Duration(i) * a.step)
		ans.Endpoints.RequestsPerSecond[i] = float64(a.requests[i]) / secs
		if a.requests[i] > 0 {
			ans.Endpoints.ErrorRate[i] = float64(a.errors[i]) / float64(a.requests[i])
		}
		ans.Endpoints.P50[i] = quantile(0.50, a.latency[i])
		ans.Endpoints.P95[i] = quantile(0.95, a.latency[i])
		ans.Endpoints.P99[i] = quantile(0.99, a.latency[i])
	}
	for name := range a.instances {
		ans.Instances = append(ans.Instances, name)
	}
	slices.Sort(ans.Instances)
	handlers := keysBy(a.handlers, func(pts []HandlerCounts) uint64 {
		var t uint64
		for _, c := range pts {
			t += c.total()
		}
		return t
	})
	if len(handlers) > MaxSeries {
		handlers, ans.Truncated = handlers[:MaxSeries], true
	}
	slices.Sort(handlers)
	for _, name := range handlers {
		pts := a.handlers[name]
		hs := HandlerSeries{Handler: name, HandledPerSecond: make(Series, a.n), Failures: make(Series, a.n), Retries: make(Series, a.n), DeadLetters: make(Series, a.n)}
		for i, c := range pts {
			hs.HandledPerSecond[i] = float64(c.Runs) / secs
			hs.Failures[i], hs.Retries[i], hs.DeadLetters[i] = float64(c.Failures), float64(c.Retries), float64(c.DeadLetters)
		}
		ans.Handlers = append(ans.Handlers, hs)
	}
	connectors := keysBy(a.lags, func(s Series) uint64 {
		var peak float64
		for _, v := range s {
			if v > peak { // false for NaN
				peak = v
			}
		}
		return uint64(peak)
	})
	if len(connectors) > MaxSeries {
		connectors, ans.Truncated = connectors[:MaxSeries], true
	}
	slices.Sort(connectors)
	for _, name := range connectors {
		ans.Connectors = append(ans.Connectors, ConnectorSeries{Connector: name, Lag: a.lags[name]})
	}
	return ans
}

// quantile estimates the q-quantile of a histogram (observations per upper bound, not
// cumulative) as Prometheus' histogram_quantile does: linearly within the bucket it falls
// in, the highest finite bound when it falls over it. NaN for an empty histogram.
func quantile(q float64, h map[float64]uint64) float64 {
	var total uint64
	bounds := make([]float64, 0, len(h))
	for le, n := range h {
		total += n
		bounds = append(bounds, le)
	}
	if total == 0 {
		return math.NaN()
	}
	slices.SortFunc(bounds, cmp.Compare[float64])
	rank := q * float64(total)
	var below uint64
	lower := 0.0
	for _, le := range bounds {
		n := h[le]
		if float64(below+n) >= rank && n > 0 {
			if math.IsInf(le, 1) {
				return lower
			}
			return lower + (le-lower)*(rank-float64(below))/float64(n)
		}
		below += n
		if !math.IsInf(le, 1) {
			lower = le
		}
	}
	return lower
}
