package events

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func names(hs []Handler) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func TestStoreCRUD(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	other := openStore(t, b) // a second instance on the same bus

	h, created, err := s.Put(ctx, Handler{Solution: "demo", Name: "svc_event", Script: "return 1"})
	if err != nil || !created || h.Version == 0 || h.UpdatedAt.IsZero() || !reflect.DeepEqual(h.Topics, []string{"svc.event"}) {
		t.Fatalf("put: %+v, created=%v, %v", h, created, err)
	}
	h2, created, err := s.Put(ctx, Handler{Solution: "demo", Name: "svc_event", Script: "return 2"})
	if err != nil || created || h2.Version <= h.Version {
		t.Fatalf("replace: %+v, created=%v, %v", h2, created, err)
	}
	if got, ok := s.Get("demo", "svc_event"); !ok || got.Script != "return 2" || got.Version != h2.Version || got.Solution != "demo" {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	mustPut(t, s, Handler{Solution: "demo", Name: "a", Topics: []string{"x"}, Script: "return 3"})
	if got := names(s.List("demo")); !reflect.DeepEqual(got, []string{"a", "svc_event"}) {
		t.Fatalf("List = %q", got)
	}
	eventually(t, "the other instance to see the new script", func() bool {
		got, ok := other.Get("demo", "svc_event")
		return ok && got.Script == "return 2" && len(other.List("demo")) == 2
	})

	for _, bad := range []struct {
		h     Handler
		field string
	}{
		{Handler{Solution: "Bad.Sol", Name: "svc_event", Script: "return 1"}, "solution"},
		{Handler{Solution: "demo", Name: "nope", Script: "return 1"}, "topics"},
	} {
		var fe *solution.FieldError
		if _, _, err := s.Put(ctx, bad.h); !errors.As(err, &fe) || fe.Field != bad.field {
			t.Fatalf("put %+v: %v, want a field error on %s", bad.h, err, bad.field)
		}
	}

	if err := s.Delete(ctx, "demo", "svc_event"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, ok := s.Get("demo", "svc_event"); ok {
		t.Fatal("deleted handler still there")
	}
	if err := s.Delete(ctx, "demo", "svc_event"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	eventually(t, "the other instance to see the deletion", func() bool {
		_, ok := other.Get("demo", "svc_event")
		return !ok
	})
	// A write after a delete is seen again, by both.
	mustPut(t, s, Handler{Solution: "demo", Name: "svc_event", Script: "return 4"})
	eventually(t, "the other instance to see the handler back", func() bool {
		got, ok := other.Get("demo", "svc_event")
		return ok && got.Script == "return 4"
	})
}

func TestStoreSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openBus(t, dir)
	s, err := OpenStore(ctx, b, quietLog())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	want := mustPut(t, s, Handler{Solution: "demo", Name: "svc_event", Topics: []string{"a", "b.c"}, Script: "return event.topic"})
	mustPut(t, s, Handler{Solution: "demo", Name: "gone_soon", Script: "return 1"})
	if err := s.Delete(ctx, "demo", "gone_soon"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	s.Close()
	if err := b.Close(); err != nil {
		t.Fatalf("close bus: %v", err)
	}

	b2 := openBus(t, dir)
	defer b2.Close()
	s2 := openStore(t, b2)
	got, ok := s2.Get("demo", "svc_event")
	if !ok || got.Script != want.Script || got.Version != want.Version || !reflect.DeepEqual(got.Topics, want.Topics) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("after restart Get = %+v, %v; want %+v", got, ok, want)
	}
	if _, ok := s2.Get("demo", "gone_soon"); ok {
		t.Fatal("a deleted handler came back after restart")
	}
}

func TestSubscribed(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	mustPut(t, s, Handler{Solution: "demo", Name: "zeta", Topics: []string{"svc.event", "other.thing"}, Script: "return 1"})
	mustPut(t, s, Handler{Solution: "demo", Name: "svc_event", Script: "return 1"})
	mustPut(t, s, Handler{Solution: "demo", Name: "alpha", Topics: []string{"other.thing"}, Script: "return 1"})
	mustPut(t, s, Handler{Solution: "else", Name: "svc_event", Script: "return 1"})

	tests := []struct {
		solution, topic string
		want            []string
	}{
		{"demo", "svc.event", []string{"svc_event", "zeta"}},
		{"demo", "other.thing", []string{"alpha", "zeta"}},
		{"demo", "svc", nil},
		{"demo", "svc.event.more", nil},
		{"else", "svc.event", []string{"svc_event"}},
		{"nobody", "svc.event", nil},
	}
	for _, tc := range tests {
		got := names(s.Subscribed(tc.solution, tc.topic))
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Subscribed(%s, %s) = %q, want %q", tc.solution, tc.topic, got, tc.want)
		}
	}
}

func TestDropSolution(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	other := openStore(t, b)
	for _, n := range []string{"a_b", "c_d", "e_f"} {
		mustPut(t, s, Handler{Solution: "demo", Name: n, Script: "return 1"})
	}
	mustPut(t, s, Handler{Solution: "demo-2", Name: "a_b", Script: "return 1"}) // shares a prefix
	eventually(t, "the other instance to load the handlers", func() bool { return len(other.List("demo")) == 3 })

	if err := s.DropSolution(ctx, "demo"); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if got := s.List("demo"); len(got) != 0 {
		t.Fatalf("after drop List = %q", names(got))
	}
	if _, ok := s.Get("demo-2", "a_b"); !ok {
		t.Fatal("drop took another solution's handler")
	}
	eventually(t, "the other instance to see the drop", func() bool { return len(other.List("demo")) == 0 })
	if err := s.DropSolution(ctx, "demo"); err != nil {
		t.Fatalf("drop of a solution without handlers: %v", err)
	}
	if err := s.DropSolution(ctx, "*"); err == nil {
		t.Fatal("drop accepted a malformed solution id")
	}
}

func TestHandlerVersionsCountPerHandler(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	steps := []struct {
		sol, name, script string
		topics            []string
		want              uint64
	}{
		{"one", "a", "return 1", []string{"x"}, 1},
		{"two", "a", "return 1", []string{"x"}, 1},
		{"one", "b", "return 1", []string{"x"}, 1},
		{"one", "a", "return 1", []string{"x"}, 1}, // unchanged
		{"one", "a", "return 1", []string{"y"}, 2}, // new topics are a change
		{"one", "a", "return 2", []string{"y"}, 3},
	}
	for _, st := range steps {
		h, _, err := s.Put(ctx, Handler{Solution: st.sol, Name: st.name, Topics: st.topics, Script: st.script})
		if err != nil || h.Version != st.want {
			t.Errorf("put %s %s %q %v: version %d (%v), want %d", st.sol, st.name, st.script, st.topics, h.Version, err, st.want)
		}
	}
	if err := s.Delete(ctx, "one", "a"); err != nil {
		t.Fatal(err)
	}
	if h := mustPut(t, s, Handler{Solution: "one", Name: "a", Topics: []string{"x"}, Script: "return 1"}); h.Version != 1 {
		t.Errorf("redeployed after delete: version %d, want 1", h.Version)
	}
}
