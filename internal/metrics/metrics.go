// Package metrics defines Switchboard's Prometheus collectors, on a registry of their own.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector the hub reports at /metrics.
type Metrics struct {
	Registry *prometheus.Registry

	// AppRequests counts solution endpoint requests by solution and status code.
	AppRequests *prometheus.CounterVec
	// AppLatency is solution endpoint request latency by solution.
	AppLatency *prometheus.HistogramVec
	// APIRequests counts management and dispatcher API requests by status code.
	APIRequests *prometheus.CounterVec
	// ScriptRuns counts script runs by solution and outcome (ok, error, limit).
	ScriptRuns *prometheus.CounterVec
	// ScriptLatency is script run time by solution.
	ScriptLatency *prometheus.HistogramVec
	// ScriptErrors counts failed runs by solution and kind (runtime, time, memory, call depth, …).
	ScriptErrors *prometheus.CounterVec
	// ServiceCalls counts calls to dynamic services by solution, service and status (200 for
	// a success, else the failure's status).
	ServiceCalls *prometheus.CounterVec
	// ServiceLatency is dynamic service call time by service.
	ServiceLatency *prometheus.HistogramVec
	// AdmissionRejected counts requests refused by the admission gate, by the bound reached;
	// no solution label, so callers cannot make series for solutions that do not exist.
	AdmissionRejected *prometheus.CounterVec
	// LogsDropped counts solution log entries not kept, by reason (queue_full: written faster
	// than they could be published; publish_failed: the connection to NATS refused them; encode).
	LogsDropped *prometheus.CounterVec

	// Event handler runs, by solution and handler only: both are bounded by the handlers
	// deployed, never by topics or event ids. Handler runs count in ScriptRuns as well.

	// HandlerRuns counts event handler runs, synchronous and durable.
	HandlerRuns *prometheus.CounterVec
	// HandlerFailures counts handler runs that failed (including a returned retry_after).
	HandlerFailures *prometheus.CounterVec
	// HandlerRetries counts durable runs scheduled again after a failure.
	HandlerRetries *prometheus.CounterVec
	// HandlerDeadLetters counts durable work items parked in the dead-letter stream.
	HandlerDeadLetters *prometheus.CounterVec
	// HandlerLatency is handler run time.
	HandlerLatency *prometheus.HistogramVec
	// HandlerInFlight is the handler runs in progress on this instance.
	HandlerInFlight *prometheus.GaugeVec

	// history has the collectors the solutions' metrics history samples.
	history *prometheus.Registry
}

// handlerLabels are the labels of event handler series.
var handlerLabels = []string{"solution", "handler"}

// latencyBuckets spans 50µs to 10s: scripts are usually far under a millisecond.
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New makes the collectors and registers them, with the Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		AppRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_http_requests_total", Help: "Solution endpoint requests by solution and status code.",
		}, []string{"solution", "code"}),
		AppLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_http_request_duration_seconds", Help: "Solution endpoint request latency by solution.", Buckets: latencyBuckets,
		}, []string{"solution"}),
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_api_requests_total", Help: "Management API requests by method and status code.",
		}, []string{"method", "code"}),
		ScriptRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_script_runs_total", Help: "Script runs by solution and outcome (ok, error).",
		}, []string{"solution", "outcome"}),
		ScriptLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_script_run_duration_seconds", Help: "Script run time by solution.", Buckets: latencyBuckets,
		}, []string{"solution"}),
		ScriptErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_script_errors_total", Help: "Failed script runs by solution and kind (runtime or the limit that was hit).",
		}, []string{"solution", "kind"}),
		ServiceCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_service_calls_total", Help: "Calls to dynamic services by solution, service and status.",
		}, []string{"solution", "service", "code"}),
		ServiceLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_service_call_duration_seconds", Help: "Dynamic service call time by service.", Buckets: latencyBuckets,
		}, []string{"service"}),
		AdmissionRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_admission_rejected_total", Help: "Requests refused because a bound on runs in flight or body bytes held was reached, by bound.",
		}, []string{"reason"}),
		LogsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_solution_log_dropped_total", Help: "Solution log entries not kept, by reason (queue_full, publish_failed, encode).",
		}, []string{"reason"}),
		HandlerRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_event_handler_runs_total", Help: "Event handler runs by solution and handler.",
		}, handlerLabels),
		HandlerFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_event_handler_failures_total", Help: "Failed event handler runs by solution and handler.",
		}, handlerLabels),
		HandlerRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_event_handler_retries_total", Help: "Durable event handler runs scheduled again after a failure, by solution and handler.",
		}, handlerLabels),
		HandlerDeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_event_handler_dead_letters_total", Help: "Durable event handler runs that exhausted their attempts and were parked as dead letters, by solution and handler.",
		}, handlerLabels),
		HandlerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_event_handler_duration_seconds", Help: "Event handler run time by solution and handler.", Buckets: latencyBuckets,
		}, handlerLabels),
		HandlerInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_event_handler_in_flight", Help: "Event handler runs in progress on this instance, by solution and handler.",
		}, handlerLabels),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.AppRequests, m.AppLatency, m.APIRequests, m.ScriptRuns, m.ScriptLatency, m.ScriptErrors,
		m.ServiceCalls, m.ServiceLatency, m.AdmissionRejected, m.LogsDropped,
		m.HandlerRuns, m.HandlerFailures, m.HandlerRetries, m.HandlerDeadLetters, m.HandlerLatency, m.HandlerInFlight,
	)
	// A collector may be in two registries: sampling these does not gather the whole process.
	m.history = prometheus.NewRegistry()
	m.history.MustRegister(m.AppRequests, m.AppLatency, m.HandlerRuns, m.HandlerFailures, m.HandlerRetries, m.HandlerDeadLetters)
	return m
}

// History gathers only the collectors the solutions' metrics history is made of: endpoint
// requests and latency, and event handler runs, failures, retries and dead letters.
func (m *Metrics) History() prometheus.Gatherer { return m.history }

// ForgetSolution drops a deleted solution's series so they do not linger.
func (m *Metrics) ForgetSolution(id string) {
	l := prometheus.Labels{"solution": id}
	m.AppRequests.DeletePartialMatch(l)
	m.AppLatency.DeletePartialMatch(l)
	m.ScriptRuns.DeletePartialMatch(l)
	m.ScriptLatency.DeletePartialMatch(l)
	m.ScriptErrors.DeletePartialMatch(l)
	m.ServiceCalls.DeletePartialMatch(l)
	for _, v := range m.handlerVecs() {
		v.DeletePartialMatch(l)
	}
}

// ForgetHandler drops a deleted handler's series.
func (m *Metrics) ForgetHandler(solution, handler string) {
	l := prometheus.Labels{"solution": solution, "handler": handler}
	for _, v := range m.handlerVecs() {
		v.DeletePartialMatch(l)
	}
}

func (m *Metrics) handlerVecs() []interface{ DeletePartialMatch(prometheus.Labels) int } {
	return []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.HandlerRuns, m.HandlerFailures, m.HandlerRetries, m.HandlerDeadLetters, m.HandlerLatency, m.HandlerInFlight,
	}
}
