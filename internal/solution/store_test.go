package solution

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
)

func openBus(t *testing.T, dir string) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: dir, Name: "test"})
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	return b
}

func openStore(t *testing.T, b *bus.Bus) *Store {
	t.Helper()
	s, err := Open(context.Background(), b, slog.Default())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// eventually waits for cond with a deadline; the store's second view is fed by a watch.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStoreLifecycle(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	other := openStore(t, b) // a second instance on the same bus

	sol, token, err := s.Create(ctx, "demo", Limits{TimeoutMS: 1000})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if sol.ID != "demo" || token == "" || sol.TokenHash != HashToken(token) {
		t.Fatalf("create returned %+v, %q", sol, token)
	}
	if _, _, err := s.Create(ctx, "demo", Limits{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	if id, ok := s.ByToken(token); !ok || id != "demo" {
		t.Fatalf("ByToken = %q, %v", id, ok)
	}
	if _, ok := s.ByToken(token + "x"); ok {
		t.Fatal("ByToken accepted a wrong token")
	}
	eventually(t, "the other instance to see the solution", func() bool { _, ok := other.ByToken(token); return ok })

	ep, created, err := s.PutEndpoint(ctx, Endpoint{Solution: "demo", Method: "get", Path: "/x/{id}", Script: "return 1"})
	if err != nil || !created || ep.Method != "GET" || ep.Version == 0 {
		t.Fatalf("put endpoint: %+v, %v, %v", ep, created, err)
	}
	ep2, created, err := s.PutEndpoint(ctx, Endpoint{Solution: "demo", Method: "GET", Path: "/x/{id}", Script: "return 2"})
	if err != nil || created || ep2.Version <= ep.Version {
		t.Fatalf("replace endpoint: %+v, created=%v, %v", ep2, created, err)
	}
	if got, ok := s.GetEndpoint("demo", "get", "/x/{id}"); !ok || got.Script != "return 2" {
		t.Fatalf("GetEndpoint = %+v, %v", got, ok)
	}
	eventually(t, "the other instance to see the new script", func() bool {
		got, ok := other.GetEndpoint("demo", "GET", "/x/{id}")
		return ok && got.Script == "return 2"
	})
	if _, _, err := s.PutEndpoint(ctx, Endpoint{Solution: "nope", Method: "GET", Path: "/", Script: ""}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("endpoint on unknown solution: %v", err)
	}

	upd, err := s.UpdateLimits(ctx, "demo", Limits{MemoryBytes: 1 << 20})
	if err != nil || upd.Limits.MemoryBytes != 1<<20 || upd.TokenHash != sol.TokenHash {
		t.Fatalf("update limits: %+v, %v", upd, err)
	}
	on := true
	upd, err = s.Update(ctx, "demo", Change{Debug: &on})
	if err != nil || !upd.Debug || upd.Limits.MemoryBytes != 1<<20 {
		t.Fatalf("debug on: %+v, %v", upd, err)
	}
	if got, _ := s.Get("demo"); !got.Debug {
		t.Fatal("the view does not show debug on")
	}

	// A new token: the old one stops working here at once and on the other instance once it
	// sees the change; the settings stay.
	upd, newToken, err := s.NewToken(ctx, "demo")
	if err != nil || newToken == token || upd.TokenHash != HashToken(newToken) || !upd.Debug {
		t.Fatalf("new token: %+v, %q, %v", upd, newToken, err)
	}
	if _, ok := s.ByToken(token); ok {
		t.Fatal("the old token still works after a new one was made")
	}
	if id, ok := s.ByToken(newToken); !ok || id != "demo" {
		t.Fatalf("ByToken(new) = %q, %v", id, ok)
	}
	eventually(t, "the other instance to take the new token only", func() bool {
		_, oldOK := other.ByToken(token)
		id, newOK := other.ByToken(newToken)
		return !oldOK && newOK && id == "demo"
	})
	if _, _, err := s.NewToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("new token of an unknown solution: %v", err)
	}
	token = newToken
	if upd, err = s.UpdateLimits(ctx, "demo", Limits{}); err != nil || !upd.Debug {
		t.Fatalf("updating limits turned debug off: %+v, %v", upd, err)
	}
	if dbg, _, err := s.CreateWith(ctx, "debugged", Settings{Debug: true}); err != nil || !dbg.Debug {
		t.Fatalf("create with debug: %+v, %v", dbg, err)
	}
	mark, bad := PayloadMark, "keep"
	if upd, err = s.Update(ctx, "demo", Change{InvalidPayload: &mark}); err != nil || !upd.MarksInvalidPayload() || !upd.Debug {
		t.Fatalf("invalid_payload mark: %+v, %v", upd, err)
	}
	var fe *FieldError
	if _, err = s.Update(ctx, "demo", Change{InvalidPayload: &bad}); !errors.As(err, &fe) || fe.Field != "invalid_payload" {
		t.Fatalf("invalid_payload %q: %v; want a field error", bad, err)
	}
	if _, _, err := s.CreateWith(ctx, "badpayload", Settings{InvalidPayload: bad}); !errors.As(err, &fe) || fe.Field != "invalid_payload" {
		t.Fatalf("create with invalid_payload %q: %v", bad, err)
	}

	if err := s.Delete(ctx, "demo", nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, ok := s.Get("demo"); ok {
		t.Fatal("solution still there after delete")
	}
	if n := len(s.Endpoints("demo")); n != 0 {
		t.Fatalf("%d endpoints left after delete", n)
	}
	if _, ok := s.ByToken(token); ok {
		t.Fatal("token still valid after delete")
	}
	eventually(t, "the other instance to forget the solution", func() bool {
		_, ok := other.Get("demo")
		return !ok && len(other.Endpoints("demo")) == 0
	})
	// The same id can be made again, with nothing of the old one.
	if _, _, err := s.Create(ctx, "demo", Limits{}); err != nil {
		t.Fatalf("re-create: %v", err)
	}
	if n := len(s.Endpoints("demo")); n != 0 {
		t.Fatalf("re-created solution has %d old endpoints", n)
	}
}

func TestStoreSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openBus(t, dir)
	s, err := Open(ctx, b, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := s.Create(ctx, "keep", Limits{Steps: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutEndpoint(ctx, Endpoint{Solution: "keep", Method: "POST", Path: "/a", Script: "return 'a'"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openBus(t, dir)
	defer b.Close()
	s = openStore(t, b)
	sol, ok := s.Get("keep")
	if !ok || sol.Limits.Steps != 5000 {
		t.Fatalf("after restart: %+v, %v", sol, ok)
	}
	if id, ok := s.ByToken(token); !ok || id != "keep" {
		t.Fatal("token lost in restart")
	}
	if ep, ok := s.GetEndpoint("keep", "POST", "/a"); !ok || ep.Script != "return 'a'" {
		t.Fatalf("endpoint after restart: %+v, %v", ep, ok)
	}
}

func TestStoreDeletionIsMarkedFirst(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openBus(t, dir)
	s, err := Open(ctx, b, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, "doomed", Limits{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutEndpoint(ctx, Endpoint{Solution: "doomed", Method: "GET", Path: "/a", Script: "return 1"}); err != nil {
		t.Fatal(err)
	}
	// The drop step sees a solution that no longer exists, with its id still taken.
	var dropped []string
	err = s.Delete(ctx, "doomed", func(_ context.Context, id string) error {
		if _, ok := s.Get(id); ok {
			t.Errorf("solution still exists while its state is dropped")
		}
		if _, _, err := s.Create(ctx, id, Limits{}); !errors.Is(err, ErrDeleting) {
			t.Errorf("create during deletion: %v, want ErrDeleting", err)
		}
		dropped = append(dropped, id)
		return nil
	})
	if err != nil || len(dropped) != 1 {
		t.Fatalf("delete: %v, dropped %v", err, dropped)
	}

	// A deletion cut short (here: the drop fails) is finished on the next start.
	if _, _, err := s.Create(ctx, "doomed", Limits{}); err != nil {
		t.Fatalf("re-create after deletion: %v", err)
	}
	failing := func(context.Context, string) error { return errors.New("storage down") }
	if err := s.Delete(ctx, "doomed", failing); err == nil {
		t.Fatal("delete with a failing drop succeeded")
	}
	if _, ok := s.Get("doomed"); ok {
		t.Fatal("a half-deleted solution still exists")
	}
	s.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openBus(t, dir)
	defer b.Close()
	s = openStore(t, b)
	if _, _, err := s.Create(ctx, "doomed", Limits{}); !errors.Is(err, ErrDeleting) {
		t.Fatalf("create before the deletion is finished: %v, want ErrDeleting", err)
	}
	dropped = nil
	if err := s.FinishDeletions(ctx, func(_ context.Context, id string) error { dropped = append(dropped, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || dropped[0] != "doomed" {
		t.Fatalf("FinishDeletions dropped %v", dropped)
	}
	if _, _, err := s.Create(ctx, "doomed", Limits{}); err != nil {
		t.Fatalf("create after the deletion finished: %v", err)
	}
}
