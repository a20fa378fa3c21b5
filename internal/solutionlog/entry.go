// Package solutionlog keeps each solution's log: what its scripts print and write with Log.*,
// and one entry per failed run. Entries live in one JetStream stream per hub, one subject per
// solution, bounded by age and size with a per-solution quota; writing never blocks a run.
package solutionlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/internal/script"
)

// Entry is one entry of a solution's log, as stored and as the API shows it.
type Entry struct {
	// Seq is the entry's position in the hub's log stream; set when read, the cursor of
	// paging.
	Seq      uint64    `json:"seq,omitempty"`
	Time     time.Time `json:"time"`
	Level    string    `json:"level"` // debug, info, warn or error
	Solution string    `json:"solution"`
	// Source is what ran: "endpoint GET /users/{id}", "handler <name>" or "run".
	Source    string          `json:"source"`
	RequestID string          `json:"request_id,omitempty"`
	ErrorID   string          `json:"error_id,omitempty"` // failed runs: the id the caller saw
	Message   string          `json:"message"`
	Fields    json.RawMessage `json:"fields,omitempty"` // a JSON object
	File      string          `json:"file,omitempty"`
	Line      int             `json:"line,omitempty"`
	Trace     string          `json:"trace,omitempty"` // failed runs: the Lua stack traceback
}

// Bounds on one entry, so the per-solution quota (a count of entries) bounds bytes too.
const (
	MaxMessageBytes = 4 << 10
	MaxFieldsBytes  = 4 << 10
	MaxTraceBytes   = 8 << 10
	maxSourceBytes  = 512
	maxIDBytes      = 128
)

// Levels, from least to most severe.
var levels = []string{"debug", "info", "warn", "error"}

// LevelName is the entry level of a slog level: debug, info, warn or error.
func LevelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// LevelRank orders level names (debug 0 … error 3); -1 for an unknown name.
func LevelRank(name string) int {
	for i, l := range levels {
		if l == name {
			return i
		}
	}
	return -1
}

// Shape bounds an entry before it is stored: long texts are cut with "…", fields that do not
// fit are replaced by a note saying so.
func (e *Entry) Shape() {
	e.Message = cut(e.Message, MaxMessageBytes)
	e.Trace = cut(e.Trace, MaxTraceBytes)
	e.Source = cut(e.Source, maxSourceBytes)
	e.File = cut(e.File, maxSourceBytes)
	e.RequestID = cut(e.RequestID, maxIDBytes)
	if len(e.Fields) > MaxFieldsBytes {
		e.Fields = json.RawMessage(fmt.Sprintf(`{"fields_left_out":"%d bytes of JSON, more than %d"}`, len(e.Fields), MaxFieldsBytes))
	}
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// NewErrorID is the id of one failed run: 16 hex characters, in the caller's answer and the
// log entry.
func NewErrorID() string {
	var b [8]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	return hex.EncodeToString(b[:])
}

// Failure is the entry of a failed run: the whole error message, its file and line, the Lua
// stack trace and the ids. A limit that stopped the run is an error too; a run the server
// was too busy to finish is a warning.
func Failure(sol, source, requestID, errorID string, err error) Entry {
	e := Entry{
		Time: time.Now().UTC(), Level: "error", Solution: sol, Source: source,
		RequestID: requestID, ErrorID: errorID, Message: err.Error(),
	}
	var re *script.RuntimeError
	var ce *script.CompileError
	var le *script.LimitError
	switch {
	case errors.As(err, &re):
		e.File, e.Line, e.Trace = re.File, re.Line, re.Trace
	case errors.As(err, &ce):
		e.Message = "script does not compile: " + ce.Message
		e.Line = ce.Line
	case errors.As(err, &le):
		e.Message = "script stopped: " + le.Error()
		if le.Limit == script.LimitServerMemory {
			e.Level = "warn"
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.Message = "run ended before it finished: " + err.Error()
	}
	return e
}
