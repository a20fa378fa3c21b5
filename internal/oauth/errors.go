package oauth

import (
	"errors"
	"fmt"
	"strings"
)

// Reasons a token is refused. A *TokenError unwraps to one of them, so a caller answers
// 401 after errors.Is and shows Error(), which holds nothing secret.
var (
	ErrMalformed   = errors.New("malformed token")
	ErrAlgorithm   = errors.New("signing algorithm not accepted")
	ErrUnknownKey  = errors.New("unknown signing key")
	ErrSignature   = errors.New("bad signature")
	ErrExpired     = errors.New("token expired")
	ErrNotYetValid = errors.New("token not yet valid")
	ErrIssuer      = errors.New("wrong issuer")
	ErrAudience    = errors.New("wrong audience")
	ErrClaims      = errors.New("missing or invalid claims")
	ErrRevoked     = errors.New("credential revoked")
	ErrNotClient   = errors.New("token is not for this application")
)

// TokenError is a refused token: Reason is one of the Err values above, Detail says more
// and is safe to show the caller; Cause, when set, is for the operator's log only (it may
// quote an outside issuer's answer).
type TokenError struct {
	Reason error
	Detail string
	Cause  error
}

func (e *TokenError) Error() string {
	if e.Detail == "" {
		return e.Reason.Error()
	}
	return e.Reason.Error() + ": " + e.Detail
}

func (e *TokenError) Unwrap() error { return e.Reason }

func refuse(reason error, format string, args ...any) *TokenError {
	return &TokenError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// BearerChallenge is the WWW-Authenticate value of a 401 for err (RFC 6750 §3), quoted so
// that nothing in err can break out of the header.
func BearerChallenge(realm string, err error) string {
	return fmt.Sprintf(`Bearer realm=%s, error="invalid_token", error_description=%s`, quote(realm), quote(err.Error()))
}

// quote makes s a quoted-string of printable ASCII without '"' or '\\'.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			r = '?'
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
