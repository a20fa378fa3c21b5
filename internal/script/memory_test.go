package script

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allocatedBy runs f and returns the bytes the process allocated meanwhile (garbage included).
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// allocSlack is what a run may allocate beyond its memory limit before a limit stops it: the
// state's bookkeeping, a walk's maps and what the runtime allocates meanwhile.
const allocSlack = 2 << 20

// hostileJSON are sources whose decoded form is many times their size.
func hostileJSON() []struct {
	name, src string
	limit     int64
} {
	rep := func(unit string, n int) string { return strings.Repeat(unit, n) }
	return []struct {
		name, src string
		limit     int64
	}{
		{"small numbers", "[" + rep("1,", 3_900_000) + "1]", 16 << 20},
		{"big numbers", "[" + rep("1e308,", 1_300_000) + "1]", 16 << 20},
		{"empty objects", "[" + rep("{},", 2_600_000) + "{}]", 16 << 20},
		{"empty arrays", "[" + rep("[],", 2_600_000) + "[]]", 16 << 20},
		{"nested arrays", "[" + rep("[[[[[[[[1]]]]]]]],", 400_000) + "1]", 16 << 20},
		{"many keys", "{" + manyKeys(700_000) + "}", 16 << 20},
		{"escaped string", `["` + rep(`\n`, 3_900_000) + `"]`, 10 << 20},
		{"strings", "[" + rep(`"",`, 2_600_000) + `""]`, 16 << 20},
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i%3))
		b.WriteString(itoa(i))
		b.WriteString(`":1`)
	}
	return b.String()
}

// TestFromJSONChargesAsItParses: decoding a hostile document stops at the memory limit having
// allocated about the limit, not the document's decoded size (hundreds of MiB).
func TestFromJSONChargesAsItParses(t *testing.T) {
	e := newTestEngine(t, Options{MaxIdleStates: 1})
	p := mustCompile(t, `local v, err = from_json(src) return err`)
	for _, tc := range hostileJSON() {
		t.Run(tc.name, func(t *testing.T) {
			lim := Limits{Memory: tc.limit, Timeout: 20e9, Steps: 1e9}
			var err error
			n := allocatedBy(func() {
				_, err = e.Run(context.Background(), p, Run{Limits: lim, Vars: map[string]any{"src": tc.src}})
			})
			wantLimit(t, err, LimitMemory)
			t.Logf("%d-byte source: allocated %s before %v", len(tc.src), formatBytes(int64(n)), err)
			if n > uint64(lim.Memory)+allocSlack {
				t.Errorf("allocated %s, want at most the limit (%s) + %s", formatBytes(int64(n)), formatBytes(lim.Memory), formatBytes(allocSlack))
			}
		})
	}
}

