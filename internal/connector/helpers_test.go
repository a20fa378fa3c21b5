package connector

import (
	"context"
	"net"
	"sync"
	"testing"
)

// recordSink is a sink that keeps what it would store, as the hub's sink does: a message it
// could not make an event of is counted as rejected and does not fail the batch. fail, when
// set, decides per call (counted from 1) whether Publish fails.
type recordSink struct {
	mu       sync.Mutex
	calls    int
	msgs     []Message
	rejected int
	fail     func(call int, ms []Message) error
}

func (r *recordSink) Publish(_ context.Context, ms []Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		if err := r.fail(r.calls, ms); err != nil {
			return err
		}
	}
	for _, m := range ms {
		if _, err := EventOf(Connector{Solution: "demo", Name: "c1", Topic: "t"}, m); err != nil {
			r.rejected++
			continue
		}
		r.msgs = append(r.msgs, m)
	}
	return nil
}

// got is what was kept.
func (r *recordSink) got() []Message {
	ms, _ := r.stored()
	return ms
}

// stored is what was kept, and how many were rejected.
func (r *recordSink) stored() ([]Message, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...), r.rejected
}

// count is how many kept messages have data.
func (r *recordSink) count(data string) int {
	n := 0
	for _, m := range r.got() {
		if string(m.Data) == data {
			n++
		}
	}
	return n
}

// lockedCheckpoint is a Checkpoint in memory, safe for a source that saves from goroutines of
// its client.
type lockedCheckpoint struct {
	mu sync.Mutex
	v  []byte
}

func (c *lockedCheckpoint) Load(context.Context) ([]byte, error) { return c.get(), nil }

func (c *lockedCheckpoint) Save(_ context.Context, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.v = append([]byte(nil), v...)
	return nil
}

func (c *lockedCheckpoint) get() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.v...)
}

// freeAddr is a loopback address (127.0.0.1:port) nothing listens on: dialling it is refused,
// and a server may be started on it.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// silentListener accepts connections and never answers them, until the end of the test: a
// broker gone silent. accepted is how many connections it took.
func silentListener(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}
