package servicenet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"
)

// Describe says why a request to a service failed, in the hub's own words: never a byte of
// what the other side sent (a banner of a non-HTTP service, a certificate's names), so that
// errors do not make the hub a way to read other services. A refused address gives the
// guard's reason.
func Describe(err error) string {
	var (
		denied *DeniedError
		dns    *net.DNSError
		rec    tls.RecordHeaderError
		alert  tls.AlertError
		verify *tls.CertificateVerificationError
		unk    x509.UnknownAuthorityError
		host   x509.HostnameError
		inv    x509.CertificateInvalidError
		ne     net.Error
		op     *net.OpError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &denied):
		return denied.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "host not found"
		}
		return "name resolution failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &rec), errors.As(err, &alert), errors.As(err, &verify), errors.As(err, &unk), errors.As(err, &host), errors.As(err, &inv):
		return "TLS handshake failed"
	case errors.As(err, &op) && op.Op == "dial":
		return "could not connect"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a complete answer"
	}
	// A malformed answer (net/http quotes it in its error): whatever it was, not HTTP.
	return "not an HTTP answer"
}
