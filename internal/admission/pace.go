package admission

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Pace bounds how long a request body may take to arrive. A sender must start within Grace and
// then keep up at least MinRate bytes a second on average (the deadline moves on as bytes
// arrive), and finish within Max in any case; so a stalled or trickling body is cut off in
// seconds, not at Max. Zero MinRate (or Grace) bounds by Max alone; zero Max has no cap.
type Pace struct {
	Grace   time.Duration
	MinRate int64 // bytes per second
	Max     time.Duration
}

// Deadline is when a body that started arriving at start, n bytes of it in so far, must
// have sent more (or ended); zero is none.
func (p Pace) Deadline(start time.Time, n int64) time.Time {
	var d time.Time
	if p.Max > 0 {
		d = start.Add(p.Max)
	}
	if p.MinRate > 0 && p.Grace > 0 {
		// In float: n/MinRate seconds overflows a Duration's int64 of nanoseconds long before n does.
		earned := time.Duration(min(float64(n)/float64(p.MinRate)*float64(time.Second), float64(24*time.Hour)))
		if r := start.Add(p.Grace + earned); d.IsZero() || r.Before(d) {
			d = r
		}
	}
	return d
}

// SlowError is a body that did not arrive in time; it wraps os.ErrDeadlineExceeded.
type SlowError struct{ Pace Pace }

func (e *SlowError) Error() string {
	if e.Pace.MinRate > 0 && e.Pace.Grace > 0 {
		return fmt.Sprintf("request body arrived too slowly: it must start within %s, keep up at least %d bytes/s and end within %s",
			e.Pace.Grace, e.Pace.MinRate, e.Pace.Max)
	}
	return fmt.Sprintf("request body took longer than %s to arrive", e.Pace.Max)
}

func (e *SlowError) Unwrap() error { return os.ErrDeadlineExceeded }

// ReadRequest reads r's body whole on ticket t (nil: no gate), up to limit bytes, at pace p:
// the connection's read deadline follows p as bytes arrive, and is cleared once the body is in.
// A body too slow is a *SlowError, else as Ticket.ReadBody.
func (p Pace) ReadRequest(w http.ResponseWriter, r *http.Request, t *Ticket, limit int64) (body []byte, err error) {
	rc := http.NewResponseController(w)
	start := time.Now()
	var in io.Reader = r.Body
	// Not every writer supports deadlines (tests' recorders); the bound is then the caller's.
	if d := p.Deadline(start, 0); !d.IsZero() && rc.SetReadDeadline(d) == nil {
		in = &pacedReader{r: r.Body, pace: p, start: start, set: rc.SetReadDeadline}
		defer func() {
			// After a failure the deadline stays: the server then gives up on the rest of the
			// body at once rather than waiting for it before answering.
			if err == nil {
				rc.SetReadDeadline(time.Time{}) //nolint:errcheck // best effort
			}
		}()
	}
	body, err = t.ReadBody(in, r.ContentLength, limit)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, &SlowError{Pace: p}
	}
	return body, err
}

// pacedReader moves the read deadline on as bytes arrive.
type pacedReader struct {
	r     io.Reader
	pace  Pace
	start time.Time
	n     int64
	set   func(time.Time) error
}

func (pr *pacedReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.n += int64(n)
	// At the end there is nothing more to wait for (a small body is read in one call).
	if n > 0 && err == nil && pr.pace.MinRate > 0 {
		pr.set(pr.pace.Deadline(pr.start, pr.n)) //nolint:errcheck // set once already, so supported
	}
	return n, err
}
