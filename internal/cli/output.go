package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

// jsonOutput reports whether -o json was given.
func (a *app) jsonOutput() bool { return a.output == "json" }

// printJSON writes v as indented JSON to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// newTable returns a writer that aligns tab-separated columns; call Flush when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// formatTime writes t in RFC 3339, UTC, or "-" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// limitColumns are the text forms of a solution's limits: timeout, memory, call depth, steps
// ("default" for a limit left to the server).
func limitColumns(l apiclient.Limits) [4]string {
	c := [4]string{"default", "default", "default", "default"}
	if l.TimeoutMS != 0 {
		c[0] = l.Timeout().String()
	}
	if l.MemoryBytes != 0 {
		c[1] = formatByteSize(l.MemoryBytes)
	}
	if l.CallDepth != 0 {
		c[2] = strconv.Itoa(l.CallDepth)
	}
	if l.Steps != 0 {
		c[3] = strconv.FormatInt(l.Steps, 10)
	}
	return c
}

// printSolution writes one solution as "key: value" lines.
func (a *app) printSolution(s apiclient.Solution) error {
	if a.jsonOutput() {
		return a.printJSON(s)
	}
	l := limitColumns(s.Limits)
	t := newTable(a.stdout)
	fmt.Fprintf(t, "id:\t%s\n", s.ID)
	fmt.Fprintf(t, "created:\t%s\n", formatTime(s.CreatedAt))
	fmt.Fprintf(t, "timeout:\t%s\n", l[0])
	fmt.Fprintf(t, "memory:\t%s\n", l[1])
	fmt.Fprintf(t, "call depth:\t%s\n", l[2])
	fmt.Fprintf(t, "steps:\t%s\n", l[3])
	debug := "off"
	if s.Debug {
		debug = "on"
	}
	fmt.Fprintf(t, "debug:\t%s\n", debug)
	if s.InvalidPayload != "" {
		fmt.Fprintf(t, "invalid payload:\t%s\n", s.InvalidPayload)
	}
	return t.Flush()
}
