package cli

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

const metricsLong = `Show a solution's figures over the last hour (or --window), from every instance of
the hub together: for all its endpoints, requests per second, the share answered with
a 5xx and latency percentiles; per event handler, runs per second, failures, retries
and dead letters; per connector whose source can tell, its lag. One line per series:

  SERIES  LATEST  PEAK  TOTAL

LATEST is the last whole step, PEAK the highest step in the window, TOTAL what was
counted over the window. With -o json the whole answer, one point per step, is shown
(the API's GET /api/v1/solutions/{solution}/metrics).

Each instance samples every 10 seconds: a step is at least that, and a window of at
most an hour has at most 360 steps. A solution's token reads only its own figures.`

const metricsExample = `  switchboard metrics -s demo
  switchboard metrics -s demo --window 30m
  switchboard metrics -s demo --window 10m --step 30s -o json`

func (a *app) newMetricsCmd() *cobra.Command {
	var window, step string
	cmd := &cobra.Command{
		Use:     "metrics",
		Short:   "Show a solution's requests, errors, latency, handler and connector figures of the last hour",
		Long:    metricsLong,
		Example: metricsExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for flag, v := range map[string]string{"--window": window, "--step": step} {
				if d, err := time.ParseDuration(v); v != "" && (err != nil || d <= 0) {
					return usagef("%s %q: want a duration (10s, 30m, 1h)", flag, v)
				}
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			m, err := c.Metrics(cmd.Context(), sol, window, step)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(m)
			}
			_, err = fmt.Fprint(a.stdout, formatMetrics(m))
			return err
		},
	}
	a.solutionFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&window, "window", "", "how far back: a duration of at most 1h (default 1h)")
	f.StringVar(&step, "step", "", "the width of each step: a duration of at least 10s (default 10s)")
	return cmd
}

// formatMetrics is an answer as a table: each series' latest, peak and total.
func formatMetrics(m apiclient.Metrics) string {
	var b strings.Builder
	instances := "no instance reported anything"
	if len(m.Instances) > 0 {
		instances = fmt.Sprintf("from %d instance(s): %s", len(m.Instances), strings.Join(m.Instances, ", "))
	}
	step := time.Duration(m.StepSeconds * float64(time.Second))
	fmt.Fprintf(&b, "%s: %s to %s in steps of %s, %s\n\n", m.Solution, formatTime(m.Start), formatTime(m.End), step, instances)
	tw := newTable(&b)
	fmt.Fprintln(tw, "SERIES\tLATEST\tPEAK\tTOTAL")
	row := func(name string, pts []*float64, show func(float64) string, total string) {
		latest, peak := "-", "-"
		hi := math.Inf(-1)
		for _, p := range pts {
			if p != nil { // the last step with something to tell
				hi = math.Max(hi, *p)
				latest = show(*p)
			}
		}
		if !math.IsInf(hi, -1) {
			peak = show(hi)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, latest, peak, total)
	}
	counted := func(pts []*float64, per float64) string {
		var n float64
		for _, p := range pts {
			if p != nil {
				n += *p * per
			}
		}
		return formatNumber(n)
	}
	ep := m.Endpoints
	row("requests/s", ep.RequestsPerSecond, formatNumber, counted(ep.RequestsPerSecond, m.StepSeconds))
	row("error rate (5xx)", ep.ErrorRate, func(v float64) string { return formatNumber(100*v) + "%" }, "-")
	for _, q := range []struct {
		name string
		pts  []*float64
	}{{"latency p50", ep.P50}, {"latency p95", ep.P95}, {"latency p99", ep.P99}} {
		row(q.name, q.pts, formatSeconds, "-")
	}
	for _, h := range m.Handlers {
		row("handler "+h.Handler+" handled/s", h.HandledPerSecond, formatNumber, counted(h.HandledPerSecond, m.StepSeconds))
		row("handler "+h.Handler+" failures", h.Failures, formatNumber, counted(h.Failures, 1))
		row("handler "+h.Handler+" retries", h.Retries, formatNumber, counted(h.Retries, 1))
		row("handler "+h.Handler+" dead letters", h.DeadLetters, formatNumber, counted(h.DeadLetters, 1))
	}
	for _, c := range m.Connectors {
		row("connector "+c.Connector+" lag", c.Lag, formatNumber, "-")
	}
	tw.Flush()
	if m.Truncated {
		b.WriteString("\nsome handlers or connectors were left out: only the busiest are kept\n")
	}
	return b.String()
}

// formatNumber shows up to 3 significant digits, whole numbers as they are.
func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// formatSeconds shows a latency as a duration (1.5ms, 250µs).
func formatSeconds(v float64) string {
	d := time.Duration(v * float64(time.Second))
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
