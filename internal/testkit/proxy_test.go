package testkit

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// echo serves lines back to whoever sends them.
func echo(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func TestProxyCutAndRestore(t *testing.T) {
	p := StartProxy(t, echo(t))
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip := func(line string, wait time.Duration) (string, error) {
		if line != "" {
			if _, err := c.Write([]byte(line + "\n")); err != nil {
				return "", err
			}
		}
		c.SetReadDeadline(time.Now().Add(wait))
		got, err := r.ReadString('\n')
		return got, err
	}
	if got, err := roundTrip("one", 5*time.Second); err != nil || got != "one\n" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	p.Cut()
	// Nothing gets through while cut: the read runs into its deadline, the connection stays.
	if got, err := roundTrip("two", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("while cut: %q, %v; want nothing", got, err)
	}
	// A connection made meanwhile is taken, and gets nothing through either.
	late, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	late.Write([]byte("late\n"))
	lr := bufio.NewReader(late)
	late.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if got, err := lr.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection while cut: %q, %v; want nothing", got, err)
	}
	p.Restore()
	// What waited is delivered, in order, on both connections.
	if got, err := roundTrip("", 5*time.Second); err != nil || got != "two\n" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
	late.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := lr.ReadString('\n'); err != nil || got != "late\n" {
		t.Fatalf("new connection after restore: %q, %v", got, err)
	}
}
