package connectorsdk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults for a Config's zero values.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultMaxInFlight = 16
	DefaultSource      = "urn:switchboard:connector"
)

// maxAnswerBytes bounds how much of the hub's answer is read: handlers' results are bounded
// by the hub, this only keeps a broken peer from filling memory.
const maxAnswerBytes = 16 << 20

// Config describes the hub and the solution a Controller publishes to.
type Config struct {
	// HubURL is the hub's address, such as "http://switchboard:8080" (a path is kept as a
	// prefix).
	HubURL string
	// Solution is the solution whose handlers the events are for.
	Solution string
	// Token is the solution's token (or the admin token); TokenFile names a file holding it,
	// read once by NewController. Set one of them.
	Token     string
	TokenFile string
	// Async publishes events for the hub's durable delivery: the hub answers once the event is
	// stored and runs its handlers later, with retries. Otherwise the handlers run while the
	// hub answers and the result holds what they returned.
	Async bool
	// Timeout bounds one invocation, from sending it to reading the whole answer
	// (DefaultTimeout when zero). In sync mode it must cover the handlers' run.
	Timeout time.Duration
	// MaxInFlight bounds the invocations sent at once (DefaultMaxInFlight when zero).
	MaxInFlight int
	// Source is the CloudEvents source of the events (DefaultSource when empty), which
	// handlers see as event.source.
	Source string
	// UserAgent is sent with every request ("switchboard-connectorsdk" when empty).
	UserAgent string
	// HTTPClient sends the requests; nil means a client of the package's own. Its Timeout, if
	// any, applies on top of Timeout.
	HTTPClient *http.Client
}

// Controller publishes a connector's messages as events. It is safe for concurrent use.
type Controller struct {
	cfg      Config
	endpoint string
	token    string
	hc       *http.Client
	slots    chan struct{}
	closing  chan struct{}

	mu        sync.Mutex
	receivers []Receiver
	closed    bool
	inflight  sync.WaitGroup
	closeOnce sync.Once
}

// NewController checks cfg, reads the token file and returns a Controller. It does not
// contact the hub: a hub that is down shows in the results of the first invocations.
func NewController(cfg Config) (*Controller, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.HubURL))
	switch {
	case cfg.HubURL == "":
		return nil, errors.New("connectorsdk: Config.HubURL is required")
	case err != nil:
		return nil, fmt.Errorf("connectorsdk: Config.HubURL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("connectorsdk: Config.HubURL %q: want an absolute http or https URL", cfg.HubURL)
	case cfg.Solution == "":
		return nil, errors.New("connectorsdk: Config.Solution is required")
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("connectorsdk: Config.Timeout %v: must not be negative", cfg.Timeout)
	case cfg.MaxInFlight < 0:
		return nil, fmt.Errorf("connectorsdk: Config.MaxInFlight %d: must not be negative", cfg.MaxInFlight)
	case cfg.Token != "" && cfg.TokenFile != "":
		return nil, errors.New("connectorsdk: set Config.Token or Config.TokenFile, not both")
	}
	token := cfg.Token
	if cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("connectorsdk: Config.TokenFile: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return nil, fmt.Errorf("connectorsdk: Config.TokenFile %s is empty", cfg.TokenFile)
		}
	}
	if token == "" {
		return nil, errors.New("connectorsdk: Config.Token or Config.TokenFile is required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Source == "" {
		cfg.Source = DefaultSource
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "switchboard-connectorsdk"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// Not http.DefaultClient: what a program sets there is not ours to share.
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/solutions/" + url.PathEscape(cfg.Solution) + "/events"
	if !cfg.Async {
		u.RawQuery = "mode=sync"
	}
	return &Controller{
		cfg:      cfg,
		endpoint: u.String(),
		token:    token,
		hc:       hc,
		slots:    make(chan struct{}, cfg.MaxInFlight),
		closing:  make(chan struct{}),
	}, nil
}

// Subscribe adds r to the receivers of every later invocation's Result.
func (c *Controller) Subscribe(r Receiver) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.receivers = append(c.receivers, r)
}

// Invoke publishes data as an event on topic. It waits for one of Config.MaxInFlight slots,
// then sends the event in the background and returns; the Result goes to the receivers. The
// returned error is only that of not starting (ctx done or the Controller closed while
// waiting), and even then the receivers get a Result with that error.
//
// data is the event's data: JSON, or UTF-8 text otherwise (sent as text/plain); empty for
// none. headers become CloudEvents extensions (event.extensions of the handler): names are
// letters and digits, taken in lower case. "id", "subject", "time" and "dataschema" set those
// attributes instead, and "correlationid" the event's correlation id. Without "id" the event
// gets a new random id, which a retry of the same message should reuse: the hub stores an id
// sent again within two minutes once.
//
// ctx bounds the wait for a slot and the request itself (with Config.Timeout).
func (c *Controller) Invoke(ctx context.Context, topic string, data []byte, headers map[string]string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		err := &Error{Topic: topic, Message: "controller closed", Err: ErrClosed}
		c.deliver(Result{Topic: topic, Async: c.cfg.Async, Err: err})
		return err
	}
	c.inflight.Add(1)
	c.mu.Unlock()

	var waitErr error
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		waitErr = &Error{Topic: topic, Message: "no free slot", Err: context.Cause(ctx)}
	case <-c.closing:
		waitErr = &Error{Topic: topic, Message: "controller closed", Err: ErrClosed}
	}
	if waitErr != nil {
		c.deliver(Result{Topic: topic, Async: c.cfg.Async, Err: waitErr})
		c.inflight.Done()
		return waitErr
	}
	go func() {
		defer c.inflight.Done()
		defer func() { <-c.slots }()
		c.deliver(c.send(ctx, topic, data, headers))
	}()
	return nil
}

