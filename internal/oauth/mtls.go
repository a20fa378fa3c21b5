package oauth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Reasons a client certificate is refused; CheckClientCert's errors wrap one of them.
var (
	ErrNoClientCert  = errors.New("no client certificate")
	ErrCertUntrusted = errors.New("client certificate not issued by the application's CA")
	ErrCertExpired   = errors.New("client certificate expired or not yet valid")
	ErrCertSubject   = errors.New("client certificate is not the application's")
)

// CertIdentity is how an application is known by its client certificate: issued under
// Roots, and naming it by at least one of the set fields (all set fields must match).
type CertIdentity struct {
	Roots      *x509.CertPool
	CommonName string
	DNSName    string
	URI        string // a SAN URI, e.g. spiffe://example.org/app
}

// CheckClientCert says whether peer, the chain a TLS client presented (leaf first, as
// tls.ConnectionState.PeerCertificates), is the application's. The chain is verified here
// against the application's own roots: the listener may accept certificates of any
// application's CA, so its verification alone does not say which.
func CheckClientCert(peer []*x509.Certificate, want CertIdentity, now time.Time) error {
	if len(peer) == 0 {
		return ErrNoClientCert
	}
	if want.Roots == nil || (want.CommonName == "" && want.DNSName == "" && want.URI == "") {
		return errors.New("client certificate check: the application has no CA or no expected subject")
	}
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	leaf := peer[0]
	_, err := leaf.Verify(x509.VerifyOptions{Roots: want.Roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return fmt.Errorf("%w: %s", ErrCertExpired, inv.Detail)
		}
		return fmt.Errorf("%w: %v", ErrCertUntrusted, err)
	}
	switch {
	case want.CommonName != "" && leaf.Subject.CommonName != want.CommonName:
		return fmt.Errorf("%w: common name %q", ErrCertSubject, trimmed(leaf.Subject.CommonName))
	case want.DNSName != "" && !slices.Contains(leaf.DNSNames, want.DNSName):
		return fmt.Errorf("%w: no DNS name %q", ErrCertSubject, want.DNSName)
	case want.URI != "" && !slices.ContainsFunc(leaf.URIs, func(u *url.URL) bool { return u.String() == want.URI }):
		return fmt.Errorf("%w: no URI %q", ErrCertSubject, want.URI)
	}
	return nil
}

// CheckRequestCert is CheckClientCert of the certificates r's TLS client presented. The
// listener must ask for them (tls.RequestClientCert or stronger).
func CheckRequestCert(r *http.Request, want CertIdentity, now time.Time) error {
	if r.TLS == nil {
		return fmt.Errorf("%w: not a TLS connection", ErrNoClientCert)
	}
	return CheckClientCert(r.TLS.PeerCertificates, want, now)
}
