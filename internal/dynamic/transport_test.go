package dynamic

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer is a TCP server whose every connection is handled by serve, one request read at
// a time; it counts the connections it accepted.
type rawServer struct {
	l        net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

// startRaw starts a rawServer; serve gets each request with its index on its connection
// (0 for the first) and writes whatever answer the test wants, or closes the connection.
func startRaw(t *testing.T, serve func(c net.Conn, req *http.Request, n int)) *rawServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{l: l}
	t.Cleanup(func() {
		l.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						c.Close()
						return
					}
					io.Copy(io.Discard, req.Body) //nolint:errcheck // test server
					serve(c, req, n)
				}
			}()
		}
	}()
	return s
}

func (s *rawServer) url() string { return "http://" + s.l.Addr().String() }

const okResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"

func newDirect() *directTransport {
	dial := (&net.Dialer{Timeout: time.Second}).DialContext
	return &directTransport{next: http.DefaultTransport, dial: dial, maxIdle: 4, idleTimeout: time.Minute}
}

// roundTrip sends method to url through tr and returns the body it read to its end.
func roundTrip(t *testing.T, ctx context.Context, tr http.RoundTripper, method, url, body string) (string, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return string(data), err
}

func (t *directTransport) idleCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, l := range t.idle {
		n += len(l)
	}
	return n
}

// TestDirectTransportReuse: which answers leave a connection to reuse, over three calls.
func TestDirectTransportReuse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		response string
		closes   bool // the server closes the connection after answering
		body     string
		dials    int64
	}{
		{"content-length", okResponse, false, `{"ok":true}`, 1},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, "hello", 1},
		{"no body", "HTTP/1.1 204 No Content\r\n\r\n", false, "", 1},
		{"1xx first", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + okResponse, false, `{"ok":true}`, 1},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi", true, "hi", 3},
		{"body to the end of the connection", "HTTP/1.1 200 OK\r\n\r\nuntil close", true, "until close", 3},
		{"more than the response", okResponse + "garbage", false, `{"ok":true}`, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startRaw(t, func(c net.Conn, req *http.Request, n int) {
				io.WriteString(c, tc.response) //nolint:errcheck // test server
				if tc.closes {
					c.Close()
				}
			})
			tr := newDirect()
			for i := 0; i < 3; i++ {
				got, err := roundTrip(t, context.Background(), tr, "POST", srv.url()+"/op", `{"a":1}`)
				if err != nil || got != tc.body {
					t.Fatalf("call %d: %q, %v; want %q", i, got, err, tc.body)
				}
			}
			if n := srv.accepted.Load(); n != tc.dials {
				t.Errorf("%d connections for 3 calls; want %d", n, tc.dials)
			}
		})
	}
}

// TestDirectTransportStaleConnection: a kept connection the service has closed since is not
// used; the next call, even a POST, gets a new connection and succeeds.
func TestDirectTransportStaleConnection(t *testing.T) {
	t.Parallel()
	srv := startRaw(t, func(c net.Conn, _ *http.Request, _ int) {
		io.WriteString(c, okResponse) //nolint:errcheck // test server
		c.Close()                     // as a server closing idle connections at once would
	})
	tr := newDirect()
	for i := 0; i < 3; i++ {
		if got, err := roundTrip(t, context.Background(), tr, "POST", srv.url()+"/op", `{}`); err != nil || got != `{"ok":true}` {
			t.Fatalf("call %d: %q, %v", i, got, err)
		}
		// The answer said nothing of closing, so the connection was kept; wait for the close to
		// be visible before the next call takes it.
		waitFor(t, "the service's close", func() bool {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			for _, l := range tr.idle {
				for _, c := range l {
					if alive(c.Conn) {
						return false
					}
				}
			}
			return true
		})
	}
	if n := srv.accepted.Load(); n != 3 {
		t.Errorf("%d connections; want 3", n)
	}
}

// TestDirectTransportReplay: a connection that fails before any answer is retried once on a
// new connection for an idempotent request, never for a POST.
func TestDirectTransportReplay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method  string
		replays bool
	}{{"GET", true}, {"PUT", true}, {"DELETE", true}, {"POST", false}, {"PATCH", false}} {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			srv := startRaw(t, func(c net.Conn, _ *http.Request, n int) {
				if n == 1 { // the second request on a connection: drop it unanswered
					c.Close()
					return
				}
				io.WriteString(c, okResponse) //nolint:errcheck // test server
			})
			tr := newDirect()
			body := ""
			if tc.method != "GET" && tc.method != "DELETE" {
				body = `{"a":1}`
			}
			if _, err := roundTrip(t, context.Background(), tr, tc.method, srv.url()+"/op", body); err != nil {
				t.Fatal(err)
			}
			got, err := roundTrip(t, context.Background(), tr, tc.method, srv.url()+"/op", body)
			if tc.replays && (err != nil || got != `{"ok":true}`) {
				t.Errorf("second call: %q, %v; want it replayed on a new connection", got, err)
			}
			if !tc.replays && err == nil {
				t.Errorf("second call succeeded (%q); a %s must not be sent twice", got, tc.method)
			}
			want := int64(1)
			if tc.replays {
				want = 2
			}
			if n := srv.accepted.Load(); n != want {
				t.Errorf("%d connections; want %d", n, want)
			}
		})
	}
}

