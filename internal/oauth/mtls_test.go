package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// certAuthority makes certificates for tests.
type certAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *certAuthority {
	t.Helper()
	key := mustKey(t, elliptic.P256())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certAuthority{cert: cert, key: key}
}

// intermediate is a CA under ca.
func (ca *certAuthority) intermediate(t *testing.T, name string) *certAuthority {
	t.Helper()
	key := mustKey(t, elliptic.P256())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certAuthority{cert: cert, key: key}
}

func (ca *certAuthority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func (ca *certAuthority) leafFor(t *testing.T, pub *ecdsa.PublicKey, cn string) *x509.Certificate {
	t.Helper()
	return ca.sign(t, pub, cn, time.Now().Add(time.Hour), x509.ExtKeyUsageClientAuth, nil)
}

func (ca *certAuthority) leaf(t *testing.T, cn string, notAfter time.Time, usage x509.ExtKeyUsage, dns []string, uris ...string) *x509.Certificate {
	t.Helper()
	return ca.sign(t, &mustKey(t, elliptic.P256()).PublicKey, cn, notAfter, usage, dns, uris...)
}

func (ca *certAuthority) sign(t *testing.T, pub *ecdsa.PublicKey, cn string, notAfter time.Time, usage x509.ExtKeyUsage, dns []string, uris ...string) *x509.Certificate {
	t.Helper()
	var us []*url.URL
	for _, u := range uris {
		p, _ := url.Parse(u)
		us = append(us, p)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
		DNSNames: dns, URIs: us,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func TestCheckClientCert(t *testing.T) {
	ca, other := newCA(t, "apps CA"), newCA(t, "other CA")
	later := time.Now().Add(time.Hour)
	good := ca.leaf(t, "orders", later, x509.ExtKeyUsageClientAuth, []string{"orders.apps.example"}, "spiffe://example.org/orders")
	inter := ca.intermediate(t, "apps issuing CA")
	viaInter := inter.leaf(t, "orders", later, x509.ExtKeyUsageClientAuth, nil)
	for _, tc := range []struct {
		name string
		peer []*x509.Certificate
		want CertIdentity
		err  error
	}{
		{"by common name", []*x509.Certificate{good}, CertIdentity{Roots: ca.pool(), CommonName: "orders"}, nil},
		{"by DNS name", []*x509.Certificate{good}, CertIdentity{Roots: ca.pool(), DNSName: "orders.apps.example"}, nil},
		{"by URI", []*x509.Certificate{good}, CertIdentity{Roots: ca.pool(), URI: "spiffe://example.org/orders"}, nil},
		{"all must match", []*x509.Certificate{good}, CertIdentity{Roots: ca.pool(), CommonName: "orders", URI: "spiffe://example.org/billing"}, ErrCertSubject},
		{"through an intermediate the client sends", []*x509.Certificate{viaInter, inter.cert}, CertIdentity{Roots: ca.pool(), CommonName: "orders"}, nil},
		{"intermediate not sent", []*x509.Certificate{viaInter}, CertIdentity{Roots: ca.pool(), CommonName: "orders"}, ErrCertUntrusted},
		{"other common name", []*x509.Certificate{good}, CertIdentity{Roots: ca.pool(), CommonName: "billing"}, ErrCertSubject},
		{"other DNS name", []*x509.Certificate{good}, CertIdentity{Roots: ca.pool(), DNSName: "billing.apps.example"}, ErrCertSubject},
		{"wrong CA", []*x509.Certificate{other.leaf(t, "orders", later, x509.ExtKeyUsageClientAuth, nil)}, CertIdentity{Roots: ca.pool(), CommonName: "orders"}, ErrCertUntrusted},
		{"expired", []*x509.Certificate{ca.leaf(t, "orders", time.Now().Add(-time.Hour), x509.ExtKeyUsageClientAuth, nil)}, CertIdentity{Roots: ca.pool(), CommonName: "orders"}, ErrCertExpired},
		{"server certificate", []*x509.Certificate{ca.leaf(t, "orders", later, x509.ExtKeyUsageServerAuth, nil)}, CertIdentity{Roots: ca.pool(), CommonName: "orders"}, ErrCertUntrusted},
		{"no certificate", nil, CertIdentity{Roots: ca.pool(), CommonName: "orders"}, ErrNoClientCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckClientCert(tc.peer, tc.want, time.Now())
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
	if err := CheckClientCert([]*x509.Certificate{good}, CertIdentity{Roots: ca.pool()}, time.Now()); err == nil {
		t.Fatal("an identity without an expected subject accepted a certificate")
	}
}

// Over a real TLS connection: the listener takes any certificate, the check decides.
func TestCheckRequestCert(t *testing.T) {
	ca, other := newCA(t, "apps CA"), newCA(t, "other CA")
	want := CertIdentity{Roots: ca.pool(), CommonName: "orders"}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := CheckRequestCert(r, want, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name   string
		ca     *certAuthority
		status int
	}{
		{"application's certificate", ca, 200},
		{"other CA's", other, 401},
		{"none", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := srv.Client().Transport.(*http.Transport).Clone()
			if tc.ca != nil {
				key := mustKey(t, elliptic.P256())
				cert := tc.ca.leafFor(t, &key.PublicKey, "orders")
				tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}
			}
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := CheckRequestCert(r, want, time.Now()); !errors.Is(err, ErrNoClientCert) {
		t.Fatalf("plain HTTP: %v", err)
	}
}
