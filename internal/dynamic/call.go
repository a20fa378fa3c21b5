package dynamic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/servicenet"
)

// Call runs operation op of service d for solution. args is the script's table in Go form
// (map[string]any, []any, string, float64, bool or nil); params are the solution's
// configuration parameters for the service, the defaults of missing arguments. token keys the
// request's signature (see Sign) and requestID is sent as X-Request-Id.
//
// Call returns the JSON result undecoded as a script.Body (decoded by the calling run, charged
// to its memory limit; its MarshalJSON writes it as it came), the body text when the response
// is not JSON, or nil when it has no body. Every failure is a *service.Error (see the package documentation). The
// call lasts at most the operation's timeout, less when ctx ends sooner.
func (iv *Invoker) Call(ctx context.Context, solution string, d *catalog.Description, token string, op string, args any, params map[string]any, requestID string) (any, error) {
	if o := d.Operations[op]; o != nil && o.Restricted {
		return nil, service.Errorf(403, "%s.%s is restricted: scripts cannot call it", service.Alias(d.Name), op)
	}
	return iv.call(ctx, solution, d, token, op, args, params, requestID)
}

// CallLifecycle runs one of the service's lifecycle operations (x-exosite-init, -update, -gc),
// which may be restricted from scripts, with the solution's parameters as its arguments.
func (iv *Invoker) CallLifecycle(ctx context.Context, solution string, d *catalog.Description, token, op string, params map[string]any, requestID string) (any, error) {
	args := map[string]any{}
	for k, v := range params {
		args[k] = v
	}
	return iv.call(ctx, solution, d, token, op, args, params, requestID)
}

func (iv *Invoker) call(ctx context.Context, solution string, d *catalog.Description, token string, op string, args any, params map[string]any, requestID string) (any, error) {
	o := d.Operations[op]
	if o == nil {
		return nil, service.Errorf(404, "service %s has no operation %q", d.Name, op)
	}
	if d.BaseURL == nil {
		return nil, service.Errorf(502, "service %s has no address", d.Name)
	}
	c, err := newCall(d, o, solution, args, params)
	if err != nil {
		return nil, err
	}
	r, err := c.build()
	if err != nil {
		return nil, err
	}
	b := iv.breaker(d.Name + " " + d.BaseURL.String())
	if !b.allow(iv.now()) {
		return nil, service.Errorf(503, "service %s is unavailable (circuit open)", d.Name)
	}
	res, out, err := iv.send(ctx, c, r, token, requestID)
	b.record(out, iv.now(), iv.failures, iv.cooldown)
	return res, err
}

// send sends the request of call c and reads its response, saying how the service fared.
func (iv *Invoker) send(ctx context.Context, c *call, r *request, token, requestID string) (any, outcome, error) {
	timeout := c.op.Timeout
	if timeout <= 0 {
		timeout = c.d.Timeout
	}
	if timeout <= 0 {
		timeout = catalog.DefaultTimeout
	}
	// A deadline of ctx's own that comes first is the caller's, not the service's, fault.
	own := true
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		own = false
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, neutral, c.errorf(502, "cannot make the request: %v", err)
	}
	req.Header = r.header
	iv.sign(ctx, req, c.solution, token, requestID, r.body, r.contentType)

	resp, err := iv.client.Do(req)
	if err != nil {
		return c.failed(ctx, err, timeout, own)
	}
	defer resp.Body.Close()
	data, err := iv.read(ctx, resp)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, failure, c.errorf(502, "response is larger than %d bytes", iv.maxResponse)
		}
		var le *script.LimitError
		if errors.Is(err, script.ErrAnswerTooLarge) || errors.As(err, &le) {
			// The calling run's bound, not the service's fault.
			return nil, neutral, fmt.Errorf("service %s: %w", c.d.Name, err)
		}
		return c.failed(ctx, err, timeout, own)
	}
	// The result copies the text once more (a string).
	if err := script.AnswerBudgetOf(ctx).Take(int64(len(data))); err != nil {
		return nil, neutral, fmt.Errorf("service %s: %w", c.d.Name, err)
	}
	return c.result(resp, data)
}

// sign sets the hub's headers on req: solution, request id, traceparent, the body's content
// type (contentType, application/json when it has none) and signature. They are set last so
// that no argument can override them.
func (iv *Invoker) sign(ctx context.Context, req *http.Request, solution, token, requestID string, body []byte, contentType string) {
	h := req.Header
	if requestID == "" {
		var id [16]byte
		randomHex(id[:])
		requestID = string(id[:])
	}
	h.Set(HeaderSolution, solution)
	h.Set(HeaderRequestID, requestID)
	h.Set(HeaderTrace, traceparent(ctx))
	if body != nil {
		if contentType == "" {
			contentType = catalog.MediaJSON
		}
		h.Set("Content-Type", contentType)
	} else {
		h.Del("Content-Type")
	}
	h.Set("Accept", "application/json")
	ts := iv.now().Unix()
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(token, ts, req.Method, req.URL.RequestURI(), body))
}

// failed maps a failure to send or read: a timeout of the call is 504, the caller giving up
// is 504 too but says nothing of the service, anything else is 502.
func (c *call) failed(ctx context.Context, err error, timeout time.Duration, own bool) (any, outcome, error) {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		if own {
			return nil, failure, c.errorf(504, "service %s did not answer within %s", c.d.Name, timeout)
		}
		return nil, neutral, c.errorf(504, "the call ran out of time")
	case ctx.Err() != nil:
		return nil, neutral, c.errorf(504, "the call was canceled")
	}
	var denied *servicenet.DeniedError
	if errors.As(err, &denied) {
		// Where the service runs is the admin's to know: the reason, not the address.
		return nil, failure, c.errorf(502, "service %s was not called: its address is not allowed for a service (%s)", c.d.Name, denied.Reason)
	}
	return nil, failure, c.errorf(502, "service %s is unreachable: %s", c.d.Name, servicenet.Describe(err))
}
