package script

import (
	"fmt"
	"strconv"
	"time"
)

// Defaults for the zero fields of Limits.
const (
	DefaultTimeout    = 5 * time.Second
	DefaultMemory     = 16 << 20
	DefaultCallDepth  = 200
	DefaultSteps      = 10_000_000
	DefaultCoroutines = 64
)

// Limit names, as LimitError.Limit carries them.
const (
	LimitTime       = "time"
	LimitMemory     = "memory"
	LimitCallDepth  = "call depth"
	LimitSteps      = "steps"
	LimitCoroutines = "coroutines"
	// LimitServerMemory is the memory all runs together may hold (Options.RunsMemory). A run
	// stopped by it did nothing wrong: the server is busy, and the run may be tried again.
	LimitServerMemory = "server memory"
)

// Limits bounds one run. Zero fields take the defaults (see docs/limits.md).
type Limits struct {
	Timeout    time.Duration // wall time per run; default 5s
	Memory     int64         // bytes a run may hold/produce; default 16 MiB
	CallDepth  int           // Lua call frames; default 200
	Steps      int64         // loop iterations + function calls counted by the sandbox; default 10_000_000
	Coroutines int           // coroutines alive (not dead) at once; default 64
}

// WithDefaults returns l with every zero (or negative) field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.Memory <= 0 {
		l.Memory = DefaultMemory
	}
	if l.CallDepth <= 0 {
		l.CallDepth = DefaultCallDepth
	}
	if l.Steps <= 0 {
		l.Steps = DefaultSteps
	}
	if l.Coroutines <= 0 {
		l.Coroutines = DefaultCoroutines
	}
	return l
}

// LimitError is a run stopped because it reached one of its limits.
type LimitError struct {
	Limit  string // LimitTime, LimitMemory, LimitCallDepth, LimitSteps or LimitCoroutines
	Value  string // the limit's value, human-readable ("16 MiB", "5s", "200")
	Detail string // what reached it, when known
}

func (e *LimitError) Error() string {
	msg := e.Limit + " limit"
	if e.Value != "" {
		msg += " of " + e.Value
	}
	msg += " exceeded"
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// RuntimeError is a Lua error that ended a run.
type RuntimeError struct {
	Message string // Lua's message, usually "chunk:line: text"; never a Go stack trace
	Line    int    // the script line the error names, 0 when unknown
	// File is the chunk the line is in (the program's name) when Line is known.
	File string
	// Trace is the Lua stack traceback where the error was raised, bounded; made only when a
	// run fails.
	Trace string
}

func (e *RuntimeError) Error() string { return e.Message }

// CompileError is a script that does not compile.
type CompileError struct {
	Line    int    // the line of the error, 0 when unknown
	Message string // Lua's message with the position, "chunk:line: text"
}

func (e *CompileError) Error() string { return e.Message }

func newLimitError(l Limits, limit, detail string) *LimitError {
	var v string
	switch limit {
	case LimitTime:
		v = l.Timeout.String()
	case LimitMemory:
		v = formatBytes(l.Memory)
	case LimitCallDepth:
		v = strconv.Itoa(l.CallDepth)
	case LimitSteps:
		v = strconv.FormatInt(l.Steps, 10)
	case LimitCoroutines:
		v = strconv.Itoa(l.Coroutines)
	}
	return &LimitError{Limit: limit, Value: v, Detail: detail}
}

// formatBytes writes n the way people read it: "16 MiB", "1.5 GiB", "512 bytes".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	suffix := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[exp]
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), suffix)
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
