package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		name string
		h    map[float64]uint64
		q    float64
		want float64
	}{
		{"empty", nil, 0.5, math.NaN()},
		{"one bucket from zero", map[float64]uint64{0.1: 10}, 0.5, 0.05},
		{"interpolated in its bucket", map[float64]uint64{0.1: 50, 0.2: 50}, 0.75, 0.15},
		{"at a bucket's top", map[float64]uint64{0.1: 50, 0.2: 50}, 0.5, 0.1},
		{"over the highest bound is that bound", map[float64]uint64{0.1: 1, inf: 99}, 0.99, 0.1},
		{"empty buckets are skipped", map[float64]uint64{0.1: 0, 0.2: 10, 0.4: 0}, 0.5, 0.15},
		{"p99 of a tail", map[float64]uint64{0.001: 98, 1: 2}, 0.99, 0.001 + (1-0.001)*0.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := quantile(tc.q, tc.h)
			if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-9) {
				t.Fatalf("quantile(%g) = %g, want %g", tc.q, got, tc.want)
			}
		})
	}
}

func TestQueryBounds(t *testing.T) {
	cases := []struct {
		window, step string
		interval     time.Duration
		field        string // "" = valid
		want         Query
	}{
		{"", "", 10 * time.Second, "", Query{Window: time.Hour, Step: 10 * time.Second}},
		{"30m", "1m", 10 * time.Second, "", Query{Window: 30 * time.Minute, Step: time.Minute}},
		{"1m", "1s", 200 * time.Millisecond, "", Query{Window: time.Minute, Step: time.Second}},
		{"2h", "", 10 * time.Second, "window", Query{}},
		{"0s", "", 10 * time.Second, "window", Query{}},
		{"-5m", "", 10 * time.Second, "window", Query{}},
		{"yesterday", "", 10 * time.Second, "window", Query{}},
		{"", "5s", 10 * time.Second, "step", Query{}},                                               // finer than the instances sample
		{"1m", "500ms", 200 * time.Millisecond, "step", Query{}},                                    // under MinStep
		{"1h", "1s", 200 * time.Millisecond, "step", Query{}},                                       // 3600 points
		{"10m", "20m", 10 * time.Second, "step", Query{}},                                           // wider than the window
		{"", "ten", 10 * time.Second, "step", Query{}},                                              // not a duration
		{"6m", "1s", 200 * time.Millisecond, "", Query{Window: 6 * time.Minute, Step: time.Second}}, // exactly MaxPoints
	}
	for _, tc := range cases {
		t.Run(tc.window+"/"+tc.step, func(t *testing.T) {
			q, err := ParseQuery(tc.window, tc.step, tc.interval)
			var fe *FieldError
			if tc.field == "" {
				if err != nil || q != tc.want {
					t.Fatalf("got %+v, %v; want %+v", q, err, tc.want)
				}
				return
			}
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("got %+v, %v; want an error of field %s", q, err, tc.field)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	end := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	at := func(secs int) time.Time { return end.Add(time.Duration(secs) * time.Second) }
	q := Query{Window: time.Minute, Step: 10 * time.Second, End: end.Add(3 * time.Second)} // rounded down to end
	lat := func(counts ...uint64) *Histogram {
		return &Histogram{Bounds: []float64{0.01, 0.1}, Counts: counts}
	}
	t.Run("empty hour", func(t *testing.T) {
		a := newAggregator(Query{Window: time.Hour, Step: 10 * time.Second, End: end}).answer("s")
		if len(a.Times) != 360 || len(a.Endpoints.RequestsPerSecond) != 360 || a.Endpoints.RequestsPerSecond[0] != 0 ||
			!math.IsNaN(a.Endpoints.ErrorRate[0]) || !math.IsNaN(a.Endpoints.P99[359]) || len(a.Handlers) != 0 || len(a.Connectors) != 0 || len(a.Instances) != 0 {
			t.Fatalf("%+v", a)
		}
		if !a.Start.Equal(end.Add(-time.Hour)) || !a.End.Equal(end) {
			t.Fatalf("start %v end %v", a.Start, a.End)
		}
	})
	t.Run("two instances summed", func(t *testing.T) {
		ag := newAggregator(q)
		ag.add(Sample{Time: at(-55), Instance: "i1", Requests: 10, Errors: 1, Latency: lat(8, 2, 0),
			Handlers: map[string]HandlerCounts{"h": {Runs: 5, Failures: 2, Retries: 2}}, Lags: map[string]uint64{"c": 3}})
		ag.add(Sample{Time: at(-51), Instance: "i2", Requests: 30, Errors: 3, Latency: lat(0, 30, 0),
			Handlers: map[string]HandlerCounts{"h": {Runs: 15, DeadLetters: 1}}, Lags: map[string]uint64{"c": 7}})
		ag.add(Sample{Time: at(-5), Instance: "i1", Requests: 20, Latency: lat(0, 0, 20), Lags: map[string]uint64{"c": 1}})
		ag.add(Sample{Time: at(-61), Instance: "old", Requests: 1000}) // before the window
		ag.add(Sample{Time: at(0), Instance: "new", Requests: 1000})   // after it
		a := ag.answer("s")
		if len(a.Times) != 6 || !a.Times[0].Equal(at(-60)) || a.StepSeconds != 10 {
			t.Fatalf("times %v step %v", a.Times, a.StepSeconds)
		}
		ep := a.Endpoints
		if ep.RequestsPerSecond[0] != 4 || ep.ErrorRate[0] != 0.1 || ep.RequestsPerSecond[5] != 2 || ep.ErrorRate[5] != 0 ||
			ep.RequestsPerSecond[1] != 0 || !math.IsNaN(ep.ErrorRate[1]) {
			t.Fatalf("endpoints %+v", ep)
		}
		// 8 ≤ 10ms, 32 ≤ 100ms: the median is in the second bucket; the last step's are all over 100ms.
		if p := ep.P50[0]; math.Abs(p-(0.01+0.09*12/32)) > 1e-9 {
			t.Fatalf("p50 %g", p)
		}
		if ep.P99[5] != 0.1 || !math.IsNaN(ep.P50[2]) {
			t.Fatalf("p99 %v p50 %v", ep.P99, ep.P50)
		}
		if len(a.Handlers) != 1 || a.Handlers[0].Handler != "h" || a.Handlers[0].HandledPerSecond[0] != 2 ||
			a.Handlers[0].Failures[0] != 2 || a.Handlers[0].Retries[0] != 2 || a.Handlers[0].DeadLetters[0] != 1 || a.Handlers[0].HandledPerSecond[1] != 0 {
			t.Fatalf("handlers %+v", a.Handlers)
		}
		lag := a.Connectors[0].Lag
		if len(a.Connectors) != 1 || lag[0] != 7 || !math.IsNaN(lag[1]) || lag[5] != 1 {
			t.Fatalf("connectors %+v", a.Connectors)
		}
		if fmt.Sprint(a.Instances) != "[i1 i2]" {
			t.Fatalf("instances %v", a.Instances)
		}
	})
	t.Run("bounded series", func(t *testing.T) {
		ag := newAggregator(q)
		for i := range maxTracked + 10 {
			ag.add(Sample{Time: at(-5), Instance: "i1", Handlers: map[string]HandlerCounts{fmt.Sprintf("h%03d", i): {Runs: uint64(i + 1)}}})
		}
		a := ag.answer("s")
		if len(a.Handlers) != MaxSeries || !a.Truncated {
			t.Fatalf("%d handlers, truncated %v", len(a.Handlers), a.Truncated)
		}
	})
}

func TestSeriesJSON(t *testing.T) {
	got, err := json.Marshal(Series{1, math.NaN(), 0.123456789, 1e-5, 2})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `[1,null,0.123457,1e-05,2]` {
		t.Fatalf("%s", got)
	}
	var back []*float64
	if err := json.Unmarshal(got, &back); err != nil || len(back) != 5 || back[1] != nil {
		t.Fatalf("%v %v", back, err)
	}
}
