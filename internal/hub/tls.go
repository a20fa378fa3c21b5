package hub

import (
	"crypto/tls"
	"fmt"
)

// serverTLS is the HTTPS configuration of --addr. Client certificates are asked for, not
// required or verified here: each application has its own CA, which the event gateway
// checks a certificate against; other paths ignore them.
func serverTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequestClientCert,
	}, nil
}

// scheme is https when --addr serves TLS.
func (h *Hub) scheme() string {
	if h.tlsConfig != nil {
		return "https"
	}
	return "http"
}
