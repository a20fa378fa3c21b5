package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
)

const testIssuer = "https://hub.example.com"

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Name: "test"})
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// openAuthority is an instance on b; two on one bus are two Switchboard instances sharing
// its KV.
func openAuthority(t *testing.T, b *bus.Bus, c *clock) *Authority {
	t.Helper()
	a, err := Open(context.Background(), b, Config{Issuer: testIssuer, Now: c.Now})
	if err != nil {
		t.Fatalf("open authority: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

func issue(t *testing.T, a *Authority, sol, app string) Credentials {
	t.Helper()
	c, err := a.Issue(context.Background(), sol, app)
	if err != nil {
		t.Fatalf("issue %s/%s: %v", sol, app, err)
	}
	return c
}

// tokenAnswer is a decoded answer of the token endpoint.
type tokenAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

func postToken(t *testing.T, a *Authority, form url.Values, basic *[2]string) tokenAnswer {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		r.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	w := httptest.NewRecorder()
	a.TokenHandler().ServeHTTP(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("token answer %d is not JSON: %q", w.Code, w.Body.String())
	}
	return tokenAnswer{status: w.Code, header: w.Header(), body: body}
}

// getToken is a token for c, by the form.
func getToken(t *testing.T, a *Authority, c Credentials) string {
	t.Helper()
	ans := postToken(t, a, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}, nil)
	tok, _ := ans.body["access_token"].(string)
	if ans.status != http.StatusOK || tok == "" {
		t.Fatalf("token for %s: %d %v", c.ClientID, ans.status, ans.body)
	}
	return tok
}

// wantReason fails unless err is a *TokenError for reason (nil reason: no error).
func wantReason(t *testing.T, err, reason error) {
	t.Helper()
	if reason == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var te *TokenError
	if !errors.As(err, &te) || !errors.Is(err, reason) {
		t.Fatalf("got %v (%T), want a TokenError for %v", err, err, reason)
	}
}
