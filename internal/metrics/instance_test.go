package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWithInstance(t *testing.T) {
	reg := prometheus.NewRegistry()
	plain := prometheus.NewCounter(prometheus.CounterOpts{Name: "t_plain_total", Help: "h"})
	labelled := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_labelled_total", Help: "h"}, []string{"code", "solution"})
	own := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_own_total", Help: "h"}, []string{"instance"})
	reg.MustRegister(plain, labelled, own)
	plain.Inc()
	labelled.WithLabelValues("200", "shop").Add(2)
	own.WithLabelValues("elsewhere").Inc()

	want := `
# HELP t_labelled_total h
# TYPE t_labelled_total counter
t_labelled_total{code="200",instance="hub-a",solution="shop"} 2
# HELP t_own_total h
# TYPE t_own_total counter
t_own_total{instance="elsewhere"} 1
# HELP t_plain_total h
# TYPE t_plain_total counter
t_plain_total{instance="hub-a"} 1
`
	if err := testutil.GatherAndCompare(WithInstance(reg, "hub-a"), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
