package application

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// certPEM is a PEM certificate, a CA or not, self-signed.
func certPEM(t *testing.T, ca bool) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestGatewayAuthChecks: settings are stored when sound, and every bad one is refused naming
// its field; an application without settings takes its own client credentials only.
func TestGatewayAuthChecks(t *testing.T) {
	s := openStore(t, testBus(t), Options{})
	ctx := context.Background()
	app, err := s.Register(ctx, "demo", Application{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if got := app.GatewayAuthOf(); !got.ClientCredentials || got.OIDC != nil || got.MTLS != nil {
		t.Fatalf("default gateway auth: %+v", got)
	}
	ca := certPEM(t, true)
	oidc := func(f func(*OIDCTrust)) GatewayAuth {
		o := OIDCTrust{Issuer: "https://login.example.com/realm", Audience: "gateway", Client: "shop-client"}
		f(&o)
		return GatewayAuth{OIDC: &o}
	}
	mtls := func(f func(*CertTrust)) GatewayAuth {
		m := CertTrust{CAPEM: ca, CommonName: "shop"}
		f(&m)
		return GatewayAuth{MTLS: &m}
	}
	many := strings.Repeat(ca, MaxCACerts+1)
	for _, tc := range []struct {
		name  string
		in    GatewayAuth
		field string
	}{
		{"oidc ok", oidc(func(*OIDCTrust) {}), ""},
		{"oidc http to loopback", oidc(func(o *OIDCTrust) { o.Issuer = "http://127.0.0.1:9999" }), ""},
		{"mtls ok", mtls(func(*CertTrust) {}), ""},
		{"mtls by uri only", mtls(func(m *CertTrust) { m.CommonName, m.URI = "", "spiffe://example.org/shop" }), ""},
		{"issuer http elsewhere", oidc(func(o *OIDCTrust) { o.Issuer = "http://login.example.com" }), "oidc.issuer"},
		{"issuer not a URL", oidc(func(o *OIDCTrust) { o.Issuer = "login" }), "oidc.issuer"},
		{"issuer with a query", oidc(func(o *OIDCTrust) { o.Issuer = "https://login.example.com/?x=1" }), "oidc.issuer"},
		{"issuer too long", oidc(func(o *OIDCTrust) { o.Issuer = "https://x.example.com/" + strings.Repeat("a", MaxURLLen) }), "oidc.issuer"},
		{"no audience", oidc(func(o *OIDCTrust) { o.Audience = "" }), "oidc.audience"},
		{"no client", oidc(func(o *OIDCTrust) { o.Client = "" }), "oidc.client"},
		{"client too long", oidc(func(o *OIDCTrust) { o.Client = strings.Repeat("c", MaxNameLen+1) }), "oidc.client"},
		{"bad claim name", oidc(func(o *OIDCTrust) { o.ClientClaim = "a b" }), "oidc.clientClaim"},
		{"no ca", mtls(func(m *CertTrust) { m.CAPEM = "" }), "mtls.caPEM"},
		{"ca not PEM", mtls(func(m *CertTrust) { m.CAPEM = "hello" }), "mtls.caPEM"},
		{"ca not a CA", mtls(func(m *CertTrust) { m.CAPEM = certPEM(t, false) }), "mtls.caPEM"},
		{"ca with a key", mtls(func(m *CertTrust) {
			m.CAPEM = ca + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}), "mtls.caPEM"},
		{"ca too large", mtls(func(m *CertTrust) { m.CAPEM = strings.Repeat("x", MaxCAPEMBytes+1) }), "mtls.caPEM"},
		{"too many cas", mtls(func(m *CertTrust) { m.CAPEM = many }), "mtls.caPEM"},
		{"no names", mtls(func(m *CertTrust) { m.CommonName = "" }), "mtls"},
		{"name too long", mtls(func(m *CertTrust) { m.DNSName = strings.Repeat("d", MaxNameLen+1) }), "mtls.dnsName"},
		{"uri not absolute", mtls(func(m *CertTrust) { m.URI = "shop" }), "mtls.uri"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.SetGatewayAuth(ctx, "demo", app.ID, tc.in)
			if got := fieldOf(err); got != tc.field || (tc.field == "") != (err == nil) {
				t.Fatalf("got %v (field %q), want field %q", err, got, tc.field)
			}
			if err == nil && out.GatewayAuth == nil {
				t.Fatal("stored without its settings")
			}
		})
	}
	if strings.Contains(fmtErr(s.SetGatewayAuth(ctx, "demo", app.ID, mtls(func(m *CertTrust) {
		m.CAPEM = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
	}))), "c2VjcmV0") {
		t.Error("a refused CA bundle is quoted in the error")
	}
}

func fmtErr(_ Application, err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestGatewayAuthStored: settings are kept across the watch, default the client claim,
// belong to the application's solution only, and stay when the application is renamed.
func TestGatewayAuthStored(t *testing.T) {
	b := testBus(t)
	s := openStore(t, b, Options{})
	ctx := context.Background()
	app, err := s.Register(ctx, "demo", Application{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	in := GatewayAuth{ClientCredentials: false, OIDC: &OIDCTrust{Issuer: "https://login.example.com", Audience: "gw", Client: "c1"}}
	if _, err := s.SetGatewayAuth(ctx, "other", app.ID, in); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another solution set the settings: %v", err)
	}
	if _, err := s.SetGatewayAuth(ctx, "demo", app.ID, in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "demo", app.ID, Application{Name: "shop2"}); err != nil {
		t.Fatal(err)
	}
	other := openStore(t, b, Options{}) // another instance, by its watch
	got, ok := other.ByName("demo", "shop2")
	if !ok || got.GatewayAuth == nil || got.GatewayAuth.OIDC == nil {
		t.Fatalf("another instance sees %+v", got.GatewayAuth)
	}
	if ga := got.GatewayAuthOf(); ga.ClientCredentials || ga.OIDC.ClientClaim != DefaultClientClaim || ga.OIDC.Client != "c1" {
		t.Errorf("stored %+v %+v", ga, ga.OIDC)
	}
}
