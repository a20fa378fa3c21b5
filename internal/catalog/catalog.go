package catalog

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/servicenet"
)

const servicesBucket = "sb_services"

// ErrNotFound is returned for a service that is not registered.
var ErrNotFound = errors.New("not found")

// Registration statuses.
const (
	StatusRegistered = "registered"
	StatusUpdated    = "updated"
)

// record is a registered service as stored in KV: the document as given, so that every
// instance parses it the same way.
type record struct {
	Name              string          `json:"name"`
	Document          json.RawMessage `json:"document"` // the document's text, as a JSON string
	Namespace         string          `json:"namespace,omitempty"`
	PlatformNamespace string          `json:"platform_namespace,omitempty"`
	Version           int             `json:"version"`
	// Token is the service's own secret: kept across updates, new after a deregistration.
	Token        string    `json:"token"`
	RegisteredAt time.Time `json:"registered_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Health is the last health check of a service, as this instance saw it.
type Health struct {
	Status    string    `json:"status"` // up, down or unknown
	CheckedAt time.Time `json:"checked_at,omitzero"`
	Error     string    `json:"error,omitempty"`
}

// Entry is a registered service.
type Entry struct {
	Desc         *Description
	Version      int
	RegisteredAt time.Time
	UpdatedAt    time.Time
	rev          uint64
	token        string
}

// Options configure a Catalog.
type Options struct {
	// CoreNames reports the names reserved for core services.
	CoreNames func(string) bool
	// Client reaches services for documents and health checks; default a client with a 5 s
	// timeout dialing through a servicenet.Guard that denies only what no service may be.
	// It must not follow redirects.
	Client *http.Client
	// HealthInterval is how often every service's health is checked; default 30 s.
	HealthInterval time.Duration
	Logger         *slog.Logger
	// MaxParsing bounds the registrations whose documents are read at once; default 2.
	// Reading a 1 MiB document of the worst shapes takes hundreds of MiB for a moment, so
	// what all registrations together hold is bounded by this, not by the document limit.
	MaxParsing int
}

// ErrBusy is a registration not taken because MaxParsing others were being read for as long
// as it could wait.
var ErrBusy = errors.New("the hub is reading other registrations; retry shortly")

// Catalog holds the registered dynamic services, in KV with an in-memory view.
type Catalog struct {
	opt Options
	kv  jetstream.KeyValue

	mu      sync.RWMutex
	entries map[string]*Entry
	health  map[string]Health

	configs *configs
	parsing chan struct{} // a slot per registration being read (Options.MaxParsing)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open loads the catalog and keeps it fresh until Close.
func Open(ctx context.Context, b *bus.Bus, o Options) (*Catalog, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client == nil {
		o.Client = (&servicenet.Guard{}).HTTPClient(5 * time.Second)
	}
	if o.HealthInterval == 0 {
		o.HealthInterval = 30 * time.Second
	}
	if o.MaxParsing <= 0 {
		o.MaxParsing = 2
	}
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: servicesBucket, Description: "Switchboard dynamic services", MaxValueSize: 2 * DefaultMaxBytes})
	if err != nil {
		return nil, err
	}
	c := &Catalog{opt: o, kv: kv, entries: map[string]*Entry{}, health: map[string]Health{}, parsing: make(chan struct{}, o.MaxParsing)}
	wctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if err := bus.Watch(ctx, wctx, &c.wg, kv, c.apply); err != nil {
		cancel()
		return nil, fmt.Errorf("watch services: %w", err)
	}
	if c.configs, err = openConfigs(ctx, wctx, &c.wg, b); err != nil {
		cancel()
		c.wg.Wait()
		return nil, err
	}
	c.wg.Add(1)
	go c.checkHealth(wctx)
	return c, nil
}

func (c *Catalog) apply(e jetstream.KeyValueEntry) {
	name := e.Key()
	if e.Operation() != jetstream.KeyValuePut {
		c.mu.Lock()
		if cur, ok := c.entries[name]; ok && cur.rev < e.Revision() {
			delete(c.entries, name)
			delete(c.health, name)
		}
		c.mu.Unlock()
		return
	}
	c.mu.RLock()
	cur, ok := c.entries[name]
	c.mu.RUnlock()
	if ok && cur.rev >= e.Revision() {
		return
	}
	ent, err := c.parse(e.Value(), e.Revision())
	if err != nil {
		c.opt.Logger.Error("skip unreadable service record", "service", name, "err", err)
		return
	}
	c.mu.Lock()
	if cur, ok := c.entries[name]; !ok || cur.rev < ent.rev {
		c.entries[name] = ent
	}
	c.mu.Unlock()
}

func (c *Catalog) parse(data []byte, rev uint64) (*Entry, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	var doc string
	if err := json.Unmarshal(r.Document, &doc); err != nil {
		return nil, err
	}
	d, err := Parse(context.Background(), r.Name, []byte(doc), ParseOptions{Namespace: r.Namespace, PlatformNamespace: r.PlatformNamespace})
	if err != nil {
		return nil, err
	}
	return &Entry{Desc: d, Version: r.Version, RegisteredAt: r.RegisteredAt, UpdatedAt: r.UpdatedAt, rev: rev, token: r.Token}, nil
}

// Token is the token of the registered service name ("" when not registered): what it uses to
// call the hub, and the key the hub signs the requests it sends it with.
func (c *Catalog) Token(name string) string {
	if e, ok := c.Get(name); ok {
		return e.token
	}
	return ""
}

// Authenticate reports whether token is the token of the registered service name: the one the
// hub gave it, or the x-exosite-token of its document.
func (c *Catalog) Authenticate(name, token string) bool {
	e, ok := c.Get(name)
	if !ok || token == "" {
		return false
	}
	if e.token != "" && hmac.Equal([]byte(token), []byte(e.token)) {
		return true
	}
	own := e.Desc.callbackToken
	return own != "" && hmac.Equal([]byte(token), []byte(own))
}

func newToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	return "sbt_" + hex.EncodeToString(b)
}

// Result is the answer to a registration.
type Result struct {
	Name   string `json:"name"`
	Token  string `json:"token"`
	Status string `json:"status"`
}

// Credentials are what a registration presents beyond the registration token, to update a
// name that is already registered.
type Credentials struct {
	// ServiceToken is the token presented as the service's own; "" when none.
	ServiceToken string
	// Admin is set when the admin token was presented instead of the service's token.
	Admin bool
}

// ErrNotOwner refuses an update of a registered service by a caller that presented neither
// its token nor the admin token.
var ErrNotOwner = errors.New("already registered, and the registration does not prove it owns the name")

// owns reports whether cred may update the service stored as r.
func (cred Credentials) owns(r record) bool {
	return cred.Admin || (r.Token != "" && hmac.Equal([]byte(cred.ServiceToken), []byte(r.Token)))
}

// Register validates a registration (document, names, the service's health) and stores it as
// a new version of the service. A new name is anybody's who holds the registration token; a
// registered one changes only for cred that owns it: otherwise Register fails with ErrNotOwner
// before it reaches out to any host, and changes nothing. Concurrent registrations of a new
// name create it once. Refusals of the registration itself are *ValidationError.
func (c *Catalog) Register(ctx context.Context, reg Registration, cred Credentials) (Result, error) {
	doc, err := reg.Document()
	if err != nil {
		return Result{}, err
	}
	// Who may register the name is settled before anything is fetched or probed: a refused
	// update must not make the hub call the host it names.
	if service.NamePattern.MatchString(reg.Name) {
		cur, err := c.kv.Get(ctx, reg.Name)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return Result{}, fmt.Errorf("register %s: %w", reg.Name, err)
		default:
			if err := c.checkOwner(reg.Name, cur.Value(), cred); err != nil {
				return Result{}, err
			}
		}
	}
	if doc == nil {
		if doc, err = c.fetch(ctx, reg.SwaggerURL); err != nil {
			return Result{}, err
		}
	}
	d, err := c.parseBounded(ctx, reg, doc)
	if err != nil {
		return Result{}, err
	}
	if err := c.probe(ctx, d); err != nil {
		return Result{}, err
	}
	text, err := jsonString(string(doc))
	if err != nil {
		return Result{}, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for {
		r := record{Name: d.Name, Document: text, Namespace: reg.Namespace, PlatformNamespace: reg.PlatformNamespace, Version: 1, RegisteredAt: now, UpdatedAt: now, Token: newToken()}
		cur, err := c.kv.Get(ctx, d.Name)
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			data, _ := encodeRecord(r)
			rev, err = c.kv.Create(ctx, d.Name, data)
		case err != nil:
			return Result{}, fmt.Errorf("register %s: %w", d.Name, err)
		default:
			// Checked again: the name may have been registered since the first look.
			if err := c.checkOwner(d.Name, cur.Value(), cred); err != nil {
				return Result{}, err
			}
			var old record
			_ = json.Unmarshal(cur.Value(), &old) // readable: checkOwner decoded it
			r.Version, r.RegisteredAt, r.Token = old.Version+1, old.RegisteredAt, old.Token
			data, _ := encodeRecord(r)
			rev, err = c.kv.Update(ctx, d.Name, data, cur.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // registered concurrently: read again, and check the owner again
		}
		if err != nil {
			return Result{}, fmt.Errorf("register %s: %w", d.Name, err)
		}
		ent := &Entry{Desc: d, Version: r.Version, RegisteredAt: r.RegisteredAt, UpdatedAt: r.UpdatedAt, rev: rev, token: r.Token}
		c.mu.Lock()
		if cur, ok := c.entries[d.Name]; !ok || cur.rev < rev {
			c.entries[d.Name] = ent
		}
		c.health[d.Name] = Health{Status: "up", CheckedAt: now}
		c.mu.Unlock()
		status := StatusRegistered
		if r.Version > 1 {
			status = StatusUpdated
		}
		c.opt.Logger.Info("service "+status, "service", d.Name, "version", r.Version, "base_url", d.BaseURL.String(), "by_admin", cred.Admin)
		return Result{Name: d.Name, Token: r.Token, Status: status}, nil
	}
}

// checkOwner fails with ErrNotOwner unless cred owns the stored record data of name. A record
// that cannot be read is updated by the admin only.
// parseBounded parses a registration's document in one of the MaxParsing slots, waiting for
// one no longer than ctx allows (ErrBusy).
func (c *Catalog) parseBounded(ctx context.Context, reg Registration, doc []byte) (*Description, error) {
	select {
	case c.parsing <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("register %s: %w", reg.Name, ErrBusy)
	}
	defer func() { <-c.parsing }()
	return Parse(ctx, reg.Name, doc, reg.ParseOptions(ParseOptions{CoreNames: c.opt.CoreNames}))
}

func (*Catalog) checkOwner(name string, data []byte, cred Credentials) error {
	var old record
	if err := json.Unmarshal(data, &old); err != nil {
		old = record{}
	}
	if !cred.owns(old) {
		return fmt.Errorf("service %s: %w", name, ErrNotOwner)
	}
	return nil
}

// encodeRecord is json.Marshal without HTML escaping, which Marshal would apply to the
// document again.
func encodeRecord(r record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(r)
	return bytes.TrimRight(buf.Bytes(), "\n"), err
}

// jsonString encodes s as a JSON string without HTML escaping (which would grow a document
// full of < and > sixfold) and checks it fits a record.
func jsonString(s string) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	if buf.Len() > 2*DefaultMaxBytes-4096 {
		return nil, invalid(FieldSwagger, fmt.Sprintf("the document is too large to store (%d bytes encoded)", buf.Len()))
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// fetch reads a registration's swagger_url. Its failures say what went wrong in the hub's
// words (servicenet.Describe), echoing nothing the other side sent but an HTTP status.
func (c *Catalog) fetch(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, invalid(FieldSwaggerURL, "swagger_url: not a URL the hub can fetch")
	}
	resp, err := c.opt.Client.Do(req)
	if err != nil {
		return nil, &ValidationError{Field: FieldSwaggerURL, Reason: "swagger_url: " + servicenet.Describe(err), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, invalid(FieldSwaggerURL, fmt.Sprintf("swagger_url: answered %d, want 2xx", resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxBytes+1))
	if err != nil {
		return nil, &ValidationError{Field: FieldSwaggerURL, Reason: "swagger_url: " + servicenet.Describe(err), Err: err}
	}
	if len(body) > DefaultMaxBytes {
		return nil, invalid(FieldSwaggerURL, fmt.Sprintf("the document at swagger_url is larger than %d bytes", DefaultMaxBytes))
	}
	return body, nil
}

// probe asks the service's health path and wants a 2xx. Its failures are *ValidationError:
// field swagger when the document's address is one the hub may not call, else health, saying
// what failed ("health check: connection refused", "health check: answered 404") and never
// echoing what the other side sent.
func (c *Catalog) probe(ctx context.Context, d *Description) error {
	if d.BaseURL == nil {
		return invalid("health", "health check: the service has no address")
	}
	u := *d.BaseURL
	u.Path, u.RawPath, u.RawQuery = d.HealthPath, "", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return invalid("health", "health check: the health path does not make a URL")
	}
	resp, err := c.opt.Client.Do(req)
	if err != nil {
		field := "health"
		if servicenet.IsDenied(err) {
			field = FieldSwagger // the document names an address the hub may not call
		}
		return &ValidationError{Field: field, Reason: fmt.Sprintf("health check: %s (GET %s)", servicenet.Describe(err), u.Path), Err: err}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // only the status matters
	if resp.StatusCode/100 != 2 {
		return invalid("health", fmt.Sprintf("health check: answered %d, want 2xx (GET %s)", resp.StatusCode, u.Path))
	}
	return nil
}

func (c *Catalog) checkHealth(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.opt.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, e := range c.List() {
			h := Health{Status: "up", CheckedAt: time.Now().UTC()}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := c.probe(cctx, e.Desc); err != nil {
				h.Status, h.Error = "down", err.Error()
			}
			cancel()
			c.mu.Lock()
			if _, ok := c.entries[e.Desc.Name]; ok {
				c.health[e.Desc.Name] = h
			}
			c.mu.Unlock()
		}
	}
}

// Get returns a registered service.
func (c *Catalog) Get(name string) (*Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[name]
	return e, ok
}

// Health returns the last health check of a service this instance made.
func (c *Catalog) Health(name string) Health {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if h, ok := c.health[name]; ok {
		return h
	}
	return Health{Status: "unknown"}
}

// List returns the registered services by name.
func (c *Catalog) List() []*Entry {
	c.mu.RLock()
	out := make([]*Entry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Desc.Name < out[j].Desc.Name })
	return out
}

// Delete deregisters a service and removes it from every solution.
func (c *Catalog) Delete(ctx context.Context, name string) error {
	if _, ok := c.Get(name); !ok {
		return fmt.Errorf("service %s: %w", name, ErrNotFound)
	}
	if err := c.configs.dropService(ctx, name); err != nil {
		return err
	}
	if err := c.kv.Purge(ctx, name); err != nil {
		return fmt.Errorf("deregister %s: %w", name, err)
	}
	c.mu.Lock()
	delete(c.entries, name)
	delete(c.health, name)
	c.mu.Unlock()
	return nil
}

// Close stops the watches and health checks.
func (c *Catalog) Close() {
	c.cancel()
	c.wg.Wait()
}
