package oauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Buckets of the package's state.
const (
	clientsBucket = "sb_oauth_clients" // keyed by client id
	keysBucket    = "sb_oauth_keys"    // keyed by key id
)

// Defaults and bounds of Config.
const (
	DefaultAudience       = "switchboard-gateway"
	DefaultTokenTTL       = 15 * time.Minute
	DefaultRotationPeriod = 24 * time.Hour
	DefaultLeeway         = 30 * time.Second
	MaxTokenTTL           = 24 * time.Hour
	MinRotationPeriod     = time.Minute
	MaxLeeway             = 5 * time.Minute
)

// Config of an Authority. Issuer is required; the rest have defaults (see withDefaults).
type Config struct {
	// Issuer is the iss of every token: the hub's public base URL.
	Issuer string
	// Audience is the aud of every token and what Verify wants.
	Audience string
	// TokenTTL is how long a token lives.
	TokenTTL time.Duration
	// RotationPeriod is how long a signing key signs; it is published until the last token
	// it signed has expired.
	RotationPeriod time.Duration
	// Leeway allowed on exp, nbf and iat for clocks that differ.
	Leeway time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	Log *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.RotationPeriod == 0 {
		c.RotationPeriod = DefaultRotationPeriod
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		return c, &solution.FieldError{Field: "issuer", Reason: "required: the hub's public base URL"}
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return c, &solution.FieldError{Field: "issuer", Reason: fmt.Sprintf("%q: want an http(s) URL without query or fragment", c.Issuer)}
	case c.TokenTTL < time.Minute || c.TokenTTL > MaxTokenTTL:
		return c, &solution.FieldError{Field: "token_ttl", Reason: fmt.Sprintf("%s: want 1m to %s", c.TokenTTL, MaxTokenTTL)}
	case c.RotationPeriod < MinRotationPeriod:
		return c, &solution.FieldError{Field: "rotation_period", Reason: fmt.Sprintf("%s: want at least %s", c.RotationPeriod, MinRotationPeriod)}
	case c.Leeway < 0 || c.Leeway > MaxLeeway:
		return c, &solution.FieldError{Field: "leeway", Reason: fmt.Sprintf("%s: want 0 to %s", c.Leeway, MaxLeeway)}
	}
	return c, nil
}

// Authority issues client credentials and tokens, and verifies the tokens of any instance
// sharing the bus.
type Authority struct {
	cfg     Config
	clients *view[clientRecord]
	keys    *view[*signingKey]
	keyMu   sync.Mutex // one key made at a time by this instance

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open opens (or creates) the buckets, loads the views and starts rotating keys until Close.
func Open(ctx context.Context, b *bus.Bus, cfg Config) (*Authority, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ckv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: clientsBucket, Description: "Switchboard OAuth2 client credentials (hashed)", MaxValueSize: 4 << 10})
	if err != nil {
		return nil, err
	}
	kkv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: keysBucket, Description: "Switchboard token signing keys (private)", MaxValueSize: 4 << 10})
	if err != nil {
		return nil, err
	}
	a := &Authority{
		cfg:     cfg,
		clients: newView(ckv, "client", cfg.Log, decodeClient),
		keys:    newView(kkv, "signing key", cfg.Log, decodeKey),
	}
	wctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	for _, w := range []struct {
		kv    jetstream.KeyValue
		apply func(jetstream.KeyValueEntry)
	}{{ckv, a.clients.apply}, {kkv, a.keys.apply}} {
		if err := bus.Watch(ctx, wctx, &a.wg, w.kv, w.apply); err != nil {
			a.Close()
			return nil, fmt.Errorf("watch %s: %w", w.kv.Bucket(), err)
		}
	}
	if err := a.rotate(ctx); err != nil {
		a.Close()
		return nil, err
	}
	a.wg.Add(1)
	go a.rotateLoop(wctx)
	return a, nil
}

// Close stops the watches and the rotation.
func (a *Authority) Close() {
	a.cancel()
	a.wg.Wait()
}

// rotateLoop keeps a key ready before it is needed and drops keys past their use. Each
// instance runs it; KV's create-if-absent makes one of them win each new key.
func (a *Authority) rotateLoop(ctx context.Context) {
	defer a.wg.Done()
	t := time.NewTicker(min(a.cfg.RotationPeriod/8, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.rotate(ctx); err != nil && ctx.Err() == nil {
				a.cfg.Log.Warn("rotate token signing keys", "err", err)
			}
		}
	}
}
