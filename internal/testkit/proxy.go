package testkit

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards the TCP connections made to its Addr to a target, and can cut the network
// between the two sides as a link that went down does: Cut stops every byte both ways, the
// connections staying open and new ones being taken with nothing getting through, until
// Restore lets what waited go on (TCP would deliver it: nothing is lost in the proxy).
type Proxy struct {
	Addr   string
	target string
	l      net.Listener

	mu    sync.Mutex
	open  chan struct{} // closed while bytes flow
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartProxy listens on a loopback port for connections to target; the test's end closes it
// and every connection through it.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l, open: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.open)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// SetTarget sets where new connections go: a test that must know the proxy's address before
// its target's (to advertise it) starts the proxy first, with target "", and so never picks a
// free port for the target that the proxy's own listener then takes.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

// Cut stops the bytes both ways.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default: // already cut
	}
}

// Restore lets the bytes flow again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// gate is closed while bytes may flow.
func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// track remembers c for close; false once the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	<-p.gate() // a connection made while the link is down gets through once it is back
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil || !p.track(up) {
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pipe(up, c) }()
	go func() { defer both.Done(); p.pipe(c, up) }()
	both.Wait()
}

// pipe copies src to dst, each chunk waiting for the link to be up.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF included: the other side closed
			return
		}
	}
}

// close ends the proxy and every connection through it.
func (p *Proxy) close() {
	p.l.Close()
	p.Restore()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
