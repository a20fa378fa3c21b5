package servicekit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// registration is the body of POST /api/v1/register/.
type registration struct {
	Name              string          `json:"name"`
	Swagger           json.RawMessage `json:"swagger"`
	Namespace         string          `json:"namespace,omitempty"`
	PlatformNamespace string          `json:"platform_namespace,omitempty"`
}

// attemptTimeout bounds one registration attempt: the hub probes the service's health before
// it answers.
const attemptTimeout = 30 * time.Second

// Register registers the service with the hub and keeps the token the hub answers with (see
// Token). It retries with exponential backoff and jitter while the hub cannot be reached or
// answers 408, 425, 429 or 5xx, until the hub accepts, Config.MaxAttempts attempts were made
// or ctx is done. A refusal (401 for a wrong registration token, 422 for a document or name the
// hub rejects, with its reason and field) is returned at once as an *Error.
//
// The hub checks that the service answers its health path before it accepts, so the service
// must be serving when it registers; Run takes care of the order.
func (s *Service) Register(ctx context.Context) error {
	if s.cfg.HubURL == "" || s.cfg.RegistrationToken == "" {
		return errors.New("servicekit: Register needs Config.HubURL and Config.RegistrationToken")
	}
	body, err := json.Marshal(registration{
		Name: s.cfg.Name, Swagger: s.swagger,
		Namespace: s.cfg.Namespace, PlatformNamespace: s.cfg.PlatformNamespace,
	})
	if err != nil {
		return fmt.Errorf("servicekit: %w", err)
	}
	delay := s.cfg.RetryMinDelay
	for attempt := 1; ; attempt++ {
		retryAfter, err := s.registerOnce(ctx, body)
		if err == nil {
			return nil
		}
		var hubErr *Error
		if errors.As(err, &hubErr) && !retryable(hubErr.Status) {
			return fmt.Errorf("servicekit: the hub refused the registration: %w", err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("servicekit: registration abandoned after %d attempts: %w (last error: %v)", attempt, context.Cause(ctx), err)
		}
		if s.cfg.MaxAttempts > 0 && attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("servicekit: registration failed after %d attempts: %w", attempt, err)
		}
		wait := delay/2 + rand.N(delay/2+1) // jitter: [delay/2, delay]
		if retryAfter > wait {
			wait = min(retryAfter, s.cfg.RetryMaxDelay)
		}
		s.log.Warn("servicekit: registration failed, retrying", "service", s.cfg.Name, "hub", s.cfg.HubURL, "attempt", attempt, "retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("servicekit: registration abandoned after %d attempts: %w (last error: %v)", attempt, context.Cause(ctx), err)
		case <-t.C:
		}
		delay = min(delay*2, s.cfg.RetryMaxDelay)
	}
}

// registerOnce makes one registration attempt; it returns the hub's Retry-After, if any.
func (s *Service) registerOnce(ctx context.Context, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.HubURL+"/api/v1/register/", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.RegistrationToken)
	if t := s.priorToken(); t != "" {
		req.Header.Set(HeaderServiceToken, t) // updating a registered name needs its token
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		var retryAfter time.Duration
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			retryAfter = time.Duration(secs) * time.Second
		}
		e := hubError(resp.StatusCode, data)
		if resp.StatusCode == http.StatusForbidden && s.priorToken() == "" {
			e.Message += " (this service has no token of an earlier registration: keep it with Config.TokenFile or Config.Token)"
		}
		return retryAfter, e
	}
	var answer struct {
		Name   string `json:"name"`
		Token  string `json:"token"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(data, &answer); err != nil || answer.Token == "" {
		return 0, &Error{Status: resp.StatusCode, Message: "the hub's answer holds no token: " + snippet(data)}
	}
	s.setToken(answer.Token)
	s.log.Info("servicekit: registered", "service", s.cfg.Name, "hub", s.cfg.HubURL, "status", answer.Status)
	return 0, nil
}

// retryable reports whether a registration answered with status may succeed later.
func retryable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

// Call calls operation of a platform service (keystore, config, or another service the
// solution added) on behalf of solution, with args encoded as the JSON body (nil sends {}).
// The result is the decoded JSON answer: a map[string]any for an object, nil for an empty
// answer. A failure the hub answers is an *Error with the hub's status and reason; a hub that
// cannot be reached gives the transport error. Made with the context of a HandlerFunc, the
// call carries the incoming X-Request-Id and traceparent.
func (s *Service) Call(ctx context.Context, solution, service, operation string, args any) (any, error) {
	return s.post(ctx, "/api/v1/call/"+url.PathEscape(solution)+"/"+url.PathEscape(service)+"/"+url.PathEscape(operation), args)
}

// Trigger triggers the service's own event on behalf of solution, data being the event's
// payload (nil sends {}). Synchronous (async false), it returns the result of the solution's
// event handler script. Asynchronous, the hub queues the event and Trigger returns its answer,
// map[string]any{"id": "<event id>"}. The hub answers 403 (an *Error) when the solution has
// not added the service; a service can only trigger its own events.
func (s *Service) Trigger(ctx context.Context, solution, event string, data any, async bool) (any, error) {
	p := "/api/v1/trigger/" + url.PathEscape(solution) + "/" + url.PathEscape(s.cfg.Name) + "/" + url.PathEscape(event)
	if async {
		p += "?mode=async"
	}
	return s.post(ctx, p, data)
}

func (s *Service) post(ctx context.Context, path string, payload any) (any, error) {
	if s.cfg.HubURL == "" {
		return nil, errors.New("servicekit: Config.HubURL is not set")
	}
	token := s.Token()
	if token == "" {
		return nil, ErrNotRegistered
	}
	if payload == nil {
		payload = map[string]any{}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("servicekit: the arguments are not JSON: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.HubURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("servicekit: %w", err)
	}
	req.Header.Set("Authorization", s.cfg.Name+" "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if in, ok := RequestFromContext(ctx); ok {
		if in.RequestID != "" {
			req.Header.Set(HeaderRequestID, in.RequestID)
		}
		if in.Traceparent != "" {
			req.Header.Set(HeaderTraceparent, in.Traceparent)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("servicekit: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("servicekit: reading the hub's answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, hubError(resp.StatusCode, data)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var result any
	if err := json.Unmarshal(data, &result); err != nil {
		return nil, fmt.Errorf("servicekit: the hub's answer is not JSON: %w", err)
	}
	return result, nil
}

// hubError is the *Error of a failed answer of the hub: {"error", "field"} when it is JSON,
// its text (or the status text) otherwise.
func hubError(status int, body []byte) *Error {
	var answer struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	if json.Unmarshal(body, &answer) == nil && answer.Error != "" {
		return &Error{Status: status, Message: answer.Error, Field: answer.Field}
	}
	if msg := snippet(body); msg != "" {
		return &Error{Status: status, Message: msg}
	}
	return &Error{Status: status, Message: http.StatusText(status)}
}

// snippet is the start of an answer's text, for messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
