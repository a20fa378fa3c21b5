package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Invocation asks for one Kaa automation.
type Invocation struct {
	// Payload is sent as it is; nil is a null payload.
	Payload     []byte
	ContentType string
	// Timeout after now it expires; 0 never.
	Timeout       time.Duration
	CorrelationID string
}

// PublishedInvocation is what the server published.
type PublishedInvocation struct {
	CorrelationID string `json:"correlation_id"`
	Subject       string `json:"subject"`
	Timestamp     int64  `json:"timestamp"`
	TimeoutMillis int64  `json:"timeout_ms"`
	Tenant        string `json:"tenant"`
}

// InvokeAutomation publishes an AutomationInvocation of type typ for a solution
// (POST …/automations/{type}).
func (c *Client) InvokeAutomation(ctx context.Context, solution, typ string, inv Invocation) (PublishedInvocation, error) {
	p, err := solutionPath(solution, "automations", url.PathEscape(typ))
	if err != nil {
		return PublishedInvocation{}, err
	}
	q := url.Values{}
	if inv.Timeout > 0 {
		q.Set("timeout", strconv.FormatInt(inv.Timeout.Milliseconds(), 10))
	}
	if inv.CorrelationID != "" {
		q.Set("correlation_id", inv.CorrelationID)
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var in any
	if inv.Payload != nil {
		in = rawBody{data: inv.Payload, contentType: inv.ContentType}
	}
	var out PublishedInvocation
	_, err = c.do(ctx, http.MethodPost, p, in, &out)
	return out, err
}
