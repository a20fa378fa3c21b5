package script

import (
	"reflect"
	"testing"
)

func TestLazyVars(t *testing.T) {
	e := newTestEngine(t, Options{MaxIdleStates: 1})
	tests := []struct {
		name      string
		src       string
		wantMade  int
		wantRet   any
		wantReset any // the read-back "v"
	}{
		{"never read: not made, read back as made", `return 1`, 1, float64(1), map[string]any{"a": "x"}},
		{"read: made once", `local a = v.a; local b = v.a; return a .. b`, 1, "xx", map[string]any{"a": "x"}},
		{"changed in place", `v.a = "y"; return v.a`, 1, "y", map[string]any{"a": "y"}},
		{"replaced without reading: never made", `v = {a = "z"}; return 0`, 0, float64(0), map[string]any{"a": "z"}},
		{"through _G", `return _G.v.a`, 1, "x", map[string]any{"a": "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			made := 0
			res, err := runScript(t, e, tc.src, Run{
				Vars:     map[string]any{"v": Lazy(func() any { made++; return map[string]any{"a": "x"} })},
				ReadBack: []string{"v"},
			})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if made != tc.wantMade {
				t.Errorf("made %d times, want %d", made, tc.wantMade)
			}
			if !reflect.DeepEqual(res.Return, tc.wantRet) {
				t.Errorf("return = %#v, want %#v", res.Return, tc.wantRet)
			}
			if !reflect.DeepEqual(res.Vars["v"], tc.wantReset) {
				t.Errorf("read back v = %#v, want %#v", res.Vars["v"], tc.wantReset)
			}
		})
	}
	// A lazy variable of one run is not there for the next run on the same state.
	res, err := runScript(t, e, `return v == nil`, Run{})
	if err != nil || res.Return != true {
		t.Fatalf("next run sees v: %v %v", res.Return, err)
	}
}
