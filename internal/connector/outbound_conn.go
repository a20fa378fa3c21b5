package connector

import (
	"context"
	"sync"
	"time"
)

// lazyConn is a sender's connection: opened by the first Send that needs it, shared by the
// Sends after it, and dropped (closed) by one that finds it broken, so that the next opens
// another. Waiting for another's opening ends with the waiter's context, never on a lock.
type lazyConn[C any] struct {
	open func(ctx context.Context) (C, error)
	shut func(C)

	sem    chan struct{} // held while opening
	mu     sync.Mutex
	cur    *C
	gen    uint64 // of cur: a drop names the connection it found broken
	closed bool
	shuts  sync.WaitGroup // connections dropped, being closed
}

func newLazyConn[C any](open func(ctx context.Context) (C, error), shut func(C)) *lazyConn[C] {
	return &lazyConn[C]{open: open, shut: shut, sem: make(chan struct{}, 1)}
}

// current is the open connection and its generation, if any.
func (l *lazyConn[C]) current() (C, uint64, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var zero C
	if l.closed {
		return zero, 0, false, errSenderClosed
	}
	if l.cur == nil {
		return zero, 0, false, nil
	}
	return *l.cur, l.gen, true, nil
}

// get is the connection, opened if need be within ctx.
func (l *lazyConn[C]) get(ctx context.Context) (C, uint64, error) {
	if c, g, ok, err := l.current(); ok || err != nil {
		return c, g, err
	}
	var zero C
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return zero, 0, ctx.Err()
	}
	defer func() { <-l.sem }()
	// Another may have opened it while this one waited.
	if c, g, ok, err := l.current(); ok || err != nil {
		return c, g, err
	}
	c, err := l.open(ctx)
	if err != nil {
		return zero, 0, err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.shut(c)
		return zero, 0, errSenderClosed
	}
	l.gen++
	l.cur = &c
	g := l.gen
	l.mu.Unlock()
	return c, g, nil
}

// drop closes the connection of generation g, if it is still the one held. The closing goes
// on apart (a close handshake with a broker gone silent takes its while), so that the caller
// may open another at once; close waits for it.
func (l *lazyConn[C]) drop(g uint64) {
	l.mu.Lock()
	if l.cur == nil || l.gen != g {
		l.mu.Unlock()
		return
	}
	c := *l.cur
	l.cur = nil
	l.shuts.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.shuts.Done()
		l.shut(c)
	}()
}

// close closes the connection held, and makes every later get fail; it returns once every
// connection it had is closed.
func (l *lazyConn[C]) close() {
	l.mu.Lock()
	l.closed = true
	c := l.cur
	l.cur = nil
	l.mu.Unlock()
	if c != nil {
		l.shut(*c)
	}
	l.shuts.Wait()
}

// connectWithin is how long a connection may take to open: the connector's connect timeout,
// or less when ctx ends sooner.
func connectWithin(ctx context.Context, connect time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < connect {
			return max(left, time.Millisecond)
		}
	}
	return connect
}
