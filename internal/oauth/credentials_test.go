package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestIssueListRevoke(t *testing.T) {
	ctx := context.Background()
	a := openAuthority(t, openBus(t), newClock())
	c1 := issue(t, a, "demo", "orders")
	c2 := issue(t, a, "demo", "orders")
	other := issue(t, a, "demo", "billing")
	if c1.ClientID == c2.ClientID || c1.ClientSecret == c2.ClientSecret || c1.ID == c2.ID {
		t.Fatalf("two credentials share an id or secret: %+v %+v", c1, c2)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(c1.ClientSecret, "sbcs_"))
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q: want sbcs_ and 32 bytes base64url", c1.ClientSecret)
	}
	rec, _, _ := a.clients.get(c1.ClientID)
	if strings.Contains(string(rec.Hash), c1.ClientSecret) || len(rec.Salt) == 0 {
		t.Fatalf("stored record keeps the secret or no salt: %+v", rec)
	}
	if got := a.List("demo", "orders"); len(got) != 2 {
		t.Fatalf("list orders: %+v, want 2", got)
	}
	if err := a.Revoke(ctx, "demo", c1.ID); err != nil {
		t.Fatal(err)
	}
	if got := a.List("demo", "orders"); len(got) != 1 || got[0].ID != c2.ID {
		t.Fatalf("after revoke: %+v, want only %s", got, c2.ID)
	}
	if err := a.Revoke(ctx, "demo", c1.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke twice: %v, want not found", err)
	}
	if err := a.Revoke(ctx, "other", c2.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke of another solution's credential: %v, want not found", err)
	}
	if err := a.DropApplication(ctx, "demo", "orders"); err != nil {
		t.Fatal(err)
	}
	if got := a.List("demo", ""); len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("after dropping orders: %+v, want billing's only", got)
	}
	issue(t, a, "keep", "orders")
	if err := a.DropSolution(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if got := a.List("demo", ""); len(got) != 0 {
		t.Fatalf("after dropping the solution: %+v", got)
	}
	if got := a.List("keep", ""); len(got) != 1 {
		t.Fatalf("another solution's credentials went too: %+v", got)
	}
}

func TestIssueRefusesBadNames(t *testing.T) {
	a := openAuthority(t, openBus(t), newClock())
	for _, tc := range []struct{ name, sol, app, field string }{
		{"empty solution", "", "orders", "solution"},
		{"upper-case solution", "Demo", "orders", "solution"},
		{"empty application", "demo", "", "application"},
		{"dot in application", "demo", "a.b", "application"},
		{"long application", "demo", strings.Repeat("a", 64), "application"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Issue(context.Background(), tc.sol, tc.app)
			var fe *solution.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("got %v, want a field error on %s", err, tc.field)
			}
		})
	}
	var fe *solution.FieldError
	if err := a.Revoke(context.Background(), "demo", "../x"); !errors.As(err, &fe) || fe.Field != "id" {
		t.Fatalf("revoke of a malformed id: %v", err)
	}
}

func TestConfigRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no issuer", Config{}, "issuer"},
		{"issuer not a URL", Config{Issuer: "hub"}, "issuer"},
		{"issuer with query", Config{Issuer: "https://h/?a=b"}, "issuer"},
		{"ttl too short", Config{Issuer: testIssuer, TokenTTL: 1}, "token_ttl"},
		{"ttl too long", Config{Issuer: testIssuer, TokenTTL: 48 * 3600e9}, "token_ttl"},
		{"rotation too short", Config{Issuer: testIssuer, RotationPeriod: 1e9}, "rotation_period"},
		{"negative leeway", Config{Issuer: testIssuer, Leeway: -1}, "leeway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.withDefaults()
			var fe *solution.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("got %v, want a field error on %s", err, tc.field)
			}
		})
	}
}
