package events

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Bounds of a handler's retry policy and concurrency.
const (
	MaxAttempts    = 100
	MinRetryWait   = time.Millisecond
	MaxRetryWait   = time.Hour
	MaxMaxInFlight = 1024
)

// Duration is a time.Duration written in JSON as Go writes durations ("100ms", "30s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"100ms\" or \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"100ms\" or \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// RetryPolicy is how often and how far apart a durable event's handler runs before its work
// item is dead-lettered. A zero field takes the dispatcher's default; a handler without a
// policy keeps the dispatcher's fixed back-off table.
type RetryPolicy struct {
	// Attempts counts every run, the first included.
	Attempts int      `json:"attempts,omitempty"`
	MinWait  Duration `json:"min_wait,omitempty"`
	MaxWait  Duration `json:"max_wait,omitempty"`
	// On names the failures that are retried, by kind (FailureKinds); empty: every one. A
	// failure of another kind is dead-lettered at once. A run that returns retry_after is
	// always retried: it asked to be.
	On []string `json:"on,omitempty"`
}

// FailureKinds are the kinds of failure a retry policy's On may name, as HandlerError.Kind
// gives them: an error raised by the script (or a service call it did not catch), each run
// limit, a run cut short, a fault of the hub, and a script that does not compile.
var FailureKinds = []string{"runtime", script.LimitTime, script.LimitMemory, script.LimitSteps, script.LimitCallDepth,
	script.LimitCoroutines, script.LimitServerMemory, "canceled", "internal", "compile"}

// retries reports whether a failure of kind is retried under p.
func (p *RetryPolicy) retries(kind string) bool {
	return p == nil || len(p.On) == 0 || slices.Contains(p.On, kind)
}

// equal reports whether p and q are the same policy.
func (p RetryPolicy) equal(q RetryPolicy) bool {
	return p.Attempts == q.Attempts && p.MinWait == q.MinWait && p.MaxWait == q.MaxWait && slices.Equal(p.On, q.On)
}

// Defaults of a RetryPolicy's unset fields.
const (
	DefaultMinWait = time.Second
	DefaultMaxWait = 2 * time.Minute
)

// validate checks p; errors name the field under "retry".
func (p RetryPolicy) validate() error {
	switch {
	case p.Attempts < 0 || p.Attempts > MaxAttempts:
		return &solution.FieldError{Field: "retry.attempts", Reason: fmt.Sprintf("must be between 1 and %d", MaxAttempts)}
	case p.MinWait != 0 && (time.Duration(p.MinWait) < MinRetryWait || time.Duration(p.MinWait) > MaxRetryWait):
		return &solution.FieldError{Field: "retry.min_wait", Reason: fmt.Sprintf("must be between %s and %s", MinRetryWait, MaxRetryWait)}
	case p.MaxWait != 0 && (time.Duration(p.MaxWait) < MinRetryWait || time.Duration(p.MaxWait) > MaxRetryWait):
		return &solution.FieldError{Field: "retry.max_wait", Reason: fmt.Sprintf("must be between %s and %s", MinRetryWait, MaxRetryWait)}
	}
	if len(p.On) > len(FailureKinds) {
		return &solution.FieldError{Field: "retry.on", Reason: fmt.Sprintf("at most %d kinds", len(FailureKinds))}
	}
	for i, k := range p.On {
		if !slices.Contains(FailureKinds, k) {
			return &solution.FieldError{Field: fmt.Sprintf("retry.on[%d]", i), Reason: fmt.Sprintf("%q is not a kind of failure; want one of %s", k, strings.Join(FailureKinds, ", "))}
		}
	}
	if lo, hi := p.withDefaults(DefaultMaxDeliver).waits(); lo > hi {
		return &solution.FieldError{Field: "retry.max_wait", Reason: fmt.Sprintf("%s is less than min_wait %s", hi, lo)}
	}
	return nil
}

// withDefaults fills the unset fields.
func (p RetryPolicy) withDefaults(attempts int) RetryPolicy {
	if p.Attempts == 0 {
		p.Attempts = attempts
	}
	if p.MinWait == 0 {
		p.MinWait = Duration(DefaultMinWait)
		if p.MaxWait != 0 && p.MaxWait < p.MinWait {
			p.MinWait = p.MaxWait // only max_wait given, below the default minimum
		}
	}
	if p.MaxWait == 0 {
		p.MaxWait = max(Duration(DefaultMaxWait), p.MinWait)
	}
	return p
}

func (p RetryPolicy) waits() (time.Duration, time.Duration) {
	return time.Duration(p.MinWait), time.Duration(p.MaxWait)
}

// Backoff is the wait before the retry that follows failed attempt n (1 for the first run):
// min_wait doubled n-1 times, capped at max_wait, times a random factor between 0.5 and 1.5
// so that handlers failing together do not retry together, and kept within min_wait and
// max_wait. rnd returns a number in [0, 1). A run that asked for retryAfter (> 0) waits that
// long instead, capped at max_wait.
func (p RetryPolicy) Backoff(n int, retryAfter time.Duration, rnd func() float64) time.Duration {
	lo, hi := p.waits()
	if retryAfter > 0 {
		return min(retryAfter, hi)
	}
	base := lo
	for i := 1; i < n && base < hi; i++ {
		base *= 2
	}
	base = min(base, hi)
	d := time.Duration(float64(base) * (0.5 + rnd()))
	return min(max(d, lo), hi)
}

// jitter is the random source of back-off.
func jitter() float64 { return rand.Float64() }
