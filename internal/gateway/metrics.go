package gateway

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the gateway was sent. Events of a known application are counted by
// solution, application, event type (a declared one, or "undeclared") and outcome: bounded by
// what solutions registered, not by what senders send. Requests refused before their
// application is known (credentials, unknown application) are counted by reason only.
type Metrics struct {
	Events  *prometheus.CounterVec
	Refused *prometheus.CounterVec
}

// NewMetrics makes the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard", Subsystem: "gateway", Name: "events_total",
			Help: "Events applications sent to the event gateway, by solution, application, event type and outcome (accepted, no_handler, or why it was refused).",
		}, []string{"solution", "application", "type", "outcome"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "switchboard", Subsystem: "gateway", Name: "requests_refused_total",
			Help: "Requests to the event gateway refused before their application was known, by reason (unauthenticated, forbidden, unknown_application).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.Events, m.Refused)
	return m
}

// undeclared is the type label of events of types no spec declares.
const undeclared = "undeclared"

func (g *Gateway) count(app Application, typ, outcome string) {
	if g.o.Metrics != nil {
		g.o.Metrics.Events.WithLabelValues(app.Solution, app.Name, typ, outcome).Inc()
	}
}

func (g *Gateway) countRefused(reason string) {
	if g.o.Metrics != nil {
		g.o.Metrics.Refused.WithLabelValues(reason).Inc()
	}
}
