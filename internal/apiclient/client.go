// Package apiclient is a Go client for Switchboard's management API (/api/v1) and its health
// endpoints. The switchboard CLI, the end-to-end tests and the benchmarks all use it.
//
// Every method sends JSON with an "Authorization: Bearer <token>" header and decodes the JSON
// answer. A request the server answers with a 4xx or 5xx status fails with an *Error carrying
// the server's message (and, where the server names one, the offending field and script line);
// a request that gets no answer at all fails with a *ConnectionError:
//
//	c := apiclient.New("http://127.0.0.1:8080", token)
//	sol, err := c.CreateSolution(ctx, apiclient.SolutionCreate{ID: "demo"})
//	var apiErr *apiclient.Error
//	switch {
//	case errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict:
//		// the solution exists already
//	case err != nil:
//		return err
//	}
//
// A Client is safe for concurrent use.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxResponseBytes bounds how much of a response body the client reads.
const maxResponseBytes = 64 << 20

// Client talks to one Switchboard server with one token.
type Client struct {
	server     string
	token      string
	httpClient *http.Client
	timeout    time.Duration
	userAgent  string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc instead of a default
// *http.Client. A nil hc is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithTimeout bounds each request, from sending it to reading the whole answer. Zero or less
// means no bound beyond the context's (the default).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client for the server at server, such as "http://127.0.0.1:8080" (a missing
// scheme means http://; a path such as "https://example.com/switchboard" is kept as a prefix).
// An empty token sends no Authorization header.
func New(server, token string, opts ...Option) *Client {
	server = strings.TrimSpace(server)
	if server != "" && !strings.Contains(server, "://") {
		server = "http://" + server
	}
	c := &Client{
		server:     strings.TrimRight(server, "/"),
		token:      token,
		httpClient: &http.Client{},
		userAgent:  "switchboard-apiclient",
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Server returns the server's base URL as the client uses it.
func (c *Client) Server() string { return c.server }

// Error is a 4xx or 5xx answer of the server: {"error":"…","field":"…","line":n}.
type Error struct {
	// Status is the HTTP status code.
	Status int `json:"-"`
	// Message is the server's description of the problem.
	Message string `json:"error"`
	// Field names the request field at fault, if the server said which ("script", "id", …).
	Field string `json:"field,omitempty"`
	// Line is the script line at fault (1-based) for a script that does not compile, or for a
	// failed run of a solution in debug mode; else 0.
	Line int `json:"line,omitempty"`
	// ErrorID and RequestID name a failed script run; its whole error is in the solution's
	// log under that id. Detail is the run's error message, given only in debug mode.
	ErrorID   string `json:"error_id,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Detail    string `json:"message,omitempty"`
}

// Error returns the message with the status and, when given, the field and line:
// "script: line 2: unexpected symbol (HTTP 400, field script, line 2)".
func (e *Error) Error() string {
	var b strings.Builder
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	b.WriteString(msg)
	b.WriteString(" (HTTP ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Field != "" {
		b.WriteString(", field ")
		b.WriteString(e.Field)
	}
	if e.Line > 0 {
		b.WriteString(", line ")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.ErrorID != "" {
		b.WriteString(", error id ")
		b.WriteString(e.ErrorID)
	}
	b.WriteString(")")
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// StatusOf returns the HTTP status of an *Error in err's chain, or 0 if there is none.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// ConnectionError reports a request that got no complete answer: the server could not be
// reached, the connection broke, or the request timed out or was cancelled. Err is the
// underlying error (errors.Is(err, context.DeadlineExceeded) and the like work through it).
type ConnectionError struct {
	// Server is the client's base URL.
	Server string
	// Method and Path identify the request ("GET", "/api/v1/solutions").
	Method, Path string
	// Err is what went wrong.
	Err error
}

func (e *ConnectionError) Error() string {
	cause := e.Err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	return fmt.Sprintf("cannot reach the server at %s (%s %s): %v", e.Server, e.Method, e.Path, cause)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// do sends one request to path (already escaped, starting with "/") with in as its JSON body
// (nil sends none) and decodes a successful answer into out (nil ignores it). It returns the
// status code of a successful answer.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	contentType := "application/json"
	if raw, ok := in.(rawBody); ok {
		body, contentType = bytes.NewReader(raw.data), raw.contentType
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("apiclient: encoding %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return 0, fmt.Errorf("apiclient: server %q: %w", c.server, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return 0, &ConnectionError{Server: c.server, Method: method, Path: path, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, &ConnectionError{Server: c.server, Method: method, Path: path, Err: err}
	}
	if len(data) > maxResponseBytes {
		return 0, fmt.Errorf("apiclient: %s %s: answer larger than %d bytes", method, path, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, errorFromBody(resp.StatusCode, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.StatusCode, fmt.Errorf("apiclient: %s %s: decoding the answer (HTTP %d): %w", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// rawBody is a request body sent as it is, not as JSON.
type rawBody struct {
	data        []byte
	contentType string
}

// errorFromBody makes the *Error for a failed answer. A body that is not the API's JSON error
// (a proxy's HTML page, say) contributes its first line as the message.
func errorFromBody(status int, data []byte) *Error {
	e := &Error{Status: status}
	if json.Unmarshal(data, e) == nil && e.Message != "" {
		return e
	}
	e.Field, e.Line, e.ErrorID, e.RequestID, e.Detail = "", 0, "", "", ""
	msg := strings.TrimSpace(string(data))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	if len(msg) > 200 {
		msg = msg[:200]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
		msg += "…"
	}
	if msg == "" || strings.HasPrefix(msg, "{") {
		msg = http.StatusText(status)
	}
	e.Message = msg
	return e
}

// itemList is the API's list envelope: {"items":[…]}.
type itemList[T any] struct {
	Items []T `json:"items"`
}

// getList fetches a list and returns its items, never nil.
func getList[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var l itemList[T]
	if _, err := c.do(ctx, http.MethodGet, path, nil, &l); err != nil {
		return nil, err
	}
	if l.Items == nil {
		l.Items = []T{}
	}
	return l.Items, nil
}

// solutionPath is /api/v1/solutions/{id} followed by the already-escaped elems.
func solutionPath(id string, elems ...string) (string, error) {
	if id == "" {
		return "", errors.New("apiclient: empty solution id")
	}
	p := "/api/v1/solutions/" + url.PathEscape(id)
	for _, e := range elems {
		p += "/" + e
	}
	return p, nil
}

// routePath escapes an endpoint path for use in a URL: the leading "/" is dropped and each
// segment is path-escaped ("/users/{id}" → "users/%7Bid%7D", "/" → "").
func routePath(p string) string {
	p = strings.TrimPrefix(p, "/")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
