package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/internal/events"
)

// States of an outbound connector, as the instance asked about knows it.
const (
	StateReady   = "ready"   // publishes go out (or none was tried yet)
	StateFailing = "failing" // the last publish failed; the next tries again
)

// OutboundOptions configure an Outbound.
type OutboundOptions struct {
	Store *Store
	// Guard is where senders may connect (see WithGuard); nil dials anywhere.
	Guard Guard
	// Instance names this instance in the status.
	Instance string
	Logger   *slog.Logger
	// PerSolution bounds the publishes of one solution under way at once on this instance;
	// one more is refused at once as busy. Default 32.
	PerSolution int
	// Total bounds the publishes of every solution under way at once. Default 256.
	Total int
	// Connections bounds the connections one solution's outbound connectors keep open on
	// this instance: one more closes the one unused longest, or, all in use, is refused as
	// busy. Default 16.
	Connections int
	// Idle is how long a connection is kept unused before it is closed. Default 3m.
	Idle time.Duration
}

// Defaults of OutboundOptions.
const (
	DefaultOutPerSolution = 32
	DefaultOutTotal       = 256
	DefaultOutConnections = 16
	DefaultOutIdle        = 3 * time.Minute
)

// Outbound publishes, on this instance, what scripts give outbound connectors: one sender
// (and so one connection) per outbound connector used here, opened on first use, closed when
// the connector changes, is paused or deleted, or goes unused for Idle.
type Outbound struct {
	opt OutboundOptions

	mu      sync.Mutex
	senders map[string]*outEntry // by <solution>.<name>
	stats   map[string]*outStats // by <solution>.<name>
	busy    map[string]int       // publishes under way, by solution
	total   int
	closed  bool

	stop chan struct{}
	wg   sync.WaitGroup
}

type outEntry struct {
	sol, name string
	version   uint64
	s         Sender
	users     int
	last      time.Time
}

type outStats struct {
	version   uint64
	published uint64
	failed    uint64
	lastError string
	failing   bool
	since     time.Time
}

// NewOutbound returns an Outbound publishing through the outbound connectors of o.Store.
func NewOutbound(o OutboundOptions) *Outbound {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PerSolution <= 0 {
		o.PerSolution = DefaultOutPerSolution
	}
	if o.Total <= 0 {
		o.Total = DefaultOutTotal
	}
	if o.Connections <= 0 {
		o.Connections = DefaultOutConnections
	}
	if o.Idle <= 0 {
		o.Idle = DefaultOutIdle
	}
	p := &Outbound{opt: o, senders: map[string]*outEntry{}, stats: map[string]*outStats{}, busy: map[string]int{}, stop: make(chan struct{})}
	o.Store.OnChange(p.sync)
	p.wg.Go(p.janitor)
	return p
}

// Close closes every connection and stops the janitor; publishes under way fail.
func (p *Outbound) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for key, e := range p.senders {
		delete(p.senders, key)
		p.closeLater(e.s)
	}
	p.mu.Unlock()
	close(p.stop)
	p.wg.Wait()
}

// ErrNoOutbound is a connector the calling solution does not have; another solution's is
// the same.
var ErrNoOutbound = errors.New("no such connector in this solution")

// ErrPaused is a publish through a paused outbound connector.
var ErrPaused = errors.New("the connector is paused")

// BusyError is a publish refused at once because too many are under way.
type BusyError struct {
	// Solution is true when the calling solution's bound was reached, false for the server's.
	Solution bool
	// Connections is true when the bound reached is the solution's open connections.
	Connections bool
	Limit       int
}

func (e *BusyError) Error() string {
	if e.Connections {
		return fmt.Sprintf("busy: the %d connections this solution's outbound connectors may keep open on this instance are all in use; try again shortly", e.Limit)
	}
	if e.Solution {
		return fmt.Sprintf("busy: %d publishes of this solution are under way on this instance, the most at once; try again shortly", e.Limit)
	}
	return fmt.Sprintf("busy: %d publishes are under way on this instance, the most at once; try again shortly", e.Limit)
}

// PublishError is a publish that failed at the broker, after Attempts attempts.
type PublishError struct {
	Attempts int
	// Timeout is true when the time the publish had ran out.
	Timeout bool
	Err     error
}

func (e *PublishError) Error() string {
	n := "1 attempt"
	if e.Attempts != 1 {
		n = fmt.Sprintf("%d attempts", e.Attempts)
	}
	return fmt.Sprintf("%v (%s)", e.Err, n)
}

func (e *PublishError) Unwrap() error { return e.Err }