// TestToJSONChargesAsItWrites: encoding a table whose JSON is larger than the limit stops at
// the limit having allocated about the limit.
func TestToJSONChargesAsItWrites(t *testing.T) {
	e := newTestEngine(t, Options{MaxIdleStates: 1})
	lim := Limits{Memory: 16 << 20, Timeout: 20e9, Steps: 1e9}
	cases := []struct{ name, src string }{
		// One 1 MiB string referenced many times: the table is small, its JSON is not.
		{"shared string", `local s = ("x"):rep(1048576) local t = {} for i = 1, 64 do t[i] = s end return to_json(t)`},
		{"escapes", `local s = ("\n"):rep(6291456) return to_json({s})`},
		{"shared table", `local u = {} for i = 1, 1000 do u[i] = i + 0.5 end local t = {} for i = 1, 4000 do t[i] = u end return to_json(t)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, tc.src)
			var err error
			n := allocatedBy(func() { _, err = e.Run(context.Background(), p, Run{Limits: lim}) })
			wantLimit(t, err, LimitMemory)
			t.Logf("allocated %s before %v", formatBytes(int64(n)), err)
			if n > uint64(lim.Memory)+allocSlack {
				t.Errorf("allocated %s, want at most the limit (%s) + %s", formatBytes(int64(n)), formatBytes(lim.Memory), formatBytes(allocSlack))
			}
		})
	}
}

// TestRunsMemoryPool: runs that each hold 3 MiB, together more than the engine's 8 MiB pool,
// cannot all hold it at once: those the pool cannot serve stop with LimitServerMemory, the
// others finish, and the pool is whole again after.
func TestRunsMemoryPool(t *testing.T) {
	const pool = 8 << 20
	e := newTestEngine(t, Options{RunsMemory: pool})
	release := make(chan struct{})
	waiting := make(chan struct{}, 8)
	svc := newFake(func(ctx context.Context, _, _ string, _ any) (any, error) {
		waiting <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, nil
	})
	// About 3 MiB of distinct strings, held while the run waits in a service call.
	p := mustCompile(t, `local t = {} for i = 1, 24000 do t[i] = ("x"):rep(100) .. i end Keystore.get{} return #t`)
	const runs = 4
	errs := make(chan error, runs)
	for range runs {
		go func() {
			_, err := e.Run(context.Background(), p, Run{Limits: Limits{Memory: 6 << 20, Timeout: 20 * time.Second}, Services: svc})
			errs <- err
		}()
	}
	var failed []error
	ended := 0
	for blocked := 0; blocked+len(failed) < runs; {
		select {
		case <-waiting:
			blocked++
		case err := <-errs:
			ended++
			failed = append(failed, err)
		case <-time.After(20 * time.Second):
			t.Fatal("runs neither waiting nor failed after 20s")
		}
	}
	used := e.pool.used.Load()
	t.Logf("%d runs waiting hold %s of the %s pool; %d stopped", runs-len(failed), formatBytes(used), formatBytes(pool), len(failed))
	if used > pool {
		t.Errorf("runs hold %d bytes, more than the pool's %d", used, pool)
	}
	if len(failed) == 0 {
		t.Fatalf("all %d runs hold 3 MiB each within an 8 MiB pool", runs)
	}
	for _, err := range failed {
		if le := wantLimit(t, err, LimitServerMemory); !strings.Contains(le.Error(), "server memory limit of 8 MiB") {
			t.Errorf("error %q does not name the pool's size", le)
		}
	}
	close(release)
	for ; ended < runs; ended++ {
		if err := <-errs; err != nil {
			t.Errorf("a run that got its memory failed: %v", err)
		}
	}
	if used := e.pool.used.Load(); used != 0 {
		t.Errorf("pool holds %d bytes after every run ended, want 0", used)
	}
}

// TestRunsMemoryHeld: the bytes a caller holds for a run come from the pool, not the run's
// limit, and a run whose held bytes the pool cannot give does not start.
func TestRunsMemoryHeld(t *testing.T) {
	e := newTestEngine(t, Options{RunsMemory: 4 << 20})
	p := mustCompile(t, `return 1`)
	if _, err := e.Run(context.Background(), p, Run{Limits: Limits{Memory: 1 << 20}, Held: 3 << 20}); err != nil {
		t.Fatalf("3 MiB held against a 1 MiB run limit and a 4 MiB pool: %v", err)
	}
	_, err := e.Run(context.Background(), p, Run{Held: 5 << 20})
	wantLimit(t, err, LimitServerMemory)
	if used := e.pool.used.Load(); used != 0 {
		t.Errorf("pool holds %d bytes after the runs, want 0", used)
	}
}

// TestServiceArgsWithinBudget: a service call's argument, converted to Go, counts with what
// the run holds: a table shared many times over that alone would fit the limit does not once
// the run holds most of it.
func TestServiceArgsWithinBudget(t *testing.T) {
	e := newTestEngine(t, Options{MaxIdleStates: 1})
	svc := newFake(nil)
	// About 3 MiB once converted: 128 references to one table of 1000 numbers.
	const args = `local u = {} for i = 1, 1000 do u[i] = i end local t = {} for i = 1, 128 do t[i] = u end `
	cases := []struct {
		name, src string
		want      any
	}{
		{"run holds little", args + `return Keystore.get(t).status`, nil},
		{"run holds 3 MiB of 4", `local big = ("x"):rep(3000000) ` + args + `return Keystore.get(t).status`, float64(400)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runScript(t, e, tc.src, Run{Services: svc})
			if err != nil && tc.want != nil {
				wantLimit(t, err, LimitMemory) // the walk may find the run over its limit
				t.Logf("run stopped: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if res.Return != tc.want {
				t.Errorf("status %v, want %v", res.Return, tc.want)
			}
		})
	}
}

// TestRunsMemoryPoolNotHeldByTickWeight: runs that loop without allocating draw little from
// the pool (their estimate is tick weight, an upper bound, until a walk), so a run that
// starts while they wait still gets its share.
func TestRunsMemoryPoolNotHeldByTickWeight(t *testing.T) {
	e := newTestEngine(t, Options{RunsMemory: 64 << 20})
	release := make(chan struct{})
	waiting := make(chan struct{}, 8)
	svc := newFake(func(ctx context.Context, _, _ string, _ any) (any, error) {
		waiting <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, nil
	})
	// Ten stores a pass, 12 000 passes: about 15 MiB of tick weight, no walk due yet.
	loop := mustCompile(t, `local x = {a=0,b=0,c=0,d=0,e=0,f=0,g=0,h=0,i=0,j=0}
		for n = 1, 12000 do x.a = n x.b = n x.c = n x.d = n x.e = n x.f = n x.g = n x.h = n x.i = n x.j = n end
		Keystore.get{} return x.a`)
	lim := Limits{Memory: 16 << 20, Timeout: 20 * time.Second}
	const loops = 4
	errs := make(chan error, loops)
	for range loops {
		go func() {
			_, err := e.Run(context.Background(), loop, Run{Limits: lim, Services: svc})
			errs <- err
		}()
	}
	for range loops {
		select {
		case <-waiting:
		case err := <-errs:
			t.Fatalf("a looping run ended early: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("looping runs not waiting after 20s")
		}
	}
	t.Logf("%d looping runs waiting hold %s of the pool", loops, formatBytes(e.pool.used.Load()))
	_, err := e.Run(context.Background(), mustCompile(t, `local t = {} for i = 1, 40000 do t[i] = {i} end return #t`), Run{Limits: lim})
	close(release)
	if err != nil {
		t.Errorf("a run starting while others loop: %v", err)
	}
	for range loops {
		if err := <-errs; err != nil {
			t.Errorf("looping run: %v", err)
		}
	}
}

// TestKeepResult: with Run.KeepResult a run's converted result stays drawn from the engine's
// pool (twice its size: its values and their JSON) until Release, so results waiting to be
// written count against what all runs may hold; without it the run gives everything back.
func TestKeepResult(t *testing.T) {
	e := newTestEngine(t, Options{RunsMemory: 8 << 20})
	p := mustCompile(t, `local t = {} for i = 1, 20000 do t[i] = {i, "x"} end return t`)
	lim := Limits{Memory: 6 << 20, Timeout: 5 * time.Second}

	res, err := e.Run(context.Background(), p, Run{Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	res.Release() // nothing to give back
	if used := e.pool.used.Load(); used != 0 {
		t.Errorf("without KeepResult the pool holds %d bytes after the run, want 0", used)
	}

	res, err = e.Run(context.Background(), p, Run{Limits: lim, KeepResult: true})
	if err != nil {
		t.Fatal(err)
	}
	kept := e.pool.used.Load()
	t.Logf("a result of 20000 small tables keeps %d KiB of the pool", kept>>10)
	if kept < 1<<20 {
		t.Errorf("the kept result holds %d bytes of the pool, want its size (over 1 MiB)", kept)
	}
	// Meanwhile a run needing what the result holds is refused as the server's memory.
	_, err = e.Run(context.Background(), mustCompile(t, `return 1`), Run{Limits: lim, Held: 8<<20 - kept + 1})
	wantLimit(t, err, LimitServerMemory)
	res.Release()
	res.Release()
	if used := e.pool.used.Load(); used != 0 {
		t.Errorf("after Release the pool holds %d bytes, want 0", used)
	}
	if _, err := e.Run(context.Background(), mustCompile(t, `return 1`), Run{Limits: lim, Held: 8<<20 - kept + 1}); err != nil {
		t.Errorf("after Release: %v", err)
	}
}
