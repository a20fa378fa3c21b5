package dynamic

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/internal/servicenet"
)

// Defaults of Options.
const (
	DefaultBreakerFailures  = 5
	DefaultBreakerCooldown  = 5 * time.Second
	DefaultMaxResponseBytes = 8 << 20
	// DefaultMaxIdleConnsPerHost and DefaultDialTimeout tune the default client's transport.
	DefaultMaxIdleConnsPerHost = 64
	DefaultDialTimeout         = 2 * time.Second
	DefaultIdleConnTimeout     = 90 * time.Second
)

// Options tune an Invoker. The zero value gives the defaults.
type Options struct {
	// Client sends the requests; nil means NewClient(Dial). A caller's client should not follow
	// redirects: a service answers its caller, and a redirect would carry the signature away.
	Client *http.Client
	// Dial connects to services when Client is nil: the hub's servicenet.Guard dialer, which
	// refuses addresses no service may have. Nil means a zero servicenet.Guard's.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// BreakerFailures is how many consecutive failures open a service's circuit; 0 means
	// DefaultBreakerFailures.
	BreakerFailures int
	// BreakerCooldown is how long a circuit stays open before one trial call; 0 means
	// DefaultBreakerCooldown.
	BreakerCooldown time.Duration
	// MaxResponseBytes bounds a response body; 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// AppsDomain is the hub's apps domain (--apps-domain): a solution's domain, what
	// x-exosite-from: domain fills in, is {solution}.{AppsDomain}. Without one a solution has
	// no host of its own, and its domain is {solution}.localhost.
	AppsDomain string
}

// Invoker calls the operations of dynamic services. It is safe for concurrent use: calls to
// different services never wait on one another.
type Invoker struct {
	client      *http.Client
	failures    int
	cooldown    time.Duration
	maxResponse int64
	appsDomain  string
	// now is the clock of the circuit breakers.
	now func() time.Time

	mu       sync.Mutex
	breakers map[string]*breaker
}

// New returns an Invoker with the options o, defaults filled in.
func New(o Options) *Invoker {
	iv := &Invoker{
		client:      o.Client,
		failures:    o.BreakerFailures,
		cooldown:    o.BreakerCooldown,
		maxResponse: o.MaxResponseBytes,
		appsDomain:  o.AppsDomain,
		now:         time.Now,
		breakers:    map[string]*breaker{},
	}
	if iv.client == nil {
		iv.client = NewClient(o.Dial)
	}
	if iv.failures <= 0 {
		iv.failures = DefaultBreakerFailures
	}
	if iv.cooldown <= 0 {
		iv.cooldown = DefaultBreakerCooldown
	}
	if iv.maxResponse <= 0 {
		iv.maxResponse = DefaultMaxResponseBytes
	}
	if iv.appsDomain == "" {
		iv.appsDomain = "localhost"
	}
	return iv
}

// NewClient returns the default client: pooled connections, up to DefaultMaxIdleConnsPerHost
// idle ones per service, connecting with dial (nil: a zero servicenet.Guard's dialer with
// DefaultDialTimeout), using no proxy (services are reached directly, and a proxy would dial
// for the hub) and following no redirects. Plain-HTTP calls run on the caller's goroutine
// (directTransport); https ones go through net/http's Transport. Calls are bounded by their
// context, not by the client.
func NewClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	if dial == nil {
		dial = (&servicenet.Guard{}).Dialer(DefaultDialTimeout).DialContext
	}
	tr := &http.Transport{
		DialContext:           dial,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   DefaultMaxIdleConnsPerHost,
		IdleConnTimeout:       DefaultIdleConnTimeout,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     &directTransport{next: tr, dial: dial, maxIdle: DefaultMaxIdleConnsPerHost, idleTimeout: DefaultIdleConnTimeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
