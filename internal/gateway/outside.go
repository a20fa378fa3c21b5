package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/internal/oauth"
)

// TokenVerifier checks the tokens of one outside issuer; *oauth.OIDCVerifier is one.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (oauth.Identity, error)
}

// OutsideIssuers finds the verifier of an outside issuer an application trusts. An error
// means the issuer's tokens cannot be checked now (it could not be discovered): the caller
// answers 503, never 401.
type OutsideIssuers interface {
	Verifier(ctx context.Context, t OIDCTrust) (TokenVerifier, error)
}

// Defaults of OIDCVerifiersOptions.
const (
	DefaultMaxIssuers       = 64
	DefaultIssuerIdle       = time.Minute
	DefaultDiscoveryTimeout = 10 * time.Second
)

// ErrTooManyIssuers is a verifier not made because as many as allowed are in use.
var ErrTooManyIssuers = errors.New("too many outside issuers in use; try again later")

// OIDCVerifiersOptions tune OIDCVerifiers.
type OIDCVerifiersOptions struct {
	// HTTPClient fetches discovery documents and keys: the hub's goes through its network
	// guard. Required.
	HTTPClient *http.Client
	// Max bounds the verifiers kept (DefaultMaxIssuers when 0); each costs a discovery.
	Max int
	// Idle is how long a verifier is kept unused before another may take its place
	// (DefaultIssuerIdle when 0): with Max, at most Max discoveries are made per Idle.
	Idle time.Duration
	// Retry is how long a failed discovery is answered from memory before it is tried
	// again (oauth.DefaultMinRefetch when 0).
	Retry time.Duration
	// Timeout bounds one discovery (DefaultDiscoveryTimeout when 0).
	Timeout time.Duration
	// Now is the clock; nil is time.Now. It is passed on to the verifiers.
	Now func() time.Time
}

// OIDCVerifiers keeps one verifier per (issuer, audience, client claim) that applications
// trust, made by discovery on first use, shared by the applications that trust the same.
type OIDCVerifiers struct {
	o OIDCVerifiersOptions

	mu sync.Mutex
	m  map[oidcKey]*oidcEntry
}

type oidcKey struct{ issuer, audience, claim string }

func keyOf(t OIDCTrust) oidcKey {
	claim := t.ClientClaim
	if claim == "" {
		claim = oauth.DefaultClientClaim
	}
	return oidcKey{t.Issuer, t.Audience, claim}
}

// oidcEntry is a verifier being discovered (ready open), made, or whose discovery failed.
type oidcEntry struct {
	ready chan struct{}
	v     TokenVerifier
	err   error
	ended time.Time // when the discovery ended
	used  time.Time
}

// NewOIDCVerifiers returns an empty set.
func NewOIDCVerifiers(o OIDCVerifiersOptions) *OIDCVerifiers {
	if o.Max <= 0 {
		o.Max = DefaultMaxIssuers
	}
	if o.Idle <= 0 {
		o.Idle = DefaultIssuerIdle
	}
	if o.Retry <= 0 {
		o.Retry = oauth.DefaultMinRefetch
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultDiscoveryTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &OIDCVerifiers{o: o, m: map[oidcKey]*oidcEntry{}}
}

// Verifier implements OutsideIssuers: the verifier of t, discovered once for every caller
// that asks while it is being made.
func (s *OIDCVerifiers) Verifier(ctx context.Context, t OIDCTrust) (TokenVerifier, error) {
	k := keyOf(t)
	now := s.o.Now()
	s.mu.Lock()
	e, ok := s.m[k]
	if ok && e.done() && e.err != nil && now.Sub(e.ended) >= s.o.Retry {
		delete(s.m, k)
		ok = false
	}
	if !ok {
		if len(s.m) >= s.o.Max && !s.evictLocked(now) {
			s.mu.Unlock()
			return nil, ErrTooManyIssuers
		}
		e = &oidcEntry{ready: make(chan struct{})}
		s.m[k] = e
		// The discovery outlives a caller that gives up: others wait for it.
		go s.discover(e, k)
	}
	e.used = now
	s.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.v, nil
}

func (s *OIDCVerifiers) discover(e *oidcEntry, k oidcKey) {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
	defer cancel()
	v, err := oauth.NewOIDCVerifier(ctx, k.issuer, k.audience, oauth.OIDCConfig{HTTPClient: s.o.HTTPClient, ClientClaim: k.claim, Now: s.o.Now})
	s.mu.Lock()
	if err != nil {
		e.err = fmt.Errorf("discover %s: %w", k.issuer, err)
	} else {
		e.v = v
	}
	e.ended = s.o.Now()
	s.mu.Unlock()
	close(e.ready)
}

func (e *oidcEntry) done() bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// evictLocked drops the verifier unused longest, if it has been unused at least Idle.
func (s *OIDCVerifiers) evictLocked(now time.Time) bool {
	var oldest oidcKey
	var found *oidcEntry
	for k, e := range s.m {
		if e.done() && now.Sub(e.used) >= s.o.Idle && (found == nil || e.used.Before(found.used)) {
			oldest, found = k, e
		}
	}
	if found == nil {
		return false
	}
	delete(s.m, oldest)
	return true
}

// Forget drops the verifier of t, if any: an application's settings changed, and the next
// use discovers the issuer again.
func (s *OIDCVerifiers) Forget(t OIDCTrust) {
	s.mu.Lock()
	delete(s.m, keyOf(t))
	s.mu.Unlock()
}

// Len is how many verifiers are kept (being discovered, made or failed).
func (s *OIDCVerifiers) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
