// Package admission bounds what requests from outside callers may hold at once: script runs in
// flight and request body bytes, per solution and for the whole server. A request over a
// solution's bound is refused (429) so that one busy solution cannot starve the others; a
// request over the server's bound is refused (503) so that all of them together cannot exhaust
// the process.
package admission

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Limits are a Gate's bounds. A zero field takes its default from Defaults.
type Limits struct {
	// Runs bounds runs in flight on the server; RunsPerSolution those of one solution.
	Runs, RunsPerSolution int
	// Bytes bounds request body bytes held on the server; BytesPerSolution those of one solution.
	Bytes, BytesPerSolution int64
}

// Default bounds: above what bench/endpoint.sh (32 connections on one solution) needs, and far
// below what would exhaust a small machine (128 MiB of bodies in all).
const (
	DefaultRuns             = 256
	DefaultRunsPerSolution  = 64
	DefaultBytes            = 128 << 20
	DefaultBytesPerSolution = 32 << 20
)

// Defaults returns l with every zero field set to its default.
func (l Limits) Defaults() Limits {
	if l.Runs == 0 {
		l.Runs = DefaultRuns
	}
	if l.RunsPerSolution == 0 {
		l.RunsPerSolution = DefaultRunsPerSolution
	}
	if l.Bytes == 0 {
		l.Bytes = DefaultBytes
	}
	if l.BytesPerSolution == 0 {
		l.BytesPerSolution = DefaultBytesPerSolution
	}
	return l
}

// Reasons a request is refused; they are the Error's Reason and the metrics label.
const (
	ReasonSolutionRuns  = "solution_runs"
	ReasonRuns          = "runs"
	ReasonSolutionBytes = "solution_body_bytes"
	ReasonBytes         = "body_bytes"
)

// RetryAfter is what a refusal tells the caller to wait: runs are short, so bounds free up fast.
const RetryAfter = time.Second

// Error is a refused admission.
type Error struct {
	// Reason is one of the Reason constants.
	Reason string
	// Limit is the bound that was reached (a count of runs, or bytes).
	Limit int64
}

func (e *Error) Error() string {
	switch e.Reason {
	case ReasonSolutionRuns:
		return fmt.Sprintf("too many requests for this solution at once (at most %d runs in flight); retry later", e.Limit)
	case ReasonRuns:
		return fmt.Sprintf("the server is busy (at most %d runs in flight); retry later", e.Limit)
	case ReasonSolutionBytes:
		return fmt.Sprintf("too many request bodies held for this solution at once (at most %d bytes); retry later", e.Limit)
	default:
		return fmt.Sprintf("the server is busy (at most %d request body bytes held); retry later", e.Limit)
	}
}

// Global reports whether the server-wide bound was reached (503) rather than the solution's (429).
func (e *Error) Global() bool { return e.Reason == ReasonRuns || e.Reason == ReasonBytes }

// Status is the HTTP status of the refusal: 503 for a server-wide bound, 429 for a solution's.
func (e *Error) Status() int {
	if e.Global() {
		return http.StatusServiceUnavailable
	}
	return http.StatusTooManyRequests
}

// Gate counts what is held, per solution and in all. Its zero value is not usable; use New.
type Gate struct {
	lim Limits
	// OnReject, if set, is told of every refusal (for metrics); it must not block.
	onReject func(reason string)

	mu    sync.Mutex
	runs  int
	bytes int64
	per   map[string]*usage // only solutions holding something; removed when back to zero
}

type usage struct {
	runs  int
	bytes int64
}

// New returns a gate with lim's bounds (defaults filled); onReject may be nil.
func New(lim Limits, onReject func(reason string)) *Gate {
	return &Gate{lim: lim.Defaults(), onReject: onReject, per: map[string]*usage{}}
}

// Limits are the gate's bounds.
func (g *Gate) Limits() Limits { return g.lim }

