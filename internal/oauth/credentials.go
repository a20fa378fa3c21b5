package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// ApplicationPattern is what an application name must match: a segment of its topics and
// of the gateway's paths.
var ApplicationPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

var (
	clientIDPattern = regexp.MustCompile(`^sbc_[0-9a-f]{32}$`)
	authIDPattern   = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// ErrNotFound is a credential that does not exist.
var ErrNotFound = solution.ErrNotFound

// Credentials are what Issue returns once: the secret is never shown again.
type Credentials struct {
	SystemAuth
	ClientSecret string `json:"client_secret"`
}

// SystemAuth is one credential of an application, as Compass's SystemAuth: each call of
// requestClientCredentialsForApplication adds one.
type SystemAuth struct {
	ID          string    `json:"id"`
	ClientID    string    `json:"client_id"`
	Solution    string    `json:"solution"`
	Application string    `json:"application"`
	CreatedAt   time.Time `json:"created_at"`
}

// clientRecord is a credential as kept in KV: the secret only as HMAC-SHA-256 keyed by a
// salt of its own. A slow hash buys nothing here: the secret is 256 random bits, beyond any
// guessing even at SHA-256 speed, and a cheap check keeps the token endpoint cheap under load.
type clientRecord struct {
	SystemAuth
	Salt []byte `json:"salt"`
	Hash []byte `json:"hash"`
}

func decodeClient(key string, raw []byte) (clientRecord, error) {
	var c clientRecord
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, err
	}
	if c.ClientID != key || len(c.Salt) == 0 || len(c.Hash) != sha256.Size {
		return c, errors.New("incomplete credential record")
	}
	return c, nil
}

func secretHash(salt []byte, secret string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	return b
}

func checkApp(sol, app string) error {
	if err := solution.ValidateID(sol); err != nil {
		return &solution.FieldError{Field: "solution", Reason: err.(*solution.FieldError).Reason}
	}
	if !ApplicationPattern.MatchString(app) {
		return &solution.FieldError{Field: "application", Reason: "must match " + ApplicationPattern.String() + " (letters, digits, '_' and '-', 1 to 63 characters)"}
	}
	return nil
}

// Issue adds a credential for an application and returns it with its secret, the only
// time the secret is shown. The caller checks that the application exists.
func (a *Authority) Issue(ctx context.Context, sol, app string) (Credentials, error) {
	if err := checkApp(sol, app); err != nil {
		return Credentials{}, err
	}
	secret := "sbcs_" + base64.RawURLEncoding.EncodeToString(randomBytes(32))
	rec := clientRecord{
		SystemAuth: SystemAuth{
			ID:          hex.EncodeToString(randomBytes(16)),
			ClientID:    "sbc_" + hex.EncodeToString(randomBytes(16)),
			Solution:    sol,
			Application: app,
			CreatedAt:   a.cfg.Now().UTC(),
		},
		Salt: randomBytes(16),
	}
	rec.Hash = secretHash(rec.Salt, secret)
	raw, err := json.Marshal(rec)
	if err != nil {
		return Credentials{}, err
	}
	rev, err := a.clients.kv.Create(ctx, rec.ClientID, raw)
	if err != nil {
		return Credentials{}, fmt.Errorf("store credential of %s/%s: %w", sol, app, err)
	}
	a.clients.set(rec.ClientID, ventry[clientRecord]{rev: rev, val: rec})
	return Credentials{SystemAuth: rec.SystemAuth, ClientSecret: secret}, nil
}

// List is the credentials of an application, oldest first; app "" lists the solution's.
func (a *Authority) List(sol, app string) []SystemAuth {
	out := []SystemAuth{}
	for _, c := range a.clients.all() {
		if c.Solution == sol && (app == "" || c.Application == app) {
			out = append(out, c.SystemAuth)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Revoke deletes the credential id of a solution: its secret no longer gets tokens, and
// the tokens it got no longer verify.
func (a *Authority) Revoke(ctx context.Context, sol, id string) error {
	if !authIDPattern.MatchString(id) {
		return &solution.FieldError{Field: "id", Reason: "not a credential id (32 hexadecimal digits)"}
	}
	for _, c := range a.List(sol, "") {
		if c.ID == id {
			return a.revoke(ctx, c)
		}
	}
	return fmt.Errorf("credential %s: %w", id, ErrNotFound)
}

// DropApplication revokes every credential of an application, as when it is unregistered.
func (a *Authority) DropApplication(ctx context.Context, sol, app string) error {
	if err := checkApp(sol, app); err != nil {
		return err
	}
	return a.revokeAll(ctx, a.List(sol, app))
}

// DropSolution revokes every credential of a solution, as when it is deleted.
func (a *Authority) DropSolution(ctx context.Context, sol string) error {
	if err := solution.ValidateID(sol); err != nil {
		return &solution.FieldError{Field: "solution", Reason: err.(*solution.FieldError).Reason}
	}
	return a.revokeAll(ctx, a.List(sol, ""))
}

func (a *Authority) revokeAll(ctx context.Context, cs []SystemAuth) error {
	for _, c := range cs {
		if err := a.revoke(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (a *Authority) revoke(ctx context.Context, c SystemAuth) error {
	if err := a.clients.kv.Delete(ctx, c.ClientID); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("revoke credential %s of %s/%s: %w", c.ID, c.Solution, c.Application, err)
	}
	a.clients.forget(c.ClientID)
	return nil
}

// dummySalt keeps a request for an unknown client as slow as one for a known client.
var dummySalt = randomBytes(16)

// authenticate is the credential of clientID if secret is its secret.
func (a *Authority) authenticate(ctx context.Context, clientID, secret string) (clientRecord, bool, error) {
	var rec clientRecord
	ok := false
	if clientIDPattern.MatchString(clientID) {
		var err error
		if rec, ok, err = a.clients.fetch(ctx, clientID); err != nil {
			return rec, false, err
		}
	}
	salt, want := dummySalt, make([]byte, sha256.Size)
	if ok {
		salt, want = rec.Salt, rec.Hash
	}
	match := hmac.Equal(secretHash(salt, secret), want)
	return rec, ok && match, nil
}

// Authenticate is the credential of clientID when secret is its secret (an MQTT login of an
// application, say); a wrong pair is ErrNotClient, answered as slowly for an unknown client.
func (a *Authority) Authenticate(ctx context.Context, clientID, secret string) (SystemAuth, error) {
	rec, ok, err := a.authenticate(ctx, clientID, secret)
	if err != nil {
		return SystemAuth{}, err
	}
	if !ok {
		return SystemAuth{}, &TokenError{Reason: ErrNotClient, Detail: "unknown client or wrong secret"}
	}
	return rec.SystemAuth, nil
}
