package connector

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// Guard decides where connectors may connect; *servicenet.Guard is one. Its dialers refuse,
// on the address actually dialed, what a solution may not reach: the hub's own listeners (its
// NATS above all), cloud metadata addresses, networks outside the allowed ones.
type Guard interface {
	Dialer(timeout time.Duration) *net.Dialer
}

type guardKey struct{}

// WithGuard makes the connectors run under ctx connect through g. The manager sets it on
// every run, so that a broker address in a solution's config reaches only what g allows;
// a source run without one (a test of the type alone) dials directly.
func WithGuard(ctx context.Context, g Guard) context.Context {
	if g == nil {
		return ctx
	}
	return context.WithValue(ctx, guardKey{}, g)
}

// dialer is the dialer a source run under ctx connects with; proxies from the environment
// are never used, as a proxy would dial for it.
func dialer(ctx context.Context, timeout time.Duration) *net.Dialer {
	if g, ok := ctx.Value(guardKey{}).(Guard); ok {
		return g.Dialer(timeout)
	}
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
}

// dialTLS connects through d and completes a TLS handshake with cfg, within d's timeout.
func dialTLS(ctx context.Context, d *net.Dialer, addr string, cfg *tls.Config) (net.Conn, error) {
	td := tls.Dialer{NetDialer: d, Config: cfg}
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	return td.DialContext(ctx, "tcp", addr)
}
