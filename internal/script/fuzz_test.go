package script

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzCompile checks any input compiles to a Program or fails with a *CompileError, never a
// panic; what compiles also runs (within small limits) without taking the process down.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"return 1",
		"local t = {} t[1] = 2 return t",
		"return 'a' .. 'b' .. 1 .. 2.5",
		"goto x ::x::",
		"for i = 1, 2 do local x = i end while false do end repeat until true",
		"local f = function(...) return ... end return f(1, 2)",
		"local k, f = 1, print return {[k] = 1, f()}",
		"local t, i, j = {1, 2}, 1, 2 t[i], t[j] = t[j], t[i]",
		"return " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300),
		"return " + strings.Repeat("{", 300) + strings.Repeat("}", 300),
		"\x1bLua",
		"return [[",
		"x = ",
		"function a.b:c(...) return self, ... end",
		"local a <const> = 1",
		"return 0x10, 1e5, .5, 3.",
		"::a:: ::a::",
		"break",
		"return ... .. ...",
	} {
		f.Add(seed)
	}
	e := NewEngine(Options{HeapLimit: -1, MaxIdleStates: 2})
	f.Cleanup(e.Close)
	lim := Limits{Timeout: 200 * time.Millisecond, Memory: 1 << 20, Steps: 20_000}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile("fuzz", src)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) || p != nil {
				t.Fatalf("Compile(%q) = %v, %v; want nil and a *CompileError", src, p, err)
			}
			return
		}
		if p == nil {
			t.Fatalf("Compile(%q) returned neither a program nor an error", src)
		}
		_, err = e.Run(context.Background(), p, Run{Limits: lim})
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("run of %q: %v", src, err)
		}
	})
}
