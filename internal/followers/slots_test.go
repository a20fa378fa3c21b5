package followers

import (
	"context"
	"errors"
	"testing"
	"time"
)

var (
	errTooMany = errors.New("too many")
	errFull    = errors.New("full")
)

func TestSlots(t *testing.T) {
	s := New(2, 3, errTooMany, errFull)
	take := func(sol string, want error) func() {
		t.Helper()
		release, err := s.Take(sol)
		if !errors.Is(err, want) {
			t.Fatalf("Take(%q) = %v, want %v", sol, err, want)
		}
		return release
	}
	a1 := take("a", nil)
	take("a", nil)
	take("a", errTooMany)
	take("b", nil)
	take("c", errFull)
	a1()
	a1() // a second release gives nothing back twice
	take("c", nil)
	take("d", errFull)
	select {
	case <-s.Ending():
		t.Fatal("ending before End")
	default:
	}
	s.End()
	s.End()
	<-s.Ending()
}

// TestPump: items are sent in order, a quiet spell calls idle, and the pump ends when its
// channel closes, when the slots end, or with send's error.
func TestPump(t *testing.T) {
	s := New(1, 1, errTooMany, errFull)
	got := make(chan int, 3)
	got <- 1
	got <- 2
	close(got)
	var sent []int
	if err := Pump(context.Background(), s, time.Hour, got, func(v int) error { sent = append(sent, v); return nil }, func() error { return nil }); err != nil || len(sent) != 2 || sent[0] != 1 || sent[1] != 2 {
		t.Fatalf("Pump = %v, sent %v; want nil, [1 2]", err, sent)
	}

	quiet := make(chan int)
	stop := errors.New("stop")
	if err := Pump(context.Background(), s, time.Millisecond, quiet, func(int) error { return nil }, func() error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Pump on a quiet channel = %v, want idle's error", err)
	}

	failing := make(chan int, 1)
	failing <- 1
	if err := Pump(context.Background(), s, time.Hour, failing, func(int) error { return stop }, func() error { return nil }); !errors.Is(err, stop) {
		t.Fatalf("Pump = %v, want send's error", err)
	}

	s.End()
	if err := Pump(context.Background(), s, time.Hour, quiet, func(int) error { return nil }, func() error { return nil }); err != nil {
		t.Fatalf("Pump after End = %v, want nil", err)
	}
}
