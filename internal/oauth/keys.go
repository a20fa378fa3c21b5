package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/nats-io/nats.go/jetstream"
)

// keyIDPattern is the name of a signing key: k and the Unix second its period starts.
var keyIDPattern = regexp.MustCompile(`^k[0-9]{1,12}$`)

// storedKey is a signing key as kept in KV. Private is the PKCS#8 DER of an ECDSA P-256 key:
// a secret on the bus (see the package doc).
type storedKey struct {
	Alg        string    `json:"alg"`
	Private    []byte    `json:"private"`
	NotBefore  time.Time `json:"not_before"`  // start of the period it signs in
	SignsUntil time.Time `json:"signs_until"` // end of that period
	ValidUntil time.Time `json:"valid_until"` // no token it signs outlives this
}

// signingKey is a stored key, parsed.
type signingKey struct {
	ID string
	storedKey
	key    *ecdsa.PrivateKey
	signer jose.Signer
}

func decodeKey(id string, raw []byte) (*signingKey, error) {
	var s storedKey
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if s.Alg != string(jose.ES256) {
		return nil, fmt.Errorf("alg %q: want ES256", s.Alg)
	}
	k, err := x509.ParsePKCS8PrivateKey(s.Private)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("private key: want ECDSA P-256")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ec},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), id))
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return &signingKey{ID: id, storedKey: s, key: ec, signer: signer}, nil
}

// period is the start of the rotation period holding t; every instance computes the same.
func (a *Authority) period(t time.Time) time.Time {
	return t.Truncate(a.cfg.RotationPeriod)
}

func keyID(start time.Time) string { return "k" + strconv.FormatInt(start.Unix(), 10) }

// rotate makes sure the key of the current period exists, and the next one's when the
// period ends soon (so that verifiers that cache the JWKS know it before it signs), and
// deletes keys no token signed by them can still use.
func (a *Authority) rotate(ctx context.Context) error {
	now := a.cfg.Now()
	cur := a.period(now)
	if _, err := a.ensureKey(ctx, cur); err != nil {
		return err
	}
	next := cur.Add(a.cfg.RotationPeriod)
	if next.Sub(now) <= min(a.cfg.RotationPeriod/4, 10*time.Minute) {
		if _, err := a.ensureKey(ctx, next); err != nil {
			return err
		}
	}
	for _, k := range a.keys.all() {
		if now.After(k.ValidUntil.Add(a.cfg.Leeway)) {
			if err := a.keys.kv.Delete(ctx, k.ID); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("delete expired signing key %s: %w", k.ID, err)
			}
			a.keys.forget(k.ID)
		}
	}
	return nil
}

// ensureKey is the key of the period starting at start, made by this instance unless
// another one made it first (KV create fails when the key exists).
func (a *Authority) ensureKey(ctx context.Context, start time.Time) (*signingKey, error) {
	id := keyID(start)
	if k, ok, _ := a.keys.get(id); ok {
		return k, nil
	}
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if k, ok, err := a.keys.fetch(ctx, id); err != nil || ok {
		return k, err
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	end := start.Add(a.cfg.RotationPeriod)
	raw, err := json.Marshal(storedKey{Alg: string(jose.ES256), Private: der, NotBefore: start, SignsUntil: end, ValidUntil: end.Add(a.cfg.TokenTTL)})
	if err != nil {
		return nil, err
	}
	rev, err := a.keys.kv.Create(ctx, id, raw)
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := a.keys.kv.Get(ctx, id)
		if gerr != nil {
			return nil, fmt.Errorf("read signing key %s: %w", id, gerr)
		}
		a.keys.apply(e)
		return a.keyOrErr(id)
	}
	if err != nil {
		return nil, fmt.Errorf("store signing key %s: %w", id, err)
	}
	k, err := decodeKey(id, raw)
	if err != nil {
		return nil, err
	}
	a.keys.set(id, ventry[*signingKey]{rev: rev, val: k})
	return k, nil
}

func (a *Authority) keyOrErr(id string) (*signingKey, error) {
	if k, ok, _ := a.keys.get(id); ok {
		return k, nil
	}
	return nil, fmt.Errorf("signing key %s unreadable", id)
}

// JWKSHandler serves GET /.well-known/jwks.json: the public half of every key that signs
// now, will sign next, or signed a token that has not expired.
func (a *Authority) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := json.Marshal(a.publicKeys())
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		// Short: a verifier that caches sees a new key soon, and the next key is published
		// ahead of its period anyway.
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write(body) //nolint:errcheck // the client went away
	})
}

func (a *Authority) publicKeys() jose.JSONWebKeySet {
	now := a.cfg.Now()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range a.keys.all() {
		if now.After(k.ValidUntil.Add(a.cfg.Leeway)) {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"})
	}
	return set
}
