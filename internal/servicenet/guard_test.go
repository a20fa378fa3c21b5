package servicenet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	ctx := context.Background()
	open, err := New(ctx, Options{Own: []string{"127.0.0.1:8080", "0.0.0.0:4222", "[::]:9090", "localhost:7000"}})
	if err != nil {
		t.Fatal(err)
	}
	open.local = func() []netip.Addr {
		return []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fd00::5")}
	}
	nets, err := ParseNetworks("10.0.0.0/8, 192.168.7.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	limited, err := New(ctx, Options{Networks: nets, Own: []string{"10.9.9.9:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	var zero *Guard
	tests := []struct {
		name string
		g    *Guard
		addr string
		deny string // "" = allowed; else a word of the reason
	}{
		{"loopback service", open, "127.0.0.1:8091", ""},
		{"ipv6 loopback service", open, "[::1]:8091", ""},
		{"private address", open, "10.20.30.40:80", ""},
		{"public address", open, "93.184.216.34:443", ""},
		{"metadata", open, "169.254.169.254:80", "link-local"},
		{"link-local v4", open, "169.254.1.1:8080", "link-local"},
		{"link-local v6", open, "[fe80::1]:80", "link-local"},
		{"link-local v6 with zone", open, "[fe80::1%eth0]:80", "link-local"},
		{"mapped metadata", open, "[::ffff:169.254.169.254]:80", "link-local"},
		{"nat64 metadata", open, "[64:ff9b::a9fe:a9fe]:80", "NAT64"},
		{"aws v6 metadata", open, "[fd00:ec2::254]:80", "metadata"},
		{"alibaba metadata", open, "100.100.100.200:80", "metadata"},
		{"unspecified v4", open, "0.0.0.0:8091", "unspecified"},
		{"this network", open, "0.1.2.3:8091", "unspecified"},
		{"unspecified v6", open, "[::]:8091", "unspecified"},
		{"mapped unspecified", open, "[::ffff:0.0.0.0]:8091", "unspecified"},
		{"broadcast", open, "255.255.255.255:80", "broadcast"},
		{"multicast", open, "224.0.0.1:80", "multicast"},
		{"own API", open, "127.0.0.1:8080", "own listeners"},
		{"own API, mapped", open, "[::ffff:127.0.0.1]:8080", "own listeners"},
		{"own API port on another loopback address", open, "127.0.0.2:8080", ""},
		{"own listener by name", open, "127.0.0.1:7000", "own listeners"},
		{"NATS on 0.0.0.0, via loopback", open, "127.0.0.1:4222", "own listeners"},
		{"NATS on 0.0.0.0, via 127.0.0.2", open, "127.0.0.2:4222", "own listeners"},
		{"NATS on 0.0.0.0, via an interface", open, "10.1.2.3:4222", "own listeners"},
		{"NATS on 0.0.0.0, via ::1", open, "[::1]:4222", "own listeners"},
		{"NATS port on another machine", open, "10.1.2.4:4222", ""},
		{"metrics on [::], via an interface", open, "[fd00::5]:9090", "own listeners"},
		{"zero guard: service", zero, "127.0.0.1:8080", ""},
		{"zero guard: metadata", zero, "169.254.169.254:80", "link-local"},
		{"inside the networks", limited, "10.20.30.40:80", ""},
		{"a single address network", limited, "192.168.7.7:80", ""},
		{"next to it", limited, "192.168.7.8:80", "outside"},
		{"mapped, inside", limited, "[::ffff:10.1.1.1]:80", ""},
		{"v6 inside", limited, "[fd12::1]:80", ""},
		{"loopback outside the networks", limited, "127.0.0.1:8091", "outside"},
		{"own listener inside the networks", limited, "10.9.9.9:8080", "own listeners"},
		{"metadata even when inside", func() *Guard {
			g, _ := New(ctx, Options{Networks: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
			return g
		}(), "169.254.169.254:80", "link-local"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ap, err := netip.ParseAddrPort(tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.g.Check(ap)
			if tc.deny == "" {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want allowed", tc.addr, err)
				}
				return
			}
			var de *DeniedError
			if !errors.As(err, &de) || !strings.Contains(de.Error(), tc.deny) {
				t.Fatalf("Check(%s) = %v, want denied saying %q", tc.addr, err, tc.deny)
			}
		})
	}
}

func TestParseNetworks(t *testing.T) {
	tests := []struct {
		in   string
		want string // the prefixes joined with spaces, or "error"
	}{
		{"", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{" 10.1.2.3/8 , fd00::/8,", "10.0.0.0/8 fd00::/8"},
		{"192.168.1.5", "192.168.1.5/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"10.0.0.0/33", "error"},
		{"example.com", "error"},
		{"10.0.0.0/8;fd00::/8", "error"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseNetworks(tc.in)
			if tc.want == "error" {
				if err == nil {
					t.Fatalf("ParseNetworks(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			var parts []string
			for _, p := range got {
				parts = append(parts, p.String())
			}
			if err != nil || strings.Join(parts, " ") != tc.want {
				t.Fatalf("ParseNetworks(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestDialerChecksTheResolvedAddress: the check runs on the address dialed, after the name is
// resolved, and no connection is made to a denied one.
func TestDialerChecksTheResolvedAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	g, err := New(context.Background(), Options{Own: []string{ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"localhost:" + port, "127.0.0.1:" + port} {
		_, err := g.Dialer(time.Second).DialContext(context.Background(), "tcp4", addr)
		if !IsDenied(err) {
			t.Errorf("dial %s = %v, want denied", addr, err)
		}
	}
	select {
	case <-accepted:
		t.Fatal("a denied address was connected to")
	default:
	}
	// Allowed by a guard without that listener: the same dial connects.
	c, err := (&Guard{}).Dialer(time.Second).DialContext(context.Background(), "tcp4", "localhost:"+port)
	if err != nil {
		t.Fatalf("dial allowed address: %v", err)
	}
	c.Close()
	<-accepted
}

func TestDescribe(t *testing.T) {
	banner := "INFO {\"server_id\":\"NSECRET\",\"version\":\"2.10\"}\r\n"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, banner) //nolint:errcheck // test
			c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	client := (&Guard{}).HTTPClient(2 * time.Second)
	get := func(u string) error {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"banner of a non-HTTP service", get("http://" + ln.Addr().String() + "/"), "not an HTTP answer"},
		{"refused", get("http://" + closedAddr + "/"), "connection refused"},
		{"denied", get("http://169.254.169.254/latest/meta-data/"), "link-local"},
		{"TLS to a non-TLS service", get("https://" + ln.Addr().String() + "/"), "TLS handshake failed"},
		{"timeout", context.DeadlineExceeded, "timed out"},
		{"not found", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, "host not found"},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, "connection reset"},
		{"eof", io.ErrUnexpectedEOF, "connection closed"},
		{"anything else", errors.New(`malformed HTTP response "SSH-2.0-OpenSSH"`), "not an HTTP answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Describe(tc.err)
			if !strings.Contains(got, tc.want) {
				t.Errorf("Describe(%v) = %q, want %q", tc.err, got, tc.want)
			}
			for _, leak := range []string{"INFO", "NSECRET", "SSH", "server_id"} {
				if strings.Contains(got, leak) {
					t.Errorf("Describe(%v) = %q echoes the other side", tc.err, got)
				}
			}
		})
	}
}

// TestHTTPClientRefusesRedirectsAndProxies: a redirect is answered as is, never followed,
// and HTTP_PROXY is not used.
func TestHTTPClientRefusesRedirectsAndProxies(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
	})}
	go srv.Serve(ln) //nolint:errcheck // closed below
	defer srv.Close()
	resp, err := (&Guard{}).HTTPClient(2 * time.Second).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("get: %v (through the proxy?)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want the redirect itself", resp.StatusCode)
	}
}
