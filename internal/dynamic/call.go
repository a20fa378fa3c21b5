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
	"github.com/switchboardhq/switchboard/internal/traceparent"
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

// CallLifecycle runs one of the service's lifecycle operations (x-exosite-init, -update, -gc,
// -info), which may be restricted from scripts. The solution's parameters fill the operation's
// declared parameters by name (path, query, header, cookie, the properties of an expanded
// body, or a body taken whole by its argument name), besides the From sources; nothing else is
// sent. A failure before anything was sent (a required parameter with no value, a value its
// schema refuses, an open circuit) matches ErrNotCalled and says the service was not called.
func (iv *Invoker) CallLifecycle(ctx context.Context, solution string, d *catalog.Description, token, op string, params map[string]any, requestID string) (any, error) {
	params = iv.effective(solution, d, params)
	c, r, err := iv.prepare(solution, d, op, lifecycleArgs(d.Operations[op], params), params, true)
	if err != nil {
		return nil, err
	}
	return iv.run(ctx, c, r, token, requestID)
}

// lifecycleArgs are the arguments of a lifecycle call of o: none but a body's. Parameters and
// the properties of an expanded body take the solution's parameters of their names by
// themselves; a body taken whole takes the one named after it; a free-form object body (no
// properties declared, others allowed) takes every parameter no declared parameter takes.
func lifecycleArgs(o *catalog.Operation, params map[string]any) map[string]any {
	args := map[string]any{}
	if o == nil || o.Body == nil {
		return args
	}
	b := o.Body
	if !b.Expand {
		if v := params[b.Name]; v != nil {
			args[b.Name] = v
		}
		return args
	}
	if s := b.Schema.Value; len(s.Properties) == 0 && (s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has) {
		for k, v := range params {
			args[k] = v
		}
	}
	return args
}

// ErrNotCalled is matched (errors.Is) by the failures of a lifecycle call refused by the hub
// before anything was sent; they are *service.Error too.
var ErrNotCalled = errors.New("the service was not called")

// notCalled is a refusal before sending, in a lifecycle call.
type notCalled struct{ err *service.Error }

func (e *notCalled) Error() string   { return e.err.Message }
func (e *notCalled) Unwrap() []error { return []error{e.err, ErrNotCalled} }

func (iv *Invoker) call(ctx context.Context, solution string, d *catalog.Description, token string, op string, args any, params map[string]any, requestID string) (any, error) {
	c, r, err := iv.prepare(solution, d, op, args, iv.effective(solution, d, params), false)
	if err != nil {
		return nil, err
	}
	return iv.run(ctx, c, r, token, requestID)
}

// prepare maps a call onto its request; params are the effective ones. A lifecycle call's
// refusals name the service as the API knows it and say it was not called.
func (iv *Invoker) prepare(solution string, d *catalog.Description, op string, args any, params map[string]any, lifecycle bool) (c *call, r *request, err error) {
	if lifecycle {
		defer func() {
			var se *service.Error
			if errors.As(err, &se) {
				err = &notCalled{err: se}
			}
		}()
	}
	o := d.Operations[op]
	if o == nil {
		return nil, nil, service.Errorf(404, "service %s has no operation %q", d.Name, op)
	}
	if d.BaseURL == nil {
		return nil, nil, service.Errorf(502, "service %s has no address", d.Name)
	}
	if c, err = newCall(d, o, solution, args, params); err != nil {
		return nil, nil, err
	}
	c.domain, c.lifecycle = iv.domain(solution), lifecycle
	if lifecycle {
		// The API's user named the service, not its script alias; every refusal while the
		// request is made says the service was not called.
		c.name = d.Name + "." + op + " was not called"
	}
	if r, err = c.build(); err != nil {
		return nil, nil, err
	}
	if lifecycle {
		c.name = d.Name + "." + op
	}
	return c, r, nil
}

// run sends a prepared call through the service's circuit breaker.
func (iv *Invoker) run(ctx context.Context, c *call, r *request, token, requestID string) (any, error) {
	b := iv.breaker(c.d.Name + " " + c.d.BaseURL.String())
	if !b.allow(iv.now()) {
		if c.lifecycle {
			return nil, &notCalled{err: service.Errorf(503, "%s was not called: service %s is unavailable (circuit open)", c.name, c.d.Name)}
		}
		return nil, service.Errorf(503, "service %s is unavailable (circuit open)", c.d.Name)
	}
	res, out, err := iv.send(ctx, c, r, token, requestID)
	b.record(out, iv.now(), iv.failures, iv.cooldown)
	return res, err
}

// domain is the solution's domain: its host under the apps domain.
func (iv *Invoker) domain(solution string) string { return solution + "." + iv.appsDomain }

// effective is the solution's parameters as calls see them: those the hub sets (restricted,
// or with a From source) take the source's value, else their default, whatever is stored.
func (iv *Invoker) effective(solution string, d *catalog.Description, params map[string]any) map[string]any {
	var out map[string]any
	for _, p := range d.ConfigParameters {
		if !p.HubSet() {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(params)+1)
			for k, v := range params {
				out[k] = v
			}
		}
		out[p.Name] = p.Default
		if p.From != "" {
			out[p.Name] = fromSource(p.From, solution, iv.domain(solution))
		}
	}
	if out == nil {
		return params
	}
	return out
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
		traceparent.RandomHex(id[:])
		requestID = string(id[:])
	}
	h.Set(HeaderSolution, solution)
	h.Set(HeaderRequestID, requestID)
	h.Set(HeaderTrace, outgoingTraceparent(ctx))
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
