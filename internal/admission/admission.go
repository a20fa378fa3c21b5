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

// Open returns a ticket for solution sol that holds nothing yet: body bytes are reserved on it
// as they arrive (ReadBody), and Run takes its run slot once the body is in, so a body that
// is slow to arrive holds no run slot. The ticket must be released once the answer is written.
func (g *Gate) Open(sol string) *Ticket { return &Ticket{g: g, sol: sol} }

// Enter takes one run slot for solution sol at once (Open, then Run). A refusal is an *Error.
func (g *Gate) Enter(sol string) (*Ticket, error) {
	t := g.Open(sol)
	if err := t.Run(); err != nil {
		return nil, err
	}
	return t, nil
}

// Run takes the ticket's run slot (once; later calls do nothing). A refusal is an *Error.
func (t *Ticket) Run() error {
	if t == nil {
		return nil
	}
	g := t.g
	g.mu.Lock()
	if t.done || t.runs > 0 {
		done := t.done
		g.mu.Unlock()
		if done {
			return errReleased
		}
		return nil
	}
	u := g.per[t.sol]
	var err *Error
	switch {
	case u != nil && u.runs >= g.lim.RunsPerSolution:
		err = &Error{Reason: ReasonSolutionRuns, Limit: int64(g.lim.RunsPerSolution)}
	case g.runs >= g.lim.Runs:
		err = &Error{Reason: ReasonRuns, Limit: int64(g.lim.Runs)}
	}
	if err == nil {
		u = g.usage(t.sol)
		u.runs++
		g.runs++
		t.runs++
	}
	g.mu.Unlock()
	if err != nil {
		g.rejected(err.Reason)
		return err
	}
	return nil
}

// RunMore takes up to n more run slots for the same request (a trigger's several handlers), as
// many as both bounds leave free now, and returns how many it took; it never refuses, so what
// cannot run at once runs in turn. A nil ticket (no gate) takes all n.
func (t *Ticket) RunMore(n int) int {
	if t == nil {
		return n
	}
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.done || n <= 0 {
		return 0
	}
	u := g.usage(t.sol)
	k := max(0, min(n, g.lim.RunsPerSolution-u.runs, g.lim.Runs-g.runs))
	u.runs += k
	g.runs += k
	t.runs += k
	g.forget(t.sol, u)
	return k
}

// usage is sol's entry, made if it has none; g.mu is held.
func (g *Gate) usage(sol string) *usage {
	u := g.per[sol]
	if u == nil {
		u = &usage{}
		g.per[sol] = u
	}
	return u
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

// Ticket is one request of a solution: the body bytes it holds and, once admitted, its run
// slot. A nil *Ticket holds nothing and refuses nothing (no gate).
type Ticket struct {
	g     *Gate
	sol   string
	bytes int64
	runs  int
	done  bool
}

// Reserve adds n body bytes to what the ticket holds, or refuses with an *Error (holding
// nothing more).
func (t *Ticket) Reserve(n int64) error {
	if t == nil || n <= 0 {
		return nil
	}
	g := t.g
	g.mu.Lock()
	if t.done {
		g.mu.Unlock()
		return errReleased
	}
	u := g.usage(t.sol)
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
	g.forget(t.sol, u)
	g.mu.Unlock()
	if err != nil {
		g.rejected(err.Reason)
		return err
	}
	return nil
}

// giveBack returns n of the bytes the ticket holds (a buffer it no longer uses).
func (t *Ticket) giveBack(n int64) {
	if t == nil || n <= 0 {
		return
	}
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.done {
		return
	}
	u := g.per[t.sol]
	u.bytes -= n
	g.bytes -= n
	t.bytes -= n
	g.forget(t.sol, u)
}

// forget drops sol's entry once it holds nothing; g.mu is held.
func (g *Gate) forget(sol string, u *usage) {
	if u.runs == 0 && u.bytes == 0 {
		delete(g.per, sol)
	}
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
	if u == nil { // held nothing
		return
	}
	u.runs -= t.runs
	g.runs -= t.runs
	u.bytes -= t.bytes
	g.bytes -= t.bytes
	g.forget(t.sol, u)
}

// upFront is the largest known length reserved before any of it arrives: no more than the
// server's own buffers for a connection, so a stalled sender holds no more than it costs already.
const upFront = 4 << 10

// readChunk is the first piece of a body that is reserved and allocated before its bytes
// arrive; the buffer then doubles as they do.
const readChunk = 64 << 10

// ReadBody reads body whole, holding its bytes on the ticket as they arrive: once the first
// byte is in (or at once, for a known length of at most 4 KiB), the buffer starts at one chunk
// (or the whole body, when its length is known and smaller) and doubles as it fills, each buffer reserved before it is allocated, the old one counted too while it is
// copied. So a sender holds what it has sent (at most about twice that, while it is copied),
// never what it only announced. length is the announced length (-1 unknown); a body longer
// than limit is *http.MaxBytesError; a refusal is an *Error.
func (t *Ticket) ReadBody(body io.Reader, length, limit int64) ([]byte, error) {
	if length > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	end := limit // the largest the buffer may grow
	if length >= 0 {
		end = length
	}
	var head []byte
	if end > upFront {
		// Nothing is reserved until the body starts to arrive: a stalled sender holds nothing.
		var b [1]byte
		n, err := io.ReadFull(body, b[:])
		switch {
		case errors.Is(err, io.EOF) && length <= 0:
			return []byte{}, nil
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("read body: %w", io.ErrUnexpectedEOF)
		case err != nil:
			return nil, fmt.Errorf("read body: %w", err)
		}
		head = b[:n]
	}
	first := min(end, readChunk)
	if err := t.Reserve(first); err != nil {
		return nil, err
	}
	// A body read whole at once gets one byte more, as a Read may not say EOF with its last
	// bytes: the next one does, into that byte, or tells a body longer than announced.
	spare := int64(0)
	if first == end {
		spare = 1
	}
	out := append(make([]byte, 0, first+spare), head...)
	for {
		if len(out) == cap(out) && int64(len(out)) < end {
			size := min(2*int64(cap(out)), end)
			// Both buffers are live while the old one is copied.
			if err := t.Reserve(size); err != nil {
				return nil, err
			}
			nb := make([]byte, len(out), size)
			copy(nb, out)
			t.giveBack(int64(cap(out)))
			out = nb
		}
		var n int
		var err error
		if len(out) < cap(out) {
			n, err = body.Read(out[len(out):cap(out)])
			out = out[:len(out)+n]
		} else if n, err = body.Read(make([]byte, 1)); n > 0 {
			// Full: only the end of the body may follow.
			return nil, tooLong(length, limit)
		}
		switch {
		case int64(len(out)) > end:
			return nil, tooLong(length, limit)
		case err == nil:
		case !errors.Is(err, io.EOF):
			return nil, fmt.Errorf("read body: %w", err)
		case int64(len(out)) < length:
			return nil, fmt.Errorf("read body: %w", io.ErrUnexpectedEOF)
		default:
			return out, nil
		}
	}
}

// tooLong is the error for a body longer than its announced length, or than limit.
func tooLong(length, limit int64) error {
	if length >= 0 {
		return fmt.Errorf("read body: longer than its Content-Length %d", length)
	}
	return &http.MaxBytesError{Limit: limit}
}