// Enter takes one run slot for solution sol. The ticket must be released once the answer is
// written. A refusal is an *Error.
func (g *Gate) Enter(sol string) (*Ticket, error) {
	g.mu.Lock()
	u := g.per[sol]
	var err *Error
	switch {
	case u != nil && u.runs >= g.lim.RunsPerSolution:
		err = &Error{Reason: ReasonSolutionRuns, Limit: int64(g.lim.RunsPerSolution)}
	case g.runs >= g.lim.Runs:
		err = &Error{Reason: ReasonRuns, Limit: int64(g.lim.Runs)}
	}
	if err == nil {
		if u == nil {
			u = &usage{}
			g.per[sol] = u
		}
		u.runs++
		g.runs++
	}
	g.mu.Unlock()
	if err != nil {
		g.rejected(err.Reason)
		return nil, err
	}
	return &Ticket{g: g, sol: sol}, nil
}

func (g *Gate) rejected(reason string) {
	if g.onReject != nil {
		g.onReject(reason)
	}
}

// Held reports the runs and body bytes held, in all and by sol.
func (g *Gate) Held(sol string) (runs int, bytes int64, solRuns int, solBytes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u := g.per[sol]; u != nil {
		solRuns, solBytes = u.runs, u.bytes
	}
	return g.runs, g.bytes, solRuns, solBytes
}

var errReleased = errors.New("admission: the ticket was released")

// Ticket is one admitted run and the body bytes it holds.
type Ticket struct {
	g     *Gate
	sol   string
	bytes int64
	done  bool
}

// Reserve adds n body bytes to what the ticket holds, or refuses with an *Error (holding
// nothing more).
func (t *Ticket) Reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	g := t.g
	g.mu.Lock()
	if t.done {
		g.mu.Unlock()
		return errReleased
	}
	u := g.per[t.sol]
	var err *Error
	switch {
	case u.bytes+n > g.lim.BytesPerSolution:
		err = &Error{Reason: ReasonSolutionBytes, Limit: g.lim.BytesPerSolution}
	case g.bytes+n > g.lim.Bytes:
		err = &Error{Reason: ReasonBytes, Limit: g.lim.Bytes}
	default:
		u.bytes += n
		g.bytes += n
		t.bytes += n
	}
	g.mu.Unlock()
	if err != nil {
		g.rejected(err.Reason)
		return err
	}
	return nil
}

// Release gives back the run slot and every byte the ticket holds; later calls do nothing.
func (t *Ticket) Release() {
	if t == nil {
		return
	}
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	u := g.per[t.sol]
	u.runs--
	u.bytes -= t.bytes
	g.runs--
	g.bytes -= t.bytes
	if u.runs == 0 {
		delete(g.per, t.sol)
	}
}

// readChunk is how much a body of unknown length reserves at a time.
const readChunk = 64 << 10

// ReadBody reads body whole, holding its bytes on the ticket: a known length (>= 0) is
// reserved before anything is read; an unknown one (-1, chunked) in growing chunks as it
// arrives, each reserved before it is allocated. A body longer than limit is
// *http.MaxBytesError; a refusal is an *Error.
func (t *Ticket) ReadBody(body io.Reader, length, limit int64) ([]byte, error) {
	if length > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	if length >= 0 {
		if err := t.Reserve(length); err != nil {
			return nil, err
		}
		// One byte more than announced tells a body longer than it said.
		buf := make([]byte, length+1)
		n, err := io.ReadFull(body, buf)
		switch {
		case err == nil:
			return nil, fmt.Errorf("read body: longer than its Content-Length %d", length)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			if int64(n) < length {
				return nil, fmt.Errorf("read body: %w", io.ErrUnexpectedEOF)
			}
			return buf[:n], nil
		default:
			return nil, fmt.Errorf("read body: %w", err)
		}
	}
	var out []byte
	for {
		if len(out) == cap(out) {
			if int64(cap(out)) > limit {
				return nil, &http.MaxBytesError{Limit: limit}
			}
			// Doubling, as a growing buffer does, but reserved before it is allocated.
			grow := min(max(int64(readChunk), int64(cap(out))), limit+1-int64(cap(out)))
			if err := t.Reserve(grow); err != nil {
				return nil, err
			}
			nb := make([]byte, len(out), int64(cap(out))+grow)
			copy(nb, out)
			out = nb
		}
		n, err := body.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			return nil, &http.MaxBytesError{Limit: limit}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	}
}
