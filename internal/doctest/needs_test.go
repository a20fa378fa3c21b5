package doctest

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
)

// What a needs marker names: an environment variable (upper case) or a program (lower case).
var (
	envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	programRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*$`)
)

// missing says why need is not met on this machine, or "" when it is: an environment variable
// set and not empty, a program on PATH.
func missing(need string) string {
	if envNameRE.MatchString(need) {
		if os.Getenv(need) == "" {
			return need + " is not set"
		}
		return ""
	}
	if _, err := exec.LookPath(need); err != nil {
		return need + " is not installed"
	}
	return ""
}

// applyNeeds marks the shell and console blocks that cannot run here: a block with a needs
// marker whose needs are not all met, and every later one of its file, since a reader's later
// commands build on the earlier ones (the queue they made, the connector they created). It
// returns one note per file cut short, for the test's log.
func applyNeeds(blocks []block, missing func(need string) string) []string {
	var notes []string
	cut := map[string]string{} // file → why its blocks from there on are not run
	for i := range blocks {
		b := &blocks[i]
		why, ok := cut[b.file]
		if !ok && b.marker.kind == "needs" {
			for _, n := range b.marker.needs {
				if why = missing(n); why != "" {
					cut[b.file] = why
					notes = append(notes, fmt.Sprintf("%s: %s: it and the file's later sh and console blocks are not run", b.where(), why))
					break
				}
			}
		}
		if why == "" {
			continue
		}
		if k, err := b.langKind(); err == nil && (k == kindShell || k == kindConsole) && b.marker.kind != "skip" && b.marker.kind != "example" {
			b.unmet = why
		}
	}
	return notes
}
