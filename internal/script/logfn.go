package script

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Bounds on one entry a script writes with print or Log: the message, and what converting
// its fields to Go may take (the solution log bounds their JSON again).
const (
	maxPrintBytes     = 4 << 10
	maxLogFieldsBytes = 16 << 10
)

// logTable is the sandbox's Log: Log.debug/info/warn/error(msg, fields?) write to the
// solution's log, as print does at info.
func (st *state) logTable(L *lua.LState) *lua.LTable {
	t := L.CreateTable(0, 4)
	for name, level := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	} {
		t.RawSetString(name, L.NewFunction(func(L *lua.LState) int { return st.logCall(L, level) }))
	}
	return t
}

// logCall is one Log.<level>(msg, fields?) call.
func (st *state) logCall(L *lua.LState, level slog.Level) int {
	r := st.run()
	if r.log == nil && !st.e.log.Enabled(context.Background(), slog.LevelDebug) {
		return 0
	}
	msg := boundMessage(L.ToStringMeta(L.Get(1)).String())
	var fields map[string]any
	switch f := L.Get(2).(type) {
	case *lua.LNilType:
	case *lua.LTable:
		fields = logFields(f)
	default:
		L.ArgError(2, "fields must be a table, not a "+f.Type().String())
	}
	st.writeLog(r, level, msg, fields)
	return 0
}

// logFields converts a fields table to Go, bounded; what cannot be converted is named
// instead of failing the run.
func logFields(tb *lua.LTable) map[string]any {
	v, err := newToGo(maxLogFieldsBytes).value(tb)
	if err != nil {
		return map[string]any{"fields_left_out": fmt.Sprintf("larger than %d bytes, nested too deeply or cyclic", maxLogFieldsBytes)}
	}
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{"fields": v} // a list
}

// print writes its arguments, separated by tabs, to the solution's log at info.
func (st *state) print(L *lua.LState) int {
	r := st.run()
	if r.log == nil && !st.e.log.Enabled(context.Background(), slog.LevelDebug) {
		return 0
	}
	var b strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(L.ToStringMeta(L.Get(i)).String())
		if b.Len() > maxPrintBytes {
			break
		}
	}
	st.writeLog(r, slog.LevelInfo, boundMessage(b.String()), nil)
	return 0
}

// writeLog hands an entry to the run's log; without one (an engine used on its own), it goes
// to the engine's logger at debug level.
func (st *state) writeLog(r *run, level slog.Level, msg string, fields map[string]any) {
	if r.log != nil {
		r.log(level, msg, fields)
		return
	}
	attrs := []slog.Attr{slog.String("solution", r.solution), slog.String("level", level.String()), slog.String("message", msg)}
	if fields != nil {
		attrs = append(attrs, slog.Any("fields", fields))
	}
	st.e.log.LogAttrs(context.Background(), slog.LevelDebug, "script print", attrs...)
}

func boundMessage(s string) string { return truncate(s, maxPrintBytes) }
