package dynamic

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`)

// TestCallHeaders checks the hub's headers on a request: solution, request id, a valid
// traceparent continuing the caller's trace when there is one, and a signature Verify accepts.
func TestCallHeaders(t *testing.T) {
	srv := echoServer(t)
	d := describe(t, "mapper", mapperDoc, srv.URL)
	iv := New(Options{})
	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name      string
		ctx       context.Context
		keepTrace string // the trace id the request must carry, "" for a fresh one
	}{
		{"fresh trace", context.Background(), ""},
		{"continued trace", WithTraceparent(context.Background(), incoming), "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"invalid incoming trace", WithTraceparent(context.Background(), "00-zz-00f067aa0ba902b7-01"), ""},
		{"all-zero incoming trace", WithTraceparent(context.Background(), "00-00000000000000000000000000000000-00f067aa0ba902b7-01"), ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := iv.Call(tt.ctx, "sol1", d, testToken, "createItem", map[string]any{"name": "cup"}, nil, "req-42")
			if err != nil {
				t.Fatal(err)
			}
			got := asEchoed(t, res)
			h := got.Header
			if h.Get(HeaderSolution) != "sol1" || h.Get(HeaderRequestID) != "req-42" || h.Get("Content-Type") != "application/json" {
				t.Errorf("headers = %v", h)
			}
			m := traceparentRE.FindStringSubmatch(h.Get(HeaderTrace))
			if m == nil {
				t.Fatalf("traceparent %q is not 00-<32 hex>-<16 hex>-01", h.Get(HeaderTrace))
			}
			if tt.keepTrace != "" && m[1] != tt.keepTrace {
				t.Errorf("trace id %s, want %s", m[1], tt.keepTrace)
			}
			if tt.keepTrace == "" && seen[m[1]] {
				t.Errorf("trace id %s reused", m[1])
			}
			if m[2] == "00f067aa0ba902b7" || seen[m[2]] {
				t.Errorf("span id %s is not fresh", m[2])
			}
			seen[m[1]], seen[m[2]] = true, true
			if got.Verified != "" {
				t.Errorf("Verify: %s", got.Verified)
			}
		})
	}
}

// TestVerify checks Verify accepts what Sign makes and nothing else.
func TestVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"name":"cup"}`)
	header := func(token string, ts int64, uri string, body []byte) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(HeaderSignature, Sign(token, ts, "POST", uri, body))
		return h
	}
	good := header(testToken, now.Unix(), "/api/items?x=1", body)
	rotated := header(testToken, now.Unix(), "/api/items?x=1", body)
	rotated.Set(HeaderSignature, Sign("old-token", now.Unix(), "POST", "/api/items?x=1", body)+", "+rotated.Get(HeaderSignature))
	tests := []struct {
		name    string
		token   string
		h       http.Header
		method  string
		uri     string
		body    []byte
		skew    time.Duration
		wantErr error
	}{
		{"valid", testToken, good, "POST", "/api/items?x=1", body, time.Minute, nil},
		{"method case", testToken, good, "post", "/api/items?x=1", body, time.Minute, nil},
		{"one of several", testToken, rotated, "POST", "/api/items?x=1", body, time.Minute, nil},
		{"clock slightly behind", testToken, header(testToken, now.Unix()+50, "/api/items?x=1", body), "POST", "/api/items?x=1", body, time.Minute, nil},
		{"wrong token", "another-token", good, "POST", "/api/items?x=1", body, time.Minute, ErrSignature},
		{"tampered body", testToken, good, "POST", "/api/items?x=1", []byte(`{"name":"mug"}`), time.Minute, ErrSignature},
		{"tampered query", testToken, good, "POST", "/api/items?x=2", body, time.Minute, ErrSignature},
		{"other method", testToken, good, "PUT", "/api/items?x=1", body, time.Minute, ErrSignature},
		{"stale", testToken, header(testToken, now.Unix()-61, "/api/items?x=1", body), "POST", "/api/items?x=1", body, time.Minute, ErrTimestamp},
		{"from the future", testToken, header(testToken, now.Unix()+61, "/api/items?x=1", body), "POST", "/api/items?x=1", body, time.Minute, ErrTimestamp},
		{"default skew", testToken, header(testToken, now.Unix()-299, "/api/items?x=1", body), "POST", "/api/items?x=1", body, 0, nil},
		{"malformed timestamp", testToken, http.Header{HeaderTimestamp: {"soon"}, HeaderSignature: {"v1=00"}}, "POST", "/", nil, time.Minute, ErrTimestamp},
		{"unsigned", testToken, http.Header{}, "POST", "/", nil, time.Minute, ErrUnsigned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.token, tt.h, tt.method, tt.uri, tt.body, now, tt.skew)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestSignKnownAnswer pins the scheme so that other implementations can check against it.
func TestSignKnownAnswer(t *testing.T) {
	// printf '1700000000\nPOST\n/api/items?x=1\n{"a":1}' | openssl dgst -sha256 -hmac token
	got := Sign("token", 1_700_000_000, "post", "/api/items?x=1", []byte(`{"a":1}`))
	const want = "v1=5e6defc150316002868be0292493d943571f2504788b0499cb0205ba01cb15bf"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
