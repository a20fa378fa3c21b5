package servicekit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of the hub's calls to a service.
const (
	HeaderSolution    = "X-Switchboard-Solution"  // the id of the calling solution
	HeaderRequestID   = "X-Request-Id"            // the id of the request, for logs
	HeaderTraceparent = "Traceparent"             // W3C trace context
	HeaderTimestamp   = "X-Switchboard-Timestamp" // unix seconds at which the hub signed the call
	HeaderSignature   = "X-Switchboard-Signature" // v1=<hex HMAC-SHA256>, see Sign
)

// HeaderServiceToken carries the service's token on a registration: the hub updates a name
// that is already registered only for its own token (or the admin token).
const HeaderServiceToken = "X-Switchboard-Service-Token"

// MaxClockSkew is how far the timestamp of a signed call may be from the service's clock,
// either way, before the call is refused as stale.
const MaxClockSkew = 5 * time.Minute

// Errors of VerifyRequest. The handler of a Service answers the first two with 401 and
// ErrNotRegistered with 503.
var (
	ErrBadSignature  = errors.New("servicekit: the request is not signed by the hub")
	ErrStaleRequest  = errors.New("servicekit: the request's timestamp is too far from now")
	ErrNotRegistered = errors.New("servicekit: the service is not registered yet")
)

// Sign returns the X-Switchboard-Signature value the hub sends with a call: "v1=" followed by
// the lowercase hex HMAC-SHA256, keyed with the service token, of
//
//	timestamp + "\n" + METHOD + "\n" + requestURI + "\n" + body
//
// where timestamp is the decimal unix seconds sent as X-Switchboard-Timestamp, requestURI is
// the path and query exactly as sent ("/things/a%20b?x=1") and body the raw request body.
// Services rarely need it; it is there for tests and fake hubs.
func Sign(token string, timestamp int64, method, requestURI string, body []byte) string {
	return sign(token, strconv.FormatInt(timestamp, 10), method, requestURI, body)
}

// sign is Sign with the timestamp as the text of the header.
func sign(token, timestamp, method, requestURI string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte(timestamp + "\n" + method + "\n" + requestURI + "\n"))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyRequest checks that r, whose body has already been read into body, was signed by the
// hub with the token the service received at registration, less than MaxClockSkew ago. It
// returns nil for a good signature, an error wrapping ErrBadSignature, ErrStaleRequest or
// ErrNotRegistered otherwise. The handler of the Service calls it on every call; it is
// exported for services that serve the hub's calls with handlers of their own.
func (s *Service) VerifyRequest(r *http.Request, body []byte) error {
	token := s.Token()
	if token == "" {
		return ErrNotRegistered
	}
	return verify(token, r, body, s.now())
}

func verify(token string, r *http.Request, body []byte, now time.Time) error {
	tsText := r.Header.Get(HeaderTimestamp)
	sigs := r.Header.Get(HeaderSignature)
	if tsText == "" || sigs == "" {
		return fmt.Errorf("%w: %s and %s are required", ErrBadSignature, HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not a number of seconds", ErrBadSignature, HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("%w: signed at %s, now is %s", ErrStaleRequest, time.Unix(ts, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	uri := r.RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") { // a client-side request, or an absolute-form URI
		uri = r.URL.RequestURI()
	}
	want := []byte(sign(token, tsText, r.Method, uri, body))
	// Several comma-separated signatures may be sent; one good v1 signature is enough.
	for _, sig := range strings.Split(sigs, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(sig)), want) {
			return nil
		}
	}
	return fmt.Errorf("%w: the signature does not match", ErrBadSignature)
}
