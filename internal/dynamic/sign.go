package dynamic

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a hub request.
const (
	HeaderSolution  = "X-Switchboard-Solution"
	HeaderRequestID = "X-Request-Id"
	HeaderTimestamp = "X-Switchboard-Timestamp"
	HeaderSignature = "X-Switchboard-Signature"
	HeaderTrace     = "traceparent"
)

// DefaultSkew is how far a request's timestamp may be from the verifier's clock when Verify is
// given no skew.
const DefaultSkew = 5 * time.Minute

// Errors of Verify, wrapped with details.
var (
	ErrUnsigned  = errors.New("request is not signed")
	ErrTimestamp = errors.New("request timestamp is missing, malformed or too far from now")
	ErrSignature = errors.New("request signature does not match")
)

// Sign returns the X-Switchboard-Signature header value of a request, which tells a service
// the request comes from the hub. The scheme, version v1:
//
//	X-Switchboard-Timestamp: <ts, Unix seconds, decimal>
//	X-Switchboard-Signature: v1=<hex>
//	hex = lowercase hex of HMAC-SHA256(key = token,
//	      message = ts + "\n" + METHOD + "\n" + requestURI + "\n" + body)
//
// where token is the service's token, METHOD the upper-case HTTP method, requestURI the
// request's target as sent (escaped path, then "?" and the raw query if there is one: what a Go
// server sees as Request.RequestURI) and body the exact bytes of the request body, empty when
// there is none. A verifier recomputes the HMAC, compares in constant time and refuses a
// timestamp too far from its clock (see Verify). The header may list several comma-separated
// signatures; one v1 match is enough.
func Sign(token string, ts int64, method, requestURI string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(token))
	writeMessage(mac, ts, method, requestURI, body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// writeMessage writes the signed message of Sign to w.
func writeMessage(w io.Writer, ts int64, method, requestURI string, body []byte) {
	var buf [20]byte
	w.Write(strconv.AppendInt(buf[:0], ts, 10))
	w.Write([]byte("\n" + strings.ToUpper(method) + "\n" + requestURI + "\n"))
	w.Write(body)
}

// Verify checks the signature headers h of a request signed with token, as Sign describes:
// the timestamp must be within skew of now (DefaultSkew when skew <= 0) and one v1 signature
// must match. Its errors wrap ErrUnsigned, ErrTimestamp or ErrSignature.
func Verify(token string, h http.Header, method, requestURI string, body []byte, now time.Time, skew time.Duration) error {
	rawTS, sigs := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if rawTS == "" || sigs == "" {
		return fmt.Errorf("%w: %s and %s are required", ErrUnsigned, HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(rawTS, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q: %w", ErrTimestamp, HeaderTimestamp, rawTS, err)
	}
	if skew <= 0 {
		skew = DefaultSkew
	}
	if d := now.Sub(time.Unix(ts, 0)); d > skew || d < -skew {
		return fmt.Errorf("%w: %s is %s from now, more than %s", ErrTimestamp, HeaderTimestamp, d.Round(time.Second), skew)
	}
	want := []byte(Sign(token, ts, method, requestURI, body))
	for _, s := range strings.Split(sigs, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(s)), want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature of %s %s matches", ErrSignature, strings.ToUpper(method), requestURI)
}
