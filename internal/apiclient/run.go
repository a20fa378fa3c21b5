package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
)

// RunRequest is a script to run once and the request it answers
// (POST /api/v1/solutions/{solution}/run).
type RunRequest struct {
	Script string `json:"script"`
	// Name is the chunk name the script's errors carry, such as the file's name.
	Name   string `json:"name,omitempty"`
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// Route is the endpoint's path template whose parameters are taken from Path.
	Route   string              `json:"route,omitempty"`
	Headers map[string]string   `json:"headers,omitempty"`
	Query   map[string][]string `json:"query,omitempty"`
	// Body is the request's body: a JSON string is sent as that text, any other JSON value as
	// JSON; nil sends none.
	Body json.RawMessage `json:"body,omitempty"`
}

// RunResult is what a run once produced.
type RunResult struct {
	Response    *RunResponse `json:"response,omitempty"`
	Logs        []LogEntry   `json:"logs"`
	DurationMS  float64      `json:"duration_ms"`
	MemoryBytes int64        `json:"memory_bytes"`
	Error       *RunError    `json:"error,omitempty"`
	RequestID   string       `json:"request_id"`
}

// RunResponse is the HTTP answer a run made.
type RunResponse struct {
	Status     int               `json:"status"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
	BodyBase64 []byte            `json:"body_base64,omitempty"`
}

// RunError is why a run failed.
type RunError struct {
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
}

// Run runs a script once for a solution as its endpoint would, without deploying it. A script
// that does not compile fails with Status 400, Field "script" and the Line; a run that failed
// is a RunResult with Error.
func (c *Client) Run(ctx context.Context, solution string, req RunRequest) (out RunResult, err error) {
	p, err := solutionPath(solution, "run")
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, p, req, &out)
	return out, err
}

// Checked is what a deploy check answers when the deploy would be accepted.
type Checked struct {
	OK     bool     `json:"ok"`
	Method string   `json:"method,omitempty"`
	Path   string   `json:"path,omitempty"`
	Name   string   `json:"name,omitempty"`
	Topics []string `json:"topics,omitempty"`
}

// CheckEndpoint asks whether DeployEndpoint would accept ep, changing nothing
// (POST /api/v1/solutions/{solution}/check/endpoint): it fails as the deploy would.
func (c *Client) CheckEndpoint(ctx context.Context, solution string, ep Endpoint) (out Checked, err error) {
	p, err := solutionPath(solution, "check", "endpoint")
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, p, endpointDeploy{Method: ep.Method, Path: ep.Path, Script: ep.Script}, &out)
	return out, err
}

// CheckHandler asks whether DeployHandler would accept h, changing nothing
// (POST /api/v1/solutions/{solution}/check/handler): it fails as the deploy would.
func (c *Client) CheckHandler(ctx context.Context, solution string, h Handler) (out Checked, err error) {
	p, err := solutionPath(solution, "check", "handler")
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, p, deployOf(h), &out)
	return out, err
}
