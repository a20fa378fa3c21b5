package hosted

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/bus/bustest"
)

func testBus(t *testing.T) *bus.Bus { return bustest.Open(t) }

func openStore(t *testing.T, b *bus.Bus, o Options) *Store {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := OpenStore(context.Background(), b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestVersions: a service starts at 0.1; minor and major updates number on; each version's
// code and properties stay as they were stored; another instance sees the same.
func TestVersions(t *testing.T) {
	b := testBus(t)
	s := openStore(t, b, Options{})
	ctx := context.Background()
	svc, err := s.Create(ctx, "plant", Service{Name: "ReadGPIO", Kind: KindPython, Description: "reads a pin"},
		Input{Code: "class ReadGPIO: pass", Static: []Property{{Name: "gpio_pin", Type: TypeNumber, Default: 4.0}}})
	if err != nil || svc.Latest().Version != "0.1" || svc.Latest().CodeBytes != 20 {
		t.Fatalf("create: %+v, %v", svc, err)
	}
	steps := []struct {
		major bool
		want  string
	}{{false, "0.2"}, {true, "1.0"}, {false, "1.1"}}
	for i, st := range steps {
		_, v, err := s.AddVersion(ctx, "plant", "ReadGPIO", st.major, Input{Code: fmt.Sprintf("class ReadGPIO: v = %d", i)})
		if err != nil || v.Version != st.want {
			t.Fatalf("update %d (major %v): %+v, %v; want %s", i, st.major, v, err, st.want)
		}
	}
	for _, c := range []struct{ version, code string }{{"0.1", "class ReadGPIO: pass"}, {"0.2", "class ReadGPIO: v = 0"}, {"1", "class ReadGPIO: v = 2"}, {"", "class ReadGPIO: v = 2"}} {
		if got, err := s.Code(ctx, "plant", "ReadGPIO", c.version); err != nil || got != c.code {
			t.Errorf("code of %q: %q, %v; want %q", c.version, got, err, c.code)
		}
	}
	other := openStore(t, b, Options{})
	got, ok := other.Get("plant", "ReadGPIO")
	if !ok || len(got.Versions) != 4 || got.Versions[0].Static[0].Name != "gpio_pin" || got.Versions[3].Static != nil {
		t.Fatalf("another instance sees %+v", got)
	}
	if _, ok := other.Get("elsewhere", "ReadGPIO"); ok {
		t.Fatal("another solution sees the service")
	}
}

// TestConcurrentUpdates: updates at once each get a version of their own, none lost.
func TestConcurrentUpdates(t *testing.T) {
	b := testBus(t)
	s1, s2 := openStore(t, b, Options{}), openStore(t, b, Options{})
	ctx := context.Background()
	if _, err := s1.Create(ctx, "plant", Service{Name: "Counter", Kind: KindLua}, Input{Code: "return {}"}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	versions := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			_, v, err := s.AddVersion(ctx, "plant", "Counter", false, Input{Code: fmt.Sprintf("return {n = %d}", i)})
			versions[i], errs[i] = v.Version, err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(versions)
	want := []string{"0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"}
	if !slices.Equal(versions, want) {
		t.Fatalf("versions %v, want %v", versions, want)
	}
	// Each version holds the code of the update that got it.
	svc, _ := s1.Get("plant", "Counter")
	for _, v := range svc.Versions[1:] {
		code, err := s1.Code(ctx, "plant", "Counter", v.Version)
		if err != nil || !strings.HasPrefix(code, "return {n = ") {
			t.Fatalf("code of %s: %q, %v", v.Version, code, err)
		}
	}
}

// TestRefusals: bad input is refused naming the field, and nothing is stored.
func TestRefusals(t *testing.T) {
	s := openStore(t, testBus(t), Options{Check: func(kind, name, code string) error {
		if kind == KindLua && strings.Contains(code, "syntax error") {
			return errors.New(name + ":1: syntax error")
		}
		return nil
	}})
	ctx := context.Background()
	if _, err := s.Create(ctx, "plant", Service{Name: "ReadGPIO", Kind: KindPython}, Input{Code: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		svc   Service
		in    Input
		field string
	}{
		{"no code", Service{Name: "A", Kind: KindLua}, Input{}, "code"},
		{"code too large", Service{Name: "A", Kind: KindLua}, Input{Code: strings.Repeat("x", MaxCodeBytes+1)}, "code"},
		{"code not UTF-8", Service{Name: "A", Kind: KindLua}, Input{Code: "\xff"}, "code"},
		{"name taken", Service{Name: "ReadGPIO", Kind: KindLua}, Input{Code: "x"}, "name"},
		{"name taken but for case", Service{Name: "readgpio", Kind: KindLua}, Input{Code: "x"}, "name"},
		{"bad property", Service{Name: "A", Kind: KindLua}, Input{Code: "x", Static: []Property{{Name: "a b"}}}, "static_properties[0].name"},
	} {
		if _, err := s.Create(ctx, "plant", c.svc, c.in); fieldOf(err) != c.field {
			t.Errorf("%s: %v; want an error naming %q", c.name, err, c.field)
		}
	}
	if _, err := s.Create(ctx, "plant", Service{Name: "Broken", Kind: KindLua}, Input{Code: "syntax error"}); err == nil || !strings.Contains(err.Error(), "Broken:1:") {
		t.Errorf("code that does not compile: %v", err)
	}
	if _, _, err := s.AddVersion(ctx, "plant", "Ghost", false, Input{Code: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a service that does not exist: %v", err)
	}
	if n := len(s.List("plant")); n != 1 {
		t.Fatalf("%d services after refusals", n)
	}
}

// TestBoundsAndDelete: a solution's services and a service's versions are bounded; deleting
// a service, or its solution, removes its code too.
func TestBoundsAndDelete(t *testing.T) {
	b := testBus(t)
	s := openStore(t, b, Options{})
	ctx := context.Background()
	if _, err := s.Create(ctx, "plant", Service{Name: "S", Kind: KindLua}, Input{Code: "x"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < MaxVersions; i++ {
		if _, _, err := s.AddVersion(ctx, "plant", "S", false, Input{Code: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.AddVersion(ctx, "plant", "S", true, Input{Code: "x"}); fieldOf(err) != "code" {
		t.Fatalf("version %d: %v; want refused", MaxVersions+1, err)
	}
	if err := s.Delete(ctx, "plant", "S"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Code(ctx, "plant", "S", "0.1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("code after delete: %v", err)
	}
	keys, err := s.kv.ListKeysFiltered(ctx, "plant.>")
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys.Keys() {
		t.Errorf("key %s left after delete", k)
	}
	// A new service of the same name starts again at 0.1.
	svc, err := s.Create(ctx, "plant", Service{Name: "S", Kind: KindLua}, Input{Code: "y"})
	if err != nil || svc.Latest().Version != "0.1" {
		t.Fatalf("create again: %+v, %v", svc, err)
	}
	if code, _ := s.Code(ctx, "plant", "S", "0.1"); code != "y" {
		t.Fatalf("code of the new 0.1: %q", code)
	}
	for i := range MaxServices - 1 {
		if _, err := s.Create(ctx, "plant", Service{Name: fmt.Sprintf("S%d", i), Kind: KindLua}, Input{Code: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(ctx, "plant", Service{Name: "OneMore", Kind: KindLua}, Input{Code: "x"}); fieldOf(err) != "name" {
		t.Fatalf("service %d: %v; want refused", MaxServices+1, err)
	}
	if _, err := s.Create(ctx, "other", Service{Name: "OneMore", Kind: KindLua}, Input{Code: "x"}); err != nil {
		t.Fatalf("another solution's service: %v", err)
	}
	if err := s.DropSolution(ctx, "plant"); err != nil {
		t.Fatal(err)
	}
	if n := len(s.List("plant")); n != 0 {
		t.Fatalf("%d services after dropping the solution", n)
	}
	if n := len(s.List("other")); n != 1 {
		t.Fatalf("the other solution has %d services", n)
	}
}
