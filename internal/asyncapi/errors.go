package asyncapi

import (
	"fmt"
	"strings"
)

// MaxProblems bounds the problems a ValidationError lists; the rest are only counted.
const MaxProblems = 20

// Problem is one thing wrong in a document: where (a JSON pointer into the document, "" for
// the whole of it) and what.
type Problem struct {
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// ValidationError is a document that was read but is not a valid AsyncAPI 2.x document.
// Validator.Validate gives one too, with Data set: the problems are in an event's data.
type ValidationError struct {
	Problems []Problem // at most MaxProblems, in the order of the document where known
	Omitted  int       // problems found beyond MaxProblems
	Data     bool      // the problems are in event data, not in a document
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Data {
		b.WriteString("asyncapi: event data does not match the payload schema")
	} else {
		b.WriteString("asyncapi: invalid document")
	}
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "; and %d more", e.Omitted)
	}
	return b.String()
}

func (p Problem) String() string {
	if p.Pointer == "" {
		return p.Message
	}
	return p.Pointer + ": " + p.Message
}

// invalidAt is a ValidationError of one problem.
func invalidAt(path []string, format string, args ...any) error {
	var ps problems
	ps.add(path, format, args...)
	return ps.err()
}

// problems collects problems up to MaxProblems.
type problems struct {
	list    []Problem
	omitted int
}

func (ps *problems) add(path []string, format string, args ...any) {
	if len(ps.list) >= MaxProblems {
		ps.omitted++
		return
	}
	ps.list = append(ps.list, Problem{Pointer: pointer(path), Message: fmt.Sprintf(format, args...)})
}

// err is the ValidationError of the problems, or nil when there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.list, Omitted: ps.omitted}
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// pointer is a JSON pointer (RFC 6901) of path, "/channels/user~1signedup".
func pointer(path []string) string {
	var b strings.Builder
	for _, t := range path {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(t))
	}
	return b.String()
}