// Lookup is the outbound connector name of solution sol and what its type does, or why it
// cannot publish: ErrNoOutbound (wrapped) when the solution has none of that name, an
// *ArgError when it is inbound, ErrPaused when paused.
func (p *Outbound) Lookup(sol, name string) (Connector, OutKind, error) {
	c, ok := p.opt.Store.Get(sol, name)
	if !ok {
		return Connector{}, OutKind{}, fmt.Errorf("connector %q: %w", name, ErrNoOutbound)
	}
	if c.Direction != DirectionOut {
		return Connector{}, OutKind{}, &ArgError{Arg: "connector", Reason: fmt.Sprintf("%s is an inbound connector (direction in), which brings messages in; publishing takes one of direction out", name)}
	}
	k, ok := OutKindOf(c.Type)
	if !ok {
		return Connector{}, OutKind{}, &ArgError{Arg: "connector", Reason: fmt.Sprintf("%s is of type %s, which cannot publish", name, c.Type)}
	}
	if c.Paused {
		return Connector{}, OutKind{}, fmt.Errorf("connector %s: %w", name, ErrPaused)
	}
	return c, k, nil
}

// Publish sends m through the outbound connector name of solution sol, attempting again
// after a failed connection or a timeout as its config's retry says, all within its timeout
// and ctx. A publish beyond the bounds is a *BusyError at once; a failure at the broker a
// *PublishError with the last error.
func (p *Outbound) Publish(ctx context.Context, sol, name string, m Outgoing) (Receipt, error) {
	done, err := p.admit(sol)
	if err != nil {
		return Receipt{}, err
	}
	defer done()
	c, k, err := p.Lookup(sol, name)
	if err != nil {
		return Receipt{}, err
	}
	if err := checkOutgoing(m); err != nil {
		return Receipt{}, err
	}
	common, err := parseOutCommon(c.Config)
	if err != nil {
		return Receipt{}, err // checked when stored; a type that changed its mind since
	}
	if m.ID == "" {
		m.ID = events.NewID()
	}
	ctx, cancel := context.WithTimeout(ctx, common.Timeout)
	defer cancel()
	ctx = WithGuard(ctx, p.opt.Guard)
	wait := common.Backoff
	var last error
	attempts := 0
	for left := common.Attempts; left > 0; left-- {
		e, err := p.acquire(c, k)
		if err != nil {
			last = err
			break
		}
		actx, acancel := attemptContext(ctx, left)
		r, err := e.s.Send(actx, m)
		acancel()
		p.release(e)
		attempts++
		if err == nil {
			p.count(c, nil)
			return r, nil
		}
		last = err
		if isPermanent(err) || ctx.Err() != nil || left == 1 {
			break
		}
		if dl, _ := ctx.Deadline(); time.Until(dl) <= wait {
			break // no time left for another attempt
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() != nil {
			break
		}
		wait = min(2*wait, outMaxBackoff)
		// The connector as it is now: changed meanwhile, the next attempt uses the new config.
		if c, k, err = p.Lookup(sol, name); err != nil {
			last = err
			break
		}
	}
	var (
		ae   *ArgError
		busy *BusyError
	)
	if errors.As(last, &ae) || errors.As(last, &busy) || errors.Is(last, ErrNoOutbound) || errors.Is(last, ErrPaused) {
		return Receipt{}, last // not the broker's doing
	}
	p.count(c, last)
	p.opt.Logger.Debug("outbound publish failed", "solution", sol, "connector", name, "attempts", attempts, "err", last)
	return Receipt{}, &PublishError{Attempts: attempts, Timeout: timedOut(ctx, last), Err: last}
}

// attemptContext bounds one attempt of left: an equal share of the time left, or at least
// outMinAttemptTime when that much is left, so that a broker that does not answer leaves time
// for the attempts after.
func attemptContext(ctx context.Context, left int) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok || left <= 1 {
		return context.WithCancel(ctx)
	}
	remaining := time.Until(dl)
	share := remaining / time.Duration(left)
	if share < outMinAttemptTime {
		share = min(remaining, outMinAttemptTime)
	}
	return context.WithTimeout(ctx, share)
}

func timedOut(ctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// admit counts a publish of sol in, or refuses it when a bound is reached.
func (p *Outbound) admit(sol string) (func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errSenderClosed
	}
	if p.busy[sol] >= p.opt.PerSolution {
		return nil, &BusyError{Solution: true, Limit: p.opt.PerSolution}
	}
	if p.total >= p.opt.Total {
		return nil, &BusyError{Limit: p.opt.Total}
	}
	p.busy[sol]++
	p.total++
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.total--
		if p.busy[sol]--; p.busy[sol] == 0 {
			delete(p.busy, sol)
		}
	}, nil
}