// Close stops taking invocations and waits for those sent to finish (each bounded by
// Config.Timeout); invocations still waiting for a slot end with ErrClosed. Calling it again
// is fine.
func (c *Controller) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.closing)
	})
	c.inflight.Wait()
}

func (c *Controller) deliver(r Result) {
	c.mu.Lock()
	rs := c.receivers
	c.mu.Unlock()
	for _, rc := range rs {
		rc.Receive(r)
	}
}

// reservedHeaders are CloudEvents attributes a connector does not set by header: the topic
// is the type, and the content type follows from the data.
var reservedHeaders = map[string]bool{"specversion": true, "type": true, "datacontenttype": true, "data": true, "solution": true}

// request builds the publish request: a CloudEvent in binary HTTP mode.
func (c *Controller) request(ctx context.Context, topic string, data []byte, headers map[string]string) (*http.Request, string, error) {
	if topic == "" {
		return nil, "", errors.New("the topic is empty")
	}
	ce := map[string]string{}
	for k, v := range headers {
		name := strings.ToLower(k)
		if name == "" || strings.TrimLeft(name, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return nil, "", fmt.Errorf("header %q: a CloudEvents extension name is letters and digits only", k)
		}
		if reservedHeaders[name] {
			return nil, "", fmt.Errorf("header %q: not settable (the topic is the type, the data gives the content type)", k)
		}
		ce[name] = v
	}
	if ce["id"] == "" {
		ce["id"] = newID()
	}
	if ce["source"] == "" {
		ce["source"] = c.cfg.Source
	}
	ctype := ""
	switch {
	case len(data) == 0:
	case json.Valid(data):
		ctype = "application/json"
	case utf8.Valid(data):
		ctype = "text/plain; charset=utf-8"
	default:
		return nil, ce["id"], errors.New("the data is neither JSON nor UTF-8 text")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(data))
	if err != nil {
		return nil, ce["id"], err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Type", topic)
	for k, v := range ce {
		req.Header.Set("Ce-"+k, v)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req, ce["id"], nil
}

// send makes one invocation and describes how it ended.
func (c *Controller) send(ctx context.Context, topic string, data []byte, headers map[string]string) Result {
	start := time.Now()
	res := Result{Topic: topic, Async: c.cfg.Async}
	defer func() { res.Duration = time.Since(start) }()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, id, err := c.request(ctx, topic, data, headers)
	res.EventID = id
	if err != nil {
		res.Err = &Error{Topic: topic, Message: err.Error()}
		return res
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		res.Err = &Error{Topic: topic, Message: "no answer from the hub", Err: err}
		return res
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	res.Status = resp.StatusCode
	if err != nil {
		res.Err = &Error{Topic: topic, Status: resp.StatusCode, Message: "reading the hub's answer", Err: err}
		return res
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		var a struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &a) == nil && a.ID != "" {
			res.EventID = a.ID
		}
	case resp.StatusCode == http.StatusOK:
		res.Body = bytes.TrimSpace(body)
		res.Handlers = perHandler(resp.Header.Get("X-Switchboard-Handlers"), res.Body)
	default:
		res.Err = answerError(topic, resp, body)
	}
	return res
}

// perHandler splits a sync answer by handler: the hub answers one handler's result as is and
// several as a table by handler name, and names them in X-Switchboard-Handlers.
func perHandler(names string, body []byte) map[string]json.RawMessage {
	if names == "" {
		return nil
	}
	list := strings.Split(names, ",")
	if len(list) == 1 {
		return map[string]json.RawMessage{list[0]: json.RawMessage(body)}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	return m
}

// answerError is the Error of a refusal or failure the hub answered.
func answerError(topic string, resp *http.Response, body []byte) *Error {
	var a struct {
		Error     string `json:"error"`
		Field     string `json:"field"`
		Handler   string `json:"handler"`
		ErrorID   string `json:"error_id"`
		RequestID string `json:"request_id"`
		Detail    string `json:"message"`
	}
	e := &Error{Topic: topic, Status: resp.StatusCode}
	if json.Unmarshal(body, &a) == nil && a.Error != "" {
		e.Message, e.Field, e.Handler = a.Error, a.Field, a.Handler
		e.ErrorID, e.RequestID, e.Detail = a.ErrorID, a.RequestID, a.Detail
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
