package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

// byteSize is a flag value holding a number of bytes, written as "4194304", "4MiB", "512 KiB"
// or "10MB" (binary units B, KiB, MiB, GiB, TiB; decimal units kB, MB, GB, TB; any case).
type byteSize int64

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size; want a whole number with an optional unit, such as 16MiB", s)
	}
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q; want B, KiB, MiB, GiB, TiB, kB, MB, GB or TB", s, strings.TrimSpace(t[i:]))
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * unit, nil
}

// formatByteSize writes n in the largest binary unit that divides it exactly: 16777216 → "16MiB".
func formatByteSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

func (b *byteSize) String() string { return formatByteSize(int64(*b)) }
func (b *byteSize) Type() string   { return "size" }
func (b *byteSize) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// limitFlags are the flags that set a solution's limits (solution create and update).
type limitFlags struct {
	timeout   time.Duration
	memory    byteSize
	callDepth int
	steps     int64
}

func (l *limitFlags) register(fs *pflag.FlagSet) {
	fs.DurationVar(&l.timeout, "timeout", 0, "wall-clock time one run of a script may take, e.g. 5s or 500ms; 0 = the server's default")
	fs.Var(&l.memory, "memory", "memory one run may allocate, e.g. 16MiB; 0 = the server's default")
	fs.IntVar(&l.callDepth, "call-depth", 0, "deepest Lua call stack one run may build, e.g. 200; 0 = the server's default")
	fs.Int64Var(&l.steps, "steps", 0, "VM instructions one run may execute, e.g. 10000000; 0 = the server's default")
}

// apply returns base with the limits given in fs set; changed reports whether any was given.
// A zero limit means the server's default.
func (l *limitFlags) apply(fs *pflag.FlagSet, base apiclient.Limits) (lim apiclient.Limits, changed bool, err error) {
	lim = base
	given := func(name string, v int64) (bool, error) {
		if !fs.Changed(name) {
			return false, nil
		}
		if v < 0 {
			return false, usagef("--%s %s: must not be negative", name, fs.Lookup(name).Value)
		}
		changed = true
		return true, nil
	}
	if ok, err := given("timeout", int64(l.timeout)); err != nil {
		return lim, false, err
	} else if ok {
		if l.timeout%time.Millisecond != 0 {
			return lim, false, usagef("--timeout %s: must be a whole number of milliseconds", l.timeout)
		}
		lim.TimeoutMS = l.timeout.Milliseconds()
	}
	if ok, err := given("memory", int64(l.memory)); err != nil {
		return lim, false, err
	} else if ok {
		lim.MemoryBytes = int64(l.memory)
	}
	if ok, err := given("call-depth", int64(l.callDepth)); err != nil {
		return lim, false, err
	} else if ok {
		lim.CallDepth = l.callDepth
	}
	if ok, err := given("steps", l.steps); err != nil {
		return lim, false, err
	} else if ok {
		lim.Steps = l.steps
	}
	return lim, changed, nil
}
