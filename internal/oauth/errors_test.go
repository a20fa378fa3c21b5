package oauth

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestBearerChallengeQuotes(t *testing.T) {
	err := refuse(ErrIssuer, "iss %q", "evil\"\r\nSet-Cookie: x=1\\")
	got := BearerChallenge("switchboard", err)
	if strings.ContainsAny(got, "\r\n\\") || strings.Count(got, `"`) != 6 {
		t.Fatalf("challenge %q lets the token's content out of its quotes", got)
	}
	if !strings.HasPrefix(got, `Bearer realm="switchboard", error="invalid_token", error_description="wrong issuer: iss `) {
		t.Fatalf("challenge %q", got)
	}
}

func TestTokenErrorKeepsCauseOutOfMessage(t *testing.T) {
	err := &TokenError{Reason: ErrSignature, Detail: "not signed by a key of the issuer", Cause: errors.New("issuer said: secret stuff")}
	if strings.Contains(err.Error(), "secret") || !errors.Is(err, ErrSignature) {
		t.Fatalf("message %q", err)
	}
}

// FuzzPeekHeader: whatever a caller sends as a token, the header check answers a
// TokenError or a header of an accepted algorithm, without panicking.
func FuzzPeekHeader(f *testing.F) {
	for _, s := range []string{"", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.", "e30.e30.e30", "....", "eyJhbGciOm51bGx9.x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, err := peekHeader(raw, []jose.SignatureAlgorithm{jose.ES256})
		var te *TokenError
		switch {
		case err != nil && !errors.As(err, &te):
			t.Fatalf("error %v is not a TokenError", err)
		case err == nil && h.Alg != "ES256":
			t.Fatalf("accepted alg %q", h.Alg)
		}
	})
}
