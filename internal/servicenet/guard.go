// Package servicenet is how the hub reaches dynamic services: one dialer that refuses the
// addresses a service may not live at, checked on the address actually dialed (after DNS, so a
// name that later resolves elsewhere cannot get around it), and descriptions of failed requests
// that echo nothing the other side sent.
package servicenet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Options configure a Guard.
type Options struct {
	// Networks, when not empty, are the only networks a service may live in
	// (--service-networks); empty allows every address not denied otherwise.
	Networks []netip.Prefix
	// Own are the hub's own listeners as host:port (the API, the embedded NATS client port,
	// metrics): never a service's address. A listener on an unspecified address (0.0.0.0, [::])
	// stands for its port on every local address. Host names are resolved once, by New.
	Own []string
}

// Guard decides which addresses the hub may connect to as a service. The zero value, and a
// nil *Guard, deny only the addresses no service may have (see Check).
type Guard struct {
	networks []netip.Prefix
	own      map[netip.AddrPort]bool
	ownPorts map[uint16]bool // listeners on an unspecified address
	// local lists this machine's addresses; net.InterfaceAddrs unless a test sets it.
	local func() []netip.Addr
}

// New returns a guard for o. It fails on an Own entry that is not host:port; one whose host
// does not resolve is left out.
func New(ctx context.Context, o Options) (*Guard, error) {
	g := &Guard{networks: o.Networks, own: map[netip.AddrPort]bool{}, ownPorts: map[uint16]bool{}}
	for _, hp := range o.Own {
		host, p, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("own listener %q: %w", hp, err)
		}
		port, err := net.LookupPort("tcp", p)
		if err != nil {
			return nil, fmt.Errorf("own listener %q: %w", hp, err)
		}
		if host == "" {
			g.ownPorts[uint16(port)] = true
			continue
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			// Not resolvable now (a server of a NATS cluster that is away): nothing to guard.
			continue
		}
		for _, a := range addrs {
			a = a.Unmap().WithZone("")
			if a.IsUnspecified() {
				g.ownPorts[uint16(port)] = true
			} else {
				g.own[netip.AddrPortFrom(a, uint16(port))] = true
			}
		}
	}
	return g, nil
}

// ParseNetworks reads a comma-separated list of CIDRs ("10.0.0.0/8, fd00::/8"); a bare
// address is a network of that address alone.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR (10.0.0.0/8) nor an IP address", f)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// DeniedError is a connection the guard refused: Addr is the address that was to be dialed.
type DeniedError struct {
	Addr   netip.AddrPort
	Reason string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("address %s is not allowed: %s", e.Addr, e.Reason)
}

// Addresses no service may have, besides those netip classifies (unspecified, link-local,
// multicast, loopback is allowed).
var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.MustParseAddr("255.255.255.255")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	// Cloud metadata services outside the link-local range (AWS over IPv6, Alibaba Cloud).
	metadata = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}
)

// Check returns a *DeniedError when a service may not live at ap: an unspecified, "this
// network", broadcast, multicast, link-local (169.254.0.0/16 and fe80::/10, where cloud
// metadata services answer) or known metadata address; one of the hub's own listeners; or an
// address outside Options.Networks when those are set. IPv4-mapped IPv6 addresses and the
// well-known NAT64 prefix are judged by the IPv4 address they carry.
func (g *Guard) Check(ap netip.AddrPort) error {
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		var none *Guard // the IPv4 address it stands for, for what no service may have
		if err := none.Check(netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:])), ap.Port())); err != nil {
			return &DeniedError{Addr: ap, Reason: "NAT64 of " + err.(*DeniedError).Reason}
		}
	}
	deny := func(reason string) error {
		return &DeniedError{Addr: netip.AddrPortFrom(ip, ap.Port()), Reason: reason}
	}
	switch {
	case !ip.IsValid():
		return deny("not an IP address")
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return deny("an unspecified address")
	case ip == broadcast:
		return deny("the broadcast address")
	case ip.IsMulticast():
		return deny("a multicast address")
	case ip.IsLinkLocalUnicast():
		return deny("a link-local address, where cloud metadata services answer")
	}
	for _, m := range metadata {
		if ip == m {
			return deny("a cloud metadata address")
		}
	}
	if g == nil {
		return nil
	}
	if g.own[netip.AddrPortFrom(ip, ap.Port())] || g.ownPorts[ap.Port()] && g.isLocal(ip) {
		return deny("one of the hub's own listeners")
	}
	if len(g.networks) > 0 {
		for _, n := range g.networks {
			if n.Contains(ip) {
				return nil
			}
		}
		return deny("outside --service-networks")
	}
	return nil
}

// isLocal reports whether ip is an address of this machine.
func (g *Guard) isLocal(ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	local := g.local
	if local == nil {
		local = interfaceAddrs
	}
	for _, a := range local() {
		if a == ip {
			return true
		}
	}
	return false
}

func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap().WithZone(""))
		}
	}
	return out
}

// control is net.Dialer.Control: it runs on the resolved address just before connecting.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &DeniedError{Reason: "not an IP address and port: " + address}
	}
	return g.Check(ap)
}

// Dialer returns a dialer that connects only where Check allows.
func (g *Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
}

// HTTPClient returns a client for the hub's requests to services outside calls (documents,
// health checks): dialing through the guard, with no proxy (a proxy would dial for it) and no
// redirects (a service answers where it was asked), each request bounded by timeout.
func (g *Guard) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         g.Dialer(timeout).DialContext,
			TLSHandshakeTimeout: timeout,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// IsDenied reports whether err is, or wraps, a connection the guard refused.
func IsDenied(err error) bool {
	var de *DeniedError
	return errors.As(err, &de)
}
