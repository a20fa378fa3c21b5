package events

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestBackoff(t *testing.T) {
	p := RetryPolicy{Attempts: 10, MinWait: Duration(100 * time.Millisecond), MaxWait: Duration(time.Second)}
	never := func() float64 { return 0.5 }   // no jitter: the base itself
	least := func() float64 { return 0 }     // jittered down by half
	most := func() float64 { return 0.9999 } // jittered up by (almost) half
	for _, c := range []struct {
		name       string
		n          int
		retryAfter time.Duration
		rnd        func() float64
		want       time.Duration
	}{
		{"first retry waits min_wait", 1, 0, never, 100 * time.Millisecond},
		{"doubles", 2, 0, never, 200 * time.Millisecond},
		{"doubles again", 3, 0, never, 400 * time.Millisecond},
		{"capped at max_wait", 5, 0, never, time.Second},
		{"far attempts stay capped", 60, 0, never, time.Second},
		{"jitter never goes below min_wait", 1, 0, least, 100 * time.Millisecond},
		{"jitter adds up to half", 2, 0, most, 299980 * time.Microsecond},
		{"jitter takes up to half", 3, 0, least, 200 * time.Millisecond},
		{"jitter never goes above max_wait", 5, 0, most, time.Second},
		{"retry_after is honoured", 1, 700 * time.Millisecond, never, 700 * time.Millisecond},
		{"retry_after below min_wait is honoured", 4, 10 * time.Millisecond, never, 10 * time.Millisecond},
		{"retry_after is capped at max_wait", 1, time.Minute, never, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := p.Backoff(c.n, c.retryAfter, c.rnd)
			if math.Abs(float64(got-c.want)) > float64(time.Microsecond) {
				t.Fatalf("Backoff(%d, %s) = %s, want %s", c.n, c.retryAfter, got, c.want)
			}
		})
	}
}

// TestBackoffJitterRange: with the real random source every wait lies in [base/2, 1.5·base]
// and within [min_wait, max_wait], and the waits of one attempt are not all the same.
func TestBackoffJitterRange(t *testing.T) {
	p := RetryPolicy{MinWait: Duration(10 * time.Millisecond), MaxWait: Duration(5 * time.Second)}
	for n := 1; n <= 12; n++ {
		base := min(10*time.Millisecond<<(n-1), 5*time.Second)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Backoff(n, 0, jitter)
			lo, hi := max(base/2, 10*time.Millisecond), min(base*3/2, 5*time.Second)
			if d < lo || d > hi {
				t.Fatalf("attempt %d: wait %s outside [%s, %s]", n, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("attempt %d: every wait was the same: no jitter", n)
		}
	}
}

func TestRetryPolicyDefaults(t *testing.T) {
	for _, c := range []struct {
		in, want RetryPolicy
	}{
		{RetryPolicy{}, RetryPolicy{Attempts: 5, MinWait: Duration(DefaultMinWait), MaxWait: Duration(DefaultMaxWait)}},
		{RetryPolicy{Attempts: 2}, RetryPolicy{Attempts: 2, MinWait: Duration(DefaultMinWait), MaxWait: Duration(DefaultMaxWait)}},
		{RetryPolicy{MaxWait: Duration(100 * time.Millisecond)}, RetryPolicy{Attempts: 5, MinWait: Duration(100 * time.Millisecond), MaxWait: Duration(100 * time.Millisecond)}},
		{RetryPolicy{MinWait: Duration(10 * time.Minute)}, RetryPolicy{Attempts: 5, MinWait: Duration(10 * time.Minute), MaxWait: Duration(10 * time.Minute)}},
	} {
		if got := c.in.withDefaults(5); !got.equal(c.want) {
			t.Errorf("%+v with defaults = %+v, want %+v", c.in, got, c.want)
		}
		if err := c.in.validate(); err != nil {
			t.Errorf("%+v: %v", c.in, err)
		}
	}
}

// TestHandlerDeliveryValidation: a handler's retry policy and max_in_flight are checked, with
// the field named.
func TestHandlerDeliveryValidation(t *testing.T) {
	ms := func(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }
	for _, c := range []struct {
		name     string
		retry    *RetryPolicy
		inFlight int
		field    string // "" = valid
	}{
		{"no policy", nil, 0, ""},
		{"full policy", &RetryPolicy{Attempts: 5, MinWait: ms(100), MaxWait: ms(30000)}, 16, ""},
		{"one attempt", &RetryPolicy{Attempts: 1}, 1, ""},
		{"too many attempts", &RetryPolicy{Attempts: MaxAttempts + 1}, 0, "retry.attempts"},
		{"negative attempts", &RetryPolicy{Attempts: -1}, 0, "retry.attempts"},
		{"min_wait too short", &RetryPolicy{MinWait: Duration(time.Microsecond)}, 0, "retry.min_wait"},
		{"negative min_wait", &RetryPolicy{MinWait: ms(-5)}, 0, "retry.min_wait"},
		{"max_wait too long", &RetryPolicy{MaxWait: Duration(2 * time.Hour)}, 0, "retry.max_wait"},
		{"max below min", &RetryPolicy{MinWait: ms(500), MaxWait: ms(100)}, 0, "retry.max_wait"},
		{"retry on kinds", &RetryPolicy{On: []string{"time", "server memory"}}, 0, ""},
		{"retry on an unknown kind", &RetryPolicy{On: []string{"runtime", "flaky"}}, 0, "retry.on[1]"},
		{"negative max_in_flight", nil, -1, "max_in_flight"},
		{"max_in_flight too large", nil, MaxMaxInFlight + 1, "max_in_flight"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Check(Handler{Solution: "demo", Name: "h", Topics: []string{"a.b"}, Script: "return 1", Retry: c.retry, MaxInFlight: c.inFlight})
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *solution.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("error %v, want one about %s", err, c.field)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	var p RetryPolicy
	if err := json.Unmarshal([]byte(`{"attempts":3,"min_wait":"100ms","max_wait":"30s"}`), &p); err != nil {
		t.Fatal(err)
	}
	if !p.equal(RetryPolicy{Attempts: 3, MinWait: Duration(100 * time.Millisecond), MaxWait: Duration(30 * time.Second)}) {
		t.Fatalf("decoded %+v", p)
	}
	out, _ := json.Marshal(p)
	if string(out) != `{"attempts":3,"min_wait":"100ms","max_wait":"30s"}` {
		t.Fatalf("encoded %s", out)
	}
	for _, bad := range []string{`{"min_wait":100}`, `{"min_wait":"soon"}`} {
		err := json.Unmarshal([]byte(bad), &p)
		if err == nil || !strings.Contains(err.Error(), "duration") {
			t.Errorf("%s: %v, want an error about a duration", bad, err)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for _, c := range []struct {
		ret   any
		want  time.Duration
		asked bool
	}{
		{nil, 0, false},
		{"retry_after", 0, false},
		{map[string]any{"ok": true}, 0, false},
		{map[string]any{"retry_after": "5"}, 0, false},
		{map[string]any{"retry_after": 2.5}, 2500 * time.Millisecond, true},
		{map[string]any{"retry_after": -1.0}, 0, true},
		{map[string]any{"retry_after": math.NaN()}, 0, true},
		{map[string]any{"retry_after": 1e12}, MaxRetryWait, true},
	} {
		got, asked := retryAfter(c.ret)
		if got != c.want || asked != c.asked {
			t.Errorf("retryAfter(%v) = %s, %v; want %s, %v", c.ret, got, asked, c.want, c.asked)
		}
	}
}
