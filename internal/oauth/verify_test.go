package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// forge signs claims with key under kid, as an attacker or another issuer would.
func forge(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned is a token with alg none.
func unsigned(t *testing.T, kid string, claims any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "none", "kid": kid, "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

func claimsFor(c Credentials, now time.Time) tokenClaims {
	return tokenClaims{
		Claims: jwt.Claims{
			Issuer: testIssuer, Subject: c.ClientID, Audience: jwt.Audience{DefaultAudience},
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "j1",
		},
		Solution: c.Solution, Application: c.Application,
	}
}

func TestVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	a := openAuthority(t, openBus(t), clk)
	cred := issue(t, a, "demo", "orders")
	now := clk.Now()
	k, err := a.ensureKey(ctx, a.period(now))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.key.PublicKey)
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: &k.key.PublicKey})
	with := func(f func(*tokenClaims)) tokenClaims {
		c := claimsFor(cred, now)
		f(&c)
		return c
	}
	revoked := issue(t, a, "demo", "orders")
	revokedTok := getToken(t, a, revoked)
	if err := a.Revoke(ctx, "demo", revoked.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		tok   string
		extra time.Duration // clock moved before Verify
		want  error
	}{
		{"own token", getToken(t, a, cred), 0, nil},
		{"forged with the right key", forge(t, jose.ES256, k.key, k.ID, claimsFor(cred, now)), 0, nil},
		{"expired", getToken(t, a, cred), DefaultTokenTTL + DefaultLeeway + time.Second, ErrExpired},
		{"within leeway after exp", getToken(t, a, cred), DefaultTokenTTL + DefaultLeeway/2, nil},
		{"not yet valid", forge(t, jose.ES256, k.key, k.ID, with(func(c *tokenClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })), 0, ErrNotYetValid},
		{"wrong audience", forge(t, jose.ES256, k.key, k.ID, with(func(c *tokenClaims) { c.Audience = jwt.Audience{"elsewhere"} })), 0, ErrAudience},
		{"wrong issuer", forge(t, jose.ES256, k.key, k.ID, with(func(c *tokenClaims) { c.Issuer = "https://evil.example.com" })), 0, ErrIssuer},
		{"no exp", forge(t, jose.ES256, k.key, k.ID, with(func(c *tokenClaims) { c.Expiry = nil })), 0, ErrClaims},
		{"no application", forge(t, jose.ES256, k.key, k.ID, with(func(c *tokenClaims) { c.Application = "" })), 0, ErrClaims},
		{"other application than the credential's", forge(t, jose.ES256, k.key, k.ID, with(func(c *tokenClaims) { c.Application = "billing" })), 0, ErrRevoked},
		{"wrong signature, same kid", forge(t, jose.ES256, other, k.ID, claimsFor(cred, now)), 0, ErrSignature},
		{"unknown kid", forge(t, jose.ES256, other, "k1", claimsFor(cred, now)), 0, ErrUnknownKey},
		{"kid not of this issuer", forge(t, jose.ES256, other, "../x", claimsFor(cred, now)), 0, ErrUnknownKey},
		{"alg none", unsigned(t, k.ID, claimsFor(cred, now)), 0, ErrAlgorithm},
		{"HS256 keyed with the public key (DER)", forge(t, jose.HS256, pubDER, k.ID, claimsFor(cred, now)), 0, ErrAlgorithm},
		{"HS256 keyed with the public key (JWK)", forge(t, jose.HS256, pubJWK, k.ID, claimsFor(cred, now)), 0, ErrAlgorithm},
		{"ES384", forge(t, jose.ES384, mustKey(t, elliptic.P384()), k.ID, claimsFor(cred, now)), 0, ErrAlgorithm},
		{"revoked credential", revokedTok, 0, ErrRevoked},
		{"not a JWS", "abc", 0, ErrMalformed},
		{"header not JSON", "e30x.e30.e30", 0, ErrMalformed},
		{"oversized", strings.Repeat("a", maxTokenBytes+1), 0, ErrMalformed},
		{"tampered payload", tamper(t, getToken(t, a, cred)), 0, ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.Add(tc.extra)
			defer clk.Add(-tc.extra)
			_, err := a.Verify(ctx, tc.tok)
			wantReason(t, err, tc.want)
		})
	}
}

func mustKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tamper changes the application in a token's payload, keeping its signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	p = []byte(strings.Replace(string(p), `"orders"`, `"ordersx"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(p)
	return strings.Join(parts, ".")
}

func TestAnotherInstanceVerifies(t *testing.T) {
	ctx := context.Background()
	b, clk := openBus(t), newClock()
	one := openAuthority(t, b, clk)
	two := openAuthority(t, b, clk)
	cred := issue(t, one, "demo", "orders")
	// At once, before two's watch may have seen the credential: a miss asks KV.
	tok := getToken(t, two, cred)
	for name, a := range map[string]*Authority{"issuer": two, "other": one} {
		cl, err := a.Verify(ctx, tok)
		if err != nil || cl.ClientID != cred.ClientID {
			t.Fatalf("%s instance: %+v %v", name, cl, err)
		}
	}
	if err := one.Revoke(ctx, "demo", cred.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other instance to see the revocation", func() bool {
		_, err := two.Verify(ctx, tok)
		return err != nil
	})
	_, err := two.Verify(ctx, tok)
	wantReason(t, err, ErrRevoked)
}

func TestInstancesMakeOneKeyPerPeriod(t *testing.T) {
	b, clk := openBus(t), newClock()
	one := openAuthority(t, b, clk)
	two := openAuthority(t, b, clk)
	clk.Add(24 * time.Hour)
	errs := make(chan error, 2)
	for _, a := range []*Authority{one, two} {
		go func() { errs <- a.rotate(context.Background()) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	k1, ok1, _ := one.keys.get(keyID(one.period(clk.Now())))
	k2, ok2, _ := two.keys.get(keyID(two.period(clk.Now())))
	if !ok1 || !ok2 || !k1.key.Equal(k2.key) {
		t.Fatal("the two instances sign with different keys for one period")
	}
}

func jwks(t *testing.T, a *Authority) (ids []string, cache string) {
	t.Helper()
	w := httptest.NewRecorder()
	a.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || w.Code != 200 {
		t.Fatalf("jwks: %d %s", w.Code, w.Body)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Algorithm != "ES256" || k.Use != "sig" {
			t.Fatalf("jwks key %s: public %v alg %s use %s", k.KeyID, k.IsPublic(), k.Algorithm, k.Use)
		}
		ids = append(ids, k.KeyID)
	}
	if strings.Contains(w.Body.String(), `"d"`) {
		t.Fatal("jwks holds a private key")
	}
	slices.Sort(ids)
	return ids, w.Header().Get("Cache-Control")
}

func TestRotationKeepsOldTokensUntilExpiry(t *testing.T) {
	ctx := context.Background()
	b, clk := openBus(t), newClock()
	a := openAuthority(t, b, clk)
	peer := openAuthority(t, b, clk)
	cred := issue(t, a, "demo", "orders")
	day0 := keyID(a.period(clk.Now()))
	day1 := keyID(a.period(clk.Now()).Add(24 * time.Hour))
	if ids, cache := jwks(t, a); !slices.Equal(ids, []string{day0}) || cache != "public, max-age=60" {
		t.Fatalf("jwks %v (%s), want [%s] with max-age 60", ids, cache, day0)
	}

	// Near the end of the period the next key is published before it signs.
	clk.Add(13*time.Hour + 55*time.Minute) // 23:55
	if err := a.rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if ids, _ := jwks(t, a); !slices.Equal(ids, []string{day0, day1}) {
		t.Fatalf("jwks before the period ends: %v, want both", ids)
	}
	old := getToken(t, a, cred) // signed by day0, expires 00:10

	clk.Add(10 * time.Minute) // 00:05, next period
	if err := a.rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := getToken(t, a, cred)
	for name, tok := range map[string]string{"old": old, "fresh": fresh} {
		if _, err := peer.Verify(ctx, tok); err != nil {
			t.Fatalf("%s token after rotation: %v", name, err)
		}
	}
	if kid := kidOf(t, fresh); kid != day1 {
		t.Fatalf("fresh token signed by %s, want %s", kid, day1)
	}
	if ids, _ := jwks(t, a); !slices.Equal(ids, []string{day0, day1}) {
		t.Fatalf("jwks after rotation: %v, want both while day0's tokens live", ids)
	}

	// Once day0 can have signed nothing still alive, it goes.
	clk.Add(15 * time.Minute) // 00:20, past day0's valid_until (00:15) and the leeway
	if err := a.rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if ids, _ := jwks(t, a); !slices.Equal(ids, []string{day1}) {
		t.Fatalf("jwks after day0 ran out: %v, want only %s", ids, day1)
	}
	_, err := a.Verify(ctx, old)
	wantReason(t, err, ErrUnknownKey)
	eventually(t, "the peer to drop the old key", func() bool {
		ids, _ := jwks(t, peer)
		return slices.Equal(ids, []string{day1})
	})
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, err := peekHeader(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// An instance with a longer TTL signing with a key made by one with a shorter TTL does not
// outlive the key's publication.
func TestTokenLifetimeCappedByKey(t *testing.T) {
	ctx := context.Background()
	b, clk := openBus(t), newClock()
	short := openAuthority(t, b, clk)
	long, err := Open(ctx, b, Config{Issuer: testIssuer, TokenTTL: 2 * time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	cred := issue(t, short, "demo", "orders")
	clk.Add(13*time.Hour + 50*time.Minute) // 23:50, the key of the day was made by short
	cl, err := long.Verify(ctx, getToken(t, long, cred))
	if err != nil {
		t.Fatal(err)
	}
	k, _, _ := long.keys.get(kidOf(t, getToken(t, long, cred)))
	if !cl.Expiry.Equal(k.ValidUntil) || cl.Expiry.Sub(cl.IssuedAt) != 25*time.Minute {
		t.Fatalf("expiry %s (lifetime %s), want the key's end %s", cl.Expiry, cl.Expiry.Sub(cl.IssuedAt), k.ValidUntil)
	}
}

// eventually waits for cond with a deadline; views of other instances are fed by a watch.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPeekIssuer: the issuer is read from a token's claims without checking it; what cannot
// be read is refused with its reason, before anything large is decoded.
func TestPeekIssuer(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	hdr := enc(`{"alg":"ES256"}`)
	for _, tc := range []struct {
		name, raw, want string
		reason          error
	}{
		{"issuer", hdr + "." + enc(`{"iss":"https://login.example.com","sub":"x"}`) + ".sig", "https://login.example.com", nil},
		{"two parts", hdr + "." + enc(`{"iss":"x"}`), "", ErrMalformed},
		{"claims not base64", hdr + ".!!!.sig", "", ErrMalformed},
		{"claims not JSON", hdr + "." + enc(`iss`) + ".sig", "", ErrMalformed},
		{"iss not a string", hdr + "." + enc(`{"iss":1}`) + ".sig", "", ErrMalformed},
		{"no iss", hdr + "." + enc(`{"sub":"x"}`) + ".sig", "", ErrClaims},
		{"too long", hdr + "." + enc(`{"iss":"`+strings.Repeat("a", maxTokenBytes)+`"}`) + ".sig", "", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PeekIssuer(tc.raw)
			wantReason(t, err, tc.reason)
			if got != tc.want {
				t.Errorf("issuer %q, want %q", got, tc.want)
			}
		})
	}
}
