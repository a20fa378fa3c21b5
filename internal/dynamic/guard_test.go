package dynamic

import (
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchboardhq/switchboard/internal/servicenet"
)

// TestCallsGoThroughTheGuard: an Invoker dials through its Dial; a service whose address the
// guard denies is not connected to, and a non-HTTP service's banner never reaches the caller.
func TestCallsGoThroughTheGuard(t *testing.T) {
	var accepted atomic.Int64
	banner := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				io.WriteString(c, "INFO {\"server_id\":\"NSECRET\"}\r\n") //nolint:errcheck // test
				c.Close()
			}
		}()
		return ln.Addr().String()
	}
	tests := []struct {
		name     string
		denied   bool // the guard holds the address as one of the hub's own listeners
		parts    []string
		accepted int64
	}{
		{"denied address", true, []string{"not allowed", "hub's own listeners"}, 0},
		{"a banner, not HTTP", false, []string{"not an HTTP answer"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			accepted.Store(0)
			addr := banner(t)
			var own []string
			if tc.denied {
				own = []string{addr}
			}
			g, err := servicenet.New(context.Background(), servicenet.Options{Own: own})
			if err != nil {
				t.Fatal(err)
			}
			iv := New(Options{Dial: g.Dialer(DefaultDialTimeout).DialContext})
			d := describe(t, "mapper", mapperDoc, "http://"+addr)
			for _, call := range []func() error{
				func() error {
					_, err := iv.Call(context.Background(), "demo", d, testToken, "search", nil, nil, "")
					return err
				},
				func() error {
					_, err := iv.CallLifecycle(context.Background(), "demo", d, testToken, "search", nil, "")
					return err
				},
			} {
				err := call()
				wantError(t, err, 502, tc.parts...)
				if strings.Contains(err.Error(), "NSECRET") || strings.Contains(err.Error(), "INFO") || tc.denied && strings.Contains(err.Error(), addr) {
					t.Errorf("the error echoes the other side or the address: %v", err)
				}
			}
			if got := accepted.Load(); tc.accepted == 0 && got != 0 || tc.accepted != 0 && got == 0 {
				t.Errorf("%d connections accepted; want %d", got, tc.accepted)
			}
		})
	}
}
