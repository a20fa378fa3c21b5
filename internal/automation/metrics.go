package automation

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboardhq/switchboard/internal/events"
)

// Metrics counts invocations by automation type and tenant. Both labels come off the wire,
// from whoever may publish on the bus, so they are bounded: a tenant that is no solution
// here is "unknown", a type that cannot be a topic segment "invalid", and past maxTypeLabels
// distinct types the rest are "other".
type Metrics struct {
	Received *prometheus.CounterVec
	Executed *prometheus.CounterVec
	Failed   *prometheus.CounterVec
	Expired  *prometheus.CounterVec
	Rejected *prometheus.CounterVec
	Invoked  *prometheus.CounterVec

	mu    sync.Mutex
	types map[string]bool
}

// maxTypeLabels bounds the distinct automation types the counters name.
const maxTypeLabels = 256

// Label values of what cannot be named.
const (
	unknownTenant = "unknown"
	invalidType   = "invalid"
	otherType     = "other"
)

// NewMetrics makes the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "switchboard", Subsystem: "automation", Name: name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	return &Metrics{
		Received: vec("invocations_received_total", "Kaa automation invocations received by the executor, by automation type and tenant.", "type", "tenant"),
		Executed: vec("invocations_executed_total", "Handler runs of automation invocations that succeeded (one per handler subscribed).", "type", "tenant"),
		Failed:   vec("invocations_failed_total", "Handler runs of automation invocations that failed for the last time (dead-lettered).", "type", "tenant"),
		Expired:  vec("invocations_expired_total", "Automation invocations dropped because their timeout had passed, on receipt or before a handler ran.", "type", "tenant"),
		Rejected: vec("invocations_rejected_total", "Automation invocations dropped unrun, by reason: malformed, oversize, unknown_tenant, invalid_type, no_handler, dropped (the executor fell behind), store_failed.", "type", "tenant", "reason"),
		Invoked:  vec("invocations_published_total", "Automation invocations published by this instance's trigger (scripts and the API), by type and solution.", "type", "tenant"),
		types:    map[string]bool{},
	}
}

// typeLabel is the label of automation type t.
func (m *Metrics) typeLabel(t string) string {
	if validType(t) != nil {
		return invalidType
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.types[t] {
		return t
	}
	if len(m.types) >= maxTypeLabels {
		return otherType
	}
	m.types[t] = true
	return t
}

// Finished counts the end of an automation's handler run (events.DispatcherOptions.Finished):
// executed, failed or expired before it ran.
func (m *Metrics) Finished(e events.Event, _ string, state string) {
	if !strings.HasPrefix(e.Source, sourcePrefix) || !strings.HasPrefix(e.Topic, TopicPrefix+".") {
		return
	}
	typ, tenant := m.typeLabel(strings.TrimPrefix(e.Topic, TopicPrefix+".")), e.Solution
	switch state {
	case events.StateSucceeded:
		m.Executed.WithLabelValues(typ, tenant).Inc()
	case events.StateDeadLettered:
		m.Failed.WithLabelValues(typ, tenant).Inc()
	case events.StateExpired:
		m.Expired.WithLabelValues(typ, tenant).Inc()
	}
}
