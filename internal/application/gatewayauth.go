package application

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// GatewayAuth is how an application may authenticate to the event gateway. An application
// without one (nil) takes Switchboard's own client credentials only.
type GatewayAuth struct {
	// ClientCredentials accepts Switchboard's own access tokens (requestClientCredentials...).
	ClientCredentials bool `json:"client_credentials"`
	// OIDC accepts the tokens of an outside OpenID Connect issuer for one of its clients.
	OIDC *OIDCTrust `json:"oidc,omitempty"`
	// MTLS accepts TLS client certificates issued under the application's own CA.
	MTLS *CertTrust `json:"mtls,omitempty"`
}

// OIDCTrust names the outside issuer whose tokens are the application's: those for Audience
// whose ClientClaim is Client.
type OIDCTrust struct {
	Issuer      string `json:"issuer"`
	Audience    string `json:"audience"`
	ClientClaim string `json:"client_claim"`
	Client      string `json:"client"`
}

// CertTrust is the application's CA (PEM) and the names its client certificate must carry:
// every one set must match, and at least one is set.
type CertTrust struct {
	CAPEM      string `json:"ca_pem"`
	CommonName string `json:"common_name,omitempty"`
	DNSName    string `json:"dns_name,omitempty"`
	URI        string `json:"uri,omitempty"`
}

// DefaultClientClaim is the claim naming the client when OIDCTrust.ClientClaim is not given.
const DefaultClientClaim = "azp"

// Bounds of gateway authentication settings.
var (
	MaxCAPEMBytes = 64 << 10 // an application's CA bundle
	MaxCACerts    = 16       // certificates in it
	MaxNameLen    = 256      // audience, client, certificate names
)

var claimPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// GatewayAuthOf is a's gateway authentication, the default (own client credentials only)
// when it set none.
func (a Application) GatewayAuthOf() GatewayAuth {
	if a.GatewayAuth == nil {
		return GatewayAuth{ClientCredentials: true}
	}
	return *a.GatewayAuth
}

// SetGatewayAuth replaces the gateway authentication of the application id of sol ("" = any).
func (s *Store) SetGatewayAuth(ctx context.Context, sol, id string, ga GatewayAuth) (Application, error) {
	cur, ok := s.Get(sol, id)
	if !ok {
		return Application{}, fmt.Errorf("application %s: %w", id, ErrNotFound)
	}
	if ga.OIDC != nil && ga.OIDC.ClientClaim == "" {
		ga.OIDC.ClientClaim = DefaultClientClaim
	}
	if err := CheckGatewayAuth(ga); err != nil {
		return Application{}, err
	}
	return s.change(ctx, cur.Solution, id, func(a *Application) error {
		a.GatewayAuth = &ga
		return nil
	})
}

// CheckGatewayAuth checks settings as given; its errors name the field (oidc.issuer, …).
func CheckGatewayAuth(ga GatewayAuth) error {
	if o := ga.OIDC; o != nil {
		if err := checkIssuer(o.Issuer); err != nil {
			return fieldErr("oidc.issuer", "%v", err)
		}
		for _, f := range []struct{ name, v string }{{"oidc.audience", o.Audience}, {"oidc.client", o.Client}} {
			if f.v == "" || len(f.v) > MaxNameLen {
				return fieldErr(f.name, "want 1 to %d bytes", MaxNameLen)
			}
		}
		if !claimPattern.MatchString(o.ClientClaim) {
			return fieldErr("oidc.clientClaim", "%.64q must match %s (a claim's name, such as azp or client_id)", o.ClientClaim, claimPattern)
		}
	}
	if m := ga.MTLS; m != nil {
		if _, err := ParseCAs(m.CAPEM); err != nil {
			return fieldErr("mtls.caPEM", "%v", err)
		}
		if m.CommonName == "" && m.DNSName == "" && m.URI == "" {
			return fieldErr("mtls", "give at least one of commonName, dnsName and uri: the names the client certificate must carry")
		}
		for _, f := range []struct{ name, v string }{{"mtls.commonName", m.CommonName}, {"mtls.dnsName", m.DNSName}, {"mtls.uri", m.URI}} {
			if len(f.v) > MaxNameLen || strings.ContainsAny(f.v, "\x00\r\n") {
				return fieldErr(f.name, "at most %d bytes, one line", MaxNameLen)
			}
		}
		if m.URI != "" {
			if u, err := url.Parse(m.URI); err != nil || u.Scheme == "" {
				return fieldErr("mtls.uri", "%.64q is not an absolute URI (such as spiffe://example.org/shop)", m.URI)
			}
		}
	}
	return nil
}

// checkIssuer wants an https URL without query or fragment; http only to a loopback host,
// where nothing travels over a network (a local issuer, tests).
func checkIssuer(s string) error {
	if err := checkURL(s, "https", "http"); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%.64q: an issuer URL has no user, query or fragment", s)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fmt.Errorf("%.64q: want https (http only to a loopback address)", s)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseCAs reads a PEM bundle of CA certificates, bounded in size and count; anything but
// CERTIFICATE blocks is refused (without quoting it: a key pasted by mistake stays unsaid).
func ParseCAs(data string) (*x509.CertPool, error) {
	if data == "" {
		return nil, fmt.Errorf("required: the PEM of the CA that issues the application's client certificates")
	}
	if len(data) > MaxCAPEMBytes {
		return nil, fmt.Errorf("%d bytes: at most %d", len(data), MaxCAPEMBytes)
	}
	pool := x509.NewCertPool()
	rest := []byte(data)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a %s block: want CERTIFICATE blocks only", clipType(b.Type))
		}
		n++
		if n > MaxCACerts {
			return nil, fmt.Errorf("more than %d certificates", MaxCACerts)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", n, err)
		}
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("certificate %d (%.64q) is not a CA certificate", n, c.Subject.CommonName)
		}
		pool.AddCert(c)
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM CERTIFICATE block")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, fmt.Errorf("text after the last certificate is not PEM")
	}
	return pool, nil
}

func clipType(s string) string {
	if len(s) > 32 {
		return s[:32]
	}
	return s
}
