package dynamic

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// directTransport sends plain-HTTP requests over kept-alive HTTP/1.1 connections on the calling
// goroutine and hands anything else (https, a URL with user info) to next.
//
// Why not net/http's Transport alone: it runs a reader and a writer goroutine per connection, so
// one call hands off between goroutines three times. When the hub is not saturated each hand-off
// wakes a parked thread, which on a small machine costs more than the call's own work
// (BENCHMARKS.md, "Dynamic service calls"). Here the caller writes the request and reads the
// response itself; net/http still writes and parses the messages (Request.Write,
// http.ReadResponse).
type directTransport struct {
	next        http.RoundTripper
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int           // idle connections kept per host
	idleTimeout time.Duration // an idle connection older than this is closed

	mu     sync.Mutex
	idle   map[string][]*directConn // by host:port, most recently used last
	reaper *time.Timer              // closes expired idle connections; nil when none are idle
}

// directConn is a connection with its buffers.
type directConn struct {
	net.Conn
	key    string
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// aLongTimeAgo is a deadline in the past: setting it makes a blocked read or write return.
var aLongTimeAgo = time.Unix(1, 0)

// errNoAnswer is a failure before any byte of an answer arrived: sending the request, or the
// connection ending at once. A replayable request may go again.
type errNoAnswer struct{ err error }

func (e errNoAnswer) Error() string { return e.err.Error() }
func (e errNoAnswer) Unwrap() error { return e.err }

func (t *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.URL.User != nil || req.URL.Host == "" {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	key := hostPort(req.URL.Host)
	for attempt := 0; ; attempt++ {
		c, reused, err := t.conn(ctx, key)
		if err != nil {
			closeBody(req)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		resp, err := t.exchange(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A kept-alive connection the service closed just as it was taken: nothing reached the
		// service, so a replayable request goes again on a new connection, as net/http does.
		if reused && attempt == 0 && replayable(req) && errors.As(err, new(errNoAnswer)) {
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				req = req.Clone(ctx) // a RoundTripper must not change the caller's request
				req.Body = body
			}
			continue
		}
		return nil, err
	}
}

// exchange writes req on c and reads the response's head. The body, read by the caller, puts c
// back in the pool once it has been read to its end.
func (t *directTransport) exchange(ctx context.Context, c *directConn, req *http.Request) (*http.Response, error) {
	// Canceling ctx unblocks the read or write in progress; no goroutine waits for it.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	if err := req.Write(c.bw); err != nil {
		stop()
		return nil, errNoAnswer{err}
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, errNoAnswer{err}
	}
	if _, err := c.br.Peek(1); err != nil {
		stop()
		return nil, errNoAnswer{err}
	}
	resp, err := http.ReadResponse(c.br, req)
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(c.br, req) // skip 1xx informational answers
	}
	if err != nil {
		stop()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		resp.Body.Close()
		return nil, fmt.Errorf("unexpected %s", resp.Status)
	}
	// A body delimited by the connection's end leaves nothing to reuse.
	framed := resp.ContentLength >= 0 || (len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked")
	resp.Body = &directBody{rc: resp.Body, t: t, c: c, stop: stop, reusable: framed && !resp.Close && !req.Close}
	return resp, nil
}

// conn returns an idle connection to key that is still open, or dials one.
func (t *directTransport) conn(ctx context.Context, key string) (c *directConn, reused bool, err error) {
	now := time.Now()
	for {
		t.mu.Lock()
		list := t.idle[key]
		if len(list) == 0 {
			t.mu.Unlock()
			break
		}
		c = list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[key] = list[:len(list)-1]
		t.mu.Unlock()
		if now.Sub(c.idleAt) < t.idleTimeout && alive(c.Conn) {
			return c, true, nil
		}
		c.Close()
	}
	nc, err := t.dial(ctx, "tcp", key)
	if err != nil {
		return nil, false, err
	}
	return &directConn{Conn: nc, key: key, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}, false, nil
}

// put keeps c for the next request to its host, unless enough are kept already.
func (t *directTransport) put(c *directConn) {
	if c.br.Buffered() > 0 { // the service sent more than its response
		c.Close()
		return
	}
	c.idleAt = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idle == nil {
		t.idle = map[string][]*directConn{}
	}
	if len(t.idle[c.key]) >= t.maxIdle {
		c.Close()
		return
	}
	t.idle[c.key] = append(t.idle[c.key], c)
	if t.reaper == nil {
		t.reaper = time.AfterFunc(t.idleTimeout, t.reap)
	}
}

// reap closes the connections idle for longer than idleTimeout, and comes back while any are
// left.
func (t *directTransport) reap() {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, list := range t.idle {
		kept := list[:0]
		for _, c := range list {
			if now.Sub(c.idleAt) >= t.idleTimeout {
				c.Close()
			} else {
				kept = append(kept, c)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, key)
		} else {
			t.idle[key] = kept
		}
	}
	if len(t.idle) == 0 {
		t.reaper = nil
		return
	}
	t.reaper.Reset(t.idleTimeout)
}

// CloseIdleConnections closes the kept connections, here and in next.
func (t *directTransport) CloseIdleConnections() {
	t.mu.Lock()
	for _, list := range t.idle {
		for _, c := range list {
			c.Close()
		}
	}
	t.idle = nil
	if t.reaper != nil {
		t.reaper.Stop()
		t.reaper = nil
	}
	t.mu.Unlock()
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// directBody is a response body on a directConn: read to its end, it gives the connection back.
type directBody struct {
	rc       io.ReadCloser
	t        *directTransport
	c        *directConn
	stop     func() bool
	reusable bool
	eof      bool // read to its end
	released bool // the connection is no longer this body's
}

func (b *directBody) Read(p []byte) (int, error) {
	if b.released {
		if b.eof {
			return 0, io.EOF
		}
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
		b.release()
	case err != nil:
		b.release()
	}
	return n, err
}

func (b *directBody) Close() error {
	if !b.released {
		b.release()
	}
	return nil
}

// release gives the connection back if the body was read to its end and the call's context did
// not end meanwhile (which leaves a past deadline on the connection); else closes it.
func (b *directBody) release() {
	b.released = true
	if b.stop() && b.eof && b.reusable {
		b.t.put(b.c)
		return
	}
	b.c.Close()
}

// hostPort is host with the default HTTP port when it has none.
func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(trimBrackets(host), "80")
}

func trimBrackets(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// replayable reports whether req may be sent twice: an idempotent method whose body, if any,
// can be had again (net/http's rule, without its Idempotency-Key headers).
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	}
	return false
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
