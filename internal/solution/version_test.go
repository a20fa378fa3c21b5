package solution

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestEndpointVersionsCountPerEndpoint(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	other := openStore(t, b)
	for _, id := range []string{"one", "two"} {
		if _, _, err := s.Create(ctx, id, Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(sol, path, script string) Endpoint {
		t.Helper()
		ep, _, err := s.PutEndpoint(ctx, Endpoint{Solution: sol, Method: "GET", Path: path, Script: script})
		if err != nil {
			t.Fatalf("put %s %s: %v", sol, path, err)
		}
		return ep
	}
	steps := []struct {
		sol, path, script string
		want              uint64
	}{
		{"one", "/a", "return 1", 1},
		{"one", "/b", "return 1", 1}, // another endpoint starts at 1 too
		{"two", "/a", "return 1", 1}, // and so does another solution's
		{"one", "/a", "return 2", 2},
		{"one", "/a", "return 2", 2}, // the same script is not a change
		{"one", "/a", "return 3", 3},
		{"two", "/a", "return 2", 2},
	}
	for _, st := range steps {
		if got := put(st.sol, st.path, st.script); got.Version != st.want {
			t.Errorf("deploy %s %s %q: version %d, want %d", st.sol, st.path, st.script, got.Version, st.want)
		}
	}
	eventually(t, "the other instance to see version 3", func() bool {
		ep, ok := other.GetEndpoint("one", "GET", "/a")
		return ok && ep.Version == 3
	})

	// Deleted and deployed again, an endpoint starts over.
	if err := s.DeleteEndpoint(ctx, "one", "GET", "/a"); err != nil {
		t.Fatal(err)
	}
	if got := put("one", "/a", "return 3"); got.Version != 1 {
		t.Errorf("redeployed after delete: version %d, want 1", got.Version)
	}

	// Concurrent deploys of one endpoint each get their own version.
	const n = 8
	var wg sync.WaitGroup
	versions := make([]uint64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep, _, err := s.PutEndpoint(ctx, Endpoint{Solution: "two", Method: "GET", Path: "/c", Script: fmt.Sprintf("return %d", i)})
			if err != nil {
				t.Errorf("concurrent put: %v", err)
			}
			versions[i] = ep.Version
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, v := range versions {
		if v < 1 || v > n || seen[v] {
			t.Fatalf("concurrent versions %v: want each of 1..%d once", versions, n)
		}
		seen[v] = true
	}
}

// TestEndpointVersionOfOldRecords: records written before versions counted per endpoint hold
// version 0; they keep serving and show their KV revision, and the next deploy goes above it.
func TestEndpointVersionOfOldRecords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openBus(t, dir)
	s := openStore(t, b)
	if _, _, err := s.Create(ctx, "old", Limits{}); err != nil {
		t.Fatal(err)
	}
	// The record as earlier releases wrote it.
	data, _ := json.Marshal(map[string]any{"method": "GET", "path": "/legacy", "script": "return 'old'", "version": 0, "updated_at": time.Now().UTC()})
	rev, err := s.endpoints.Put(ctx, endpointKey("old", "GET", "/legacy"), data)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	b.Close()

	b = openBus(t, dir)
	defer b.Close()
	s = openStore(t, b)
	ep, ok := s.GetEndpoint("old", "GET", "/legacy")
	if !ok || ep.Script != "return 'old'" || ep.Version != rev {
		t.Fatalf("old record after upgrade: %+v, %v; want version %d", ep, ok, rev)
	}
	ep, _, err = s.PutEndpoint(ctx, Endpoint{Solution: "old", Method: "GET", Path: "/legacy", Script: "return 'new'"})
	if err != nil || ep.Version != rev+1 {
		t.Fatalf("deploy over an old record: %+v, %v; want version %d", ep, err, rev+1)
	}
}