// acquire is the sender of c, made if need be, counted as in use until release.
func (p *Outbound) acquire(c Connector, k OutKind) (*outEntry, error) {
	key := c.Solution + "." + c.Name
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errSenderClosed
	}
	e := p.senders[key]
	if e != nil && e.version != c.Version {
		// Changed, and the change not yet seen by sync.
		delete(p.senders, key)
		p.closeLater(e.s)
		e = nil
	}
	if e == nil {
		if err := p.makeRoomLocked(c.Solution); err != nil {
			return nil, err
		}
		s, err := k.New(c.Config) // connects nowhere
		if err != nil {
			return nil, permanent(err)
		}
		e = &outEntry{sol: c.Solution, name: c.Name, version: c.Version, s: s}
		p.senders[key] = e
	}
	e.users++
	e.last = time.Now()
	return e, nil
}

// makeRoomLocked closes, when sol has as many senders as it may, the one unused longest; all in
// use, it refuses.
func (p *Outbound) makeRoomLocked(sol string) error {
	n := 0
	var lru string
	for key, e := range p.senders {
		if e.sol != sol {
			continue
		}
		n++
		if e.users == 0 && (lru == "" || e.last.Before(p.senders[lru].last)) {
			lru = key
		}
	}
	if n < p.opt.Connections {
		return nil
	}
	if lru == "" {
		return &BusyError{Solution: true, Connections: true, Limit: p.opt.Connections}
	}
	p.closeLater(p.senders[lru].s)
	delete(p.senders, lru)
	return nil
}

func (p *Outbound) release(e *outEntry) {
	p.mu.Lock()
	e.users--
	e.last = time.Now()
	p.mu.Unlock()
}

// closeLater closes s away from the caller, which may hold locks; Close waits for it.
func (p *Outbound) closeLater(s Sender) {
	p.wg.Go(func() { s.Close() }) //nolint:errcheck // nothing to do about it
}

// sync closes the senders of connectors changed, paused or deleted, and forgets the counts
// of those gone.
func (p *Outbound) sync() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for key, e := range p.senders {
		c, ok := p.opt.Store.Get(e.sol, e.name)
		if !ok || c.Version != e.version || c.Direction != DirectionOut || c.Paused {
			delete(p.senders, key)
			p.closeLater(e.s)
		}
	}
	for key, st := range p.stats {
		sol, name := splitKey(key)
		if c, ok := p.opt.Store.Get(sol, name); !ok || c.Direction != DirectionOut {
			delete(p.stats, key)
		} else if c.Version != st.version {
			delete(p.stats, key) // counts are of a version, as an inbound connector's of a run
		}
	}
}

// splitKey is the solution and name of a <solution>.<name> key (neither has a dot).
func splitKey(key string) (string, string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '.' {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}

// janitor closes connections unused for Idle.
func (p *Outbound) janitor() {
	t := time.NewTicker(max(p.opt.Idle/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			for key, e := range p.senders {
				if e.users == 0 && now.Sub(e.last) >= p.opt.Idle {
					delete(p.senders, key)
					p.closeLater(e.s)
				}
			}
			p.mu.Unlock()
		}
	}
}

// count records the outcome of a publish through c.
func (p *Outbound) count(c Connector, err error) {
	key := c.Solution + "." + c.Name
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats[key]
	if st == nil || st.version != c.Version {
		st = &outStats{version: c.Version, since: time.Now().UTC()}
		p.stats[key] = st
	}
	if err == nil {
		st.published++
		if st.failing {
			st.failing, st.since = false, time.Now().UTC()
		}
		return
	}
	st.failed++
	st.lastError = err.Error()
	if !st.failing {
		st.failing, st.since = true, time.Now().UTC()
	}
}

// Status is how the outbound connector c is doing on this instance: its publishes and
// failures here since it last changed (each instance counts its own).
func (p *Outbound) Status(c Connector) Status {
	if c.Paused {
		return Status{State: StatePaused, Version: c.Version}
	}
	st := Status{State: StateReady, Instance: p.opt.Instance, Version: c.Version}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stats[c.Solution+"."+c.Name]; s != nil && s.version == c.Version {
		st.Published, st.Failed, st.LastError, st.Since = s.published, s.failed, s.lastError, s.since
		if s.failing {
			st.State = StateFailing
		}
	}
	return st
}
