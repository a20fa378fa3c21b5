package dynamic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/service"
)

const testToken = "s3cret-service-token"

// describe parses the fixture file (relative to this package) as service name and points it
// at base.
func describe(t testing.TB, name, file, base string) *catalog.Description {
	t.Helper()
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := catalog.Parse(context.Background(), name, doc, catalog.ParseOptions{})
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	if base != "" {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = d.BaseURL.Path
		d.BaseURL = u
	}
	return d
}

// Fixtures.
const (
	mapperDoc  = "testdata/mapper.openapi3.yaml"
	weatherDoc = "../catalog/testdata/weather.openapi3.yaml"
	demoDoc    = "../catalog/testdata/demoexternalservice.yaml"
)

// echoed is what the echo server answers: the request it got.
type echoed struct {
	Method   string          `json:"method"`
	URI      string          `json:"uri"`
	Header   http.Header     `json:"header"`
	Body     json.RawMessage `json:"body,omitempty"`
	Verified string          `json:"verified"` // "" when Verify accepts the signature
}

// echoServer answers every request with the request as echoed.
func echoServer(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e := echoed{Method: r.Method, URI: r.RequestURI, Header: r.Header}
		if len(body) > 0 {
			e.Body = body
		}
		if err := Verify(testToken, r.Header, r.Method, r.RequestURI, body, time.Now(), time.Minute); err != nil {
			e.Verified = err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// asEchoed converts a call's result back into what the echo server saw.
func asEchoed(t testing.TB, res any) echoed {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var e echoed
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("result %s: %v", b, err)
	}
	return e
}

// wantError checks err is a *service.Error of status whose message contains every one of parts.
func wantError(t testing.TB, err error, status int, parts ...string) {
	t.Helper()
	var se *service.Error
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want a *service.Error %d", err, err, status)
	}
	if se.Status != status {
		t.Errorf("status = %d (%q), want %d", se.Status, se.Message, status)
	}
	for _, p := range parts {
		if !strings.Contains(se.Message, p) {
			t.Errorf("message %q does not mention %q", se.Message, p)
		}
	}
}

// handlerServer starts a server running h.
func handlerServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// counter counts the requests of a server.
type counter struct{ n atomic.Int64 }

// handler answers every request with status, content type and body, counting it.
func (c *counter) handler(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}