// TestDirectTransportUnreadBody: a body closed before its end takes its connection with it.
func TestDirectTransportUnreadBody(t *testing.T) {
	t.Parallel()
	srv := startRaw(t, func(c net.Conn, _ *http.Request, _ int) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789") //nolint:errcheck // test server
	})
	tr := newDirect()
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", srv.url()+"/op", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, err := resp.Body.Read(buf); !errors.Is(err, http.ErrBodyReadAfterClose) {
			t.Errorf("read after close: %v", err)
		}
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("%d connections; want 2 (an unread body's connection is not reused)", n)
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections; want 0", n)
	}
}

// TestDirectTransportCancel: a service that does not answer is left when the context ends,
// and its connection is not reused.
func TestDirectTransportCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := startRaw(t, func(c net.Conn, req *http.Request, _ int) {
		if req.URL.Path == "/hang" {
			<-release
			return
		}
		io.WriteString(c, okResponse) //nolint:errcheck // test server
	})
	tr := newDirect()
	if _, err := roundTrip(t, context.Background(), tr, "GET", srv.url()+"/ok", ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := roundTrip(t, ctx, tr, "GET", srv.url()+"/hang", "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s", d)
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections after a canceled call; want 0", n)
	}
	if got, err := roundTrip(t, context.Background(), tr, "GET", srv.url()+"/ok", ""); err != nil || got != `{"ok":true}` {
		t.Errorf("call after the canceled one: %q, %v", got, err)
	}
}

// TestDirectTransportGarbage: an answer that is not HTTP is an error, and nothing is kept.
func TestDirectTransportGarbage(t *testing.T) {
	t.Parallel()
	for _, answer := range []string{"garbage\r\n\r\n", "HTTP/1.1 abc\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\n\r\n", ""} {
		srv := startRaw(t, func(c net.Conn, _ *http.Request, _ int) {
			io.WriteString(c, answer) //nolint:errcheck // test server
			c.Close()
		})
		tr := newDirect()
		if got, err := roundTrip(t, context.Background(), tr, "POST", srv.url()+"/op", "{}"); err == nil {
			t.Errorf("answer %q: got %q and no error", answer, got)
		}
		if n := tr.idleCount(); n != 0 {
			t.Errorf("answer %q: %d idle connections", answer, n)
		}
	}
}

// TestDirectTransportLimits: at most maxIdle connections are kept per host; expired ones are
// closed by the reaper, and CloseIdleConnections closes the rest.
func TestDirectTransportLimits(t *testing.T) {
	t.Parallel()
	srv := startRaw(t, func(c net.Conn, _ *http.Request, _ int) {
		io.WriteString(c, okResponse) //nolint:errcheck // test server
	})
	tr := newDirect()
	tr.maxIdle = 2
	// Six responses open at once need six connections; two are kept once they are read.
	var bodies []io.ReadCloser
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest("GET", srv.url()+"/op", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	for _, b := range bodies {
		io.ReadAll(b) //nolint:errcheck // test
		b.Close()
	}
	if n := tr.idleCount(); n != 2 {
		t.Errorf("%d idle connections; want 2", n)
	}
	tr.CloseIdleConnections()
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections after CloseIdleConnections", n)
	}

	tr.idleTimeout = 20 * time.Millisecond
	if _, err := roundTrip(t, context.Background(), tr, "GET", srv.url()+"/op", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reaper", func() bool { return tr.idleCount() == 0 })
	tr.mu.Lock()
	reaper := tr.reaper
	tr.mu.Unlock()
	if reaper != nil {
		t.Error("the reaper is still armed with nothing to reap")
	}
}

// TestDirectTransportHandsOn: https goes to the next transport.
func TestDirectTransportHandsOn(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto) //nolint:errcheck // test
	}))
	t.Cleanup(srv.Close)
	tr := newDirect()
	tr.next = srv.Client().Transport
	got, err := roundTrip(t, context.Background(), tr, "GET", srv.URL+"/", "")
	if err != nil || got == "" {
		t.Fatalf("https through next: %q, %v", got, err)
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle direct connections after an https call", n)
	}
}

func TestHostPort(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"example.com":      "example.com:80",
		"example.com:8080": "example.com:8080",
		"[::1]":            "[::1]:80",
		"[::1]:9":          "[::1]:9",
		"10.0.0.1":         "10.0.0.1:80",
	} {
		if got := hostPort(in); got != want {
			t.Errorf("hostPort(%q) = %q; want %q", in, got, want)
		}
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
