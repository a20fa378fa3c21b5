package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Metrics are a solution's figures over a window, one point per step, every instance's
// summed. A nil point is a step with nothing to tell (the error rate of a step without
// requests, a lag nobody read).
type Metrics struct {
	Solution    string            `json:"solution"`
	Start       time.Time         `json:"start"`
	End         time.Time         `json:"end"`
	StepSeconds float64           `json:"step_seconds"`
	Times       []time.Time       `json:"times"`
	Instances   []string          `json:"instances"`
	Endpoints   EndpointMetrics   `json:"endpoints"`
	Handlers    []HandlerMetrics  `json:"handlers"`
	Connectors  []ConnectorMetric `json:"connectors"`
	// Truncated is set when handlers or connectors beyond what one answer holds were left out.
	Truncated bool `json:"truncated,omitempty"`
}

// EndpointMetrics are the solution's endpoint requests, all endpoints together.
type EndpointMetrics struct {
	RequestsPerSecond []*float64 `json:"requests_per_second"`
	ErrorRate         []*float64 `json:"error_rate"` // the share answered with a 5xx
	P50               []*float64 `json:"latency_p50_seconds"`
	P95               []*float64 `json:"latency_p95_seconds"`
	P99               []*float64 `json:"latency_p99_seconds"`
}

// HandlerMetrics are one event handler's figures; Failures, Retries and DeadLetters count per
// step.
type HandlerMetrics struct {
	Handler          string     `json:"handler"`
	HandledPerSecond []*float64 `json:"handled_per_second"`
	Failures         []*float64 `json:"failures"`
	Retries          []*float64 `json:"retries"`
	DeadLetters      []*float64 `json:"dead_letters"`
}

// ConnectorMetric is one connector's lag, the highest read in each step.
type ConnectorMetric struct {
	Connector string     `json:"connector"`
	Lag       []*float64 `json:"lag"`
}

// Metrics returns a solution's figures (GET /api/v1/solutions/{id}/metrics); window and step
// are durations ("30m", "10s"), "" for the server's default (1h in steps of 10s).
func (c *Client) Metrics(ctx context.Context, solution, window, step string) (Metrics, error) {
	var out Metrics
	p, err := solutionPath(solution, "metrics")
	if err != nil {
		return out, err
	}
	v := url.Values{}
	if window != "" {
		v.Set("window", window)
	}
	if step != "" {
		v.Set("step", step)
	}
	if q := v.Encode(); q != "" {
		p += "?" + q
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}
