package service

import (
	"fmt"
	"strings"
)

// UnknownOperationError is a call of an operation its service does not have. It answers as an
// *Error of status 404 (errors.As finds one), and its message names the operations there are,
// with the closest to the one asked for.
type UnknownOperationError struct {
	Service    string   // the service's script alias, "Keystore"
	Operation  string   // what was asked for
	Operations []string // what the service has
}

// maxListedOperations bounds the operations a message names.
const maxListedOperations = 40

func (e *UnknownOperationError) Error() string {
	op := e.Operation
	if len(op) > 64 {
		op = op[:64] + "…"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s has no operation %q", e.Service, op)
	if len(e.Operations) == 0 {
		b.WriteString("; it has no operations")
		return b.String()
	}
	names := e.Operations
	more := 0
	if len(names) > maxListedOperations {
		names, more = names[:maxListedOperations], len(names)-maxListedOperations
	}
	b.WriteString("; its operations: " + strings.Join(names, ", "))
	if more > 0 {
		fmt.Fprintf(&b, " and %d more", more)
	}
	if s := Closest(e.Operation, e.Operations); s != "" {
		fmt.Fprintf(&b, "; did you mean %q?", s)
	}
	return b.String()
}

// Unwrap is the call's failure as scripts and the API see every failed call.
func (e *UnknownOperationError) Unwrap() error { return &Error{Status: 404, Message: e.Error()} }

// StatusCode is 404.
func (e *UnknownOperationError) StatusCode() int { return 404 }

// UnknownOperation marks the error for the run's log (script.OperationError).
func (e *UnknownOperationError) UnknownOperation() bool { return true }

// Closest returns the candidate nearest to name by edit distance (case ignored), or "" when
// none is near enough to be a likely typo: at most a third of name's length, and at least 1.
func Closest(name string, candidates []string) string {
	if len(name) > 64 {
		return ""
	}
	best, bestD := "", max(1, len(name)/3)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the number of single-byte insertions, deletions, substitutions and swaps of
// two neighbours that turn a into b (the optimal string alignment distance).
func editDistance(a, b string) int {
	rows := [3][]int{make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)}
	for j := range rows[1] {
		rows[1][j] = j
	}
	for i := 1; i <= len(a); i++ {
		pp, prev, cur := rows[0], rows[1], rows[2]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		rows[0], rows[1], rows[2] = prev, cur, pp
	}
	return rows[1][len(b)]
}
