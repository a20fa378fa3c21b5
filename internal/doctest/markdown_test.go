package doctest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// block is one fenced code block of a Markdown file.
type block struct {
	file   string   // the file, as reported
	n      int      // 1-based among the file's fenced blocks
	line   int      // line of the opening fence
	lang   string   // the first word of the fence's info string
	lines  []string // the lines between the fences
	marker marker
	// unmet says why a shell or console block is not run here: a need of it, or of an
	// earlier block of its file, is missing (see applyNeeds).
	unmet string
}

// marker is the doctest comment before a block's fence.
type marker struct {
	kind    string   // "", "skip", "example" or "needs"
	example string   // the program under examples/, for "example"
	needs   []string // for "needs": environment variables and programs
	reason  string
}

// How a block is treated.
const (
	kindShell   = "sh"
	kindConsole = "console"
	kindLua     = "lua"
	kindText    = "text"
	kindSkip    = "skip"
	kindExample = "example"
)

func (b *block) where() string { return fmt.Sprintf("%s:%d (block %d)", b.file, b.line, b.n) }

// kind says how the test treats b, or why it cannot.
func (b *block) kind() (string, error) {
	switch b.marker.kind {
	case "skip":
		return kindSkip, nil
	case "example":
		return kindExample, nil
	}
	k, err := b.langKind()
	if err != nil {
		return "", err
	}
	runnable := k == kindShell || k == kindConsole
	if b.marker.kind == "needs" && !runnable {
		return "", fmt.Errorf("%s: a needs marker goes before a sh or console block, not ```%s", b.where(), b.lang)
	}
	if runnable && b.unmet != "" {
		return kindSkip, nil
	}
	return k, nil
}

// langKind is how the test treats a block of b's language.
func (b *block) langKind() (string, error) {
	switch b.lang {
	case "sh", "bash", "shell":
		return kindShell, nil
	case "console":
		return kindConsole, nil
	case "lua":
		return kindLua, nil
	case "text", "http":
		return kindText, nil
	case "":
		return "", fmt.Errorf("%s: the block has no language: tag it sh, console, lua, text or http, or put <!-- doctest: skip (reason) --> before it", b.where())
	}
	return "", fmt.Errorf("%s: ```%s blocks are not run: put <!-- doctest: skip (reason) --> before it", b.where(), b.lang)
}

var (
	fenceRE      = regexp.MustCompile("^(```+|~~~+)\\s*([^`\\s]*)")
	markerRE     = regexp.MustCompile(`^<!--\s*doctest:\s*(.*?)\s*-->$`)
	markerBodyRE = regexp.MustCompile(`^(skip|example)(?:\s+([a-z0-9][a-z0-9-]*))?\s+\((.+)\)$`)
	needsRE      = regexp.MustCompile(`^needs((?:\s+[^\s(]+)+)(?:\s+\((.+)\))?$`)
)

// parseMarkdown returns the fenced code blocks of a Markdown document with their markers.
func parseMarkdown(file, text string) ([]block, error) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var (
		blocks  []block
		pending *marker
		pendAt  int
	)
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if m := markerRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			if pending != nil {
				return nil, fmt.Errorf("%s:%d: doctest marker not followed by a fenced block", file, pendAt)
			}
			if n := needsRE.FindStringSubmatch(m[1]); n != nil {
				needs := strings.Fields(n[1])
				for _, w := range needs {
					if !envNameRE.MatchString(w) && !programRE.MatchString(w) {
						return nil, fmt.Errorf("%s:%d: doctest marker %q: %q is neither an environment variable (SWITCHBOARD_TEST_MQTT_URL) nor a program (mosquitto_pub)", file, i+1, m[1], w)
					}
				}
				pending, pendAt = &marker{kind: "needs", needs: needs, reason: n[2]}, i+1
				continue
			}
			body := markerBodyRE.FindStringSubmatch(m[1])
			if body == nil {
				return nil, fmt.Errorf("%s:%d: doctest marker %q: want \"skip (reason)\", \"example NAME (reason)\" or \"needs VAR-OR-PROGRAM...\"", file, i+1, m[1])
			}
			if (body[1] == "example") != (body[2] != "") {
				return nil, fmt.Errorf("%s:%d: doctest marker %q: only example takes a name, and it needs one", file, i+1, m[1])
			}
			pending, pendAt = &marker{kind: body[1], example: body[2], reason: body[3]}, i+1
			continue
		}
		f := fenceRE.FindStringSubmatch(l)
		if f == nil {
			if pending != nil && strings.TrimSpace(l) != "" {
				return nil, fmt.Errorf("%s:%d: doctest marker not followed by a fenced block", file, pendAt)
			}
			continue
		}
		b := block{file: file, n: len(blocks) + 1, line: i + 1, lang: strings.ToLower(f[2])}
		if pending != nil {
			b.marker, pending = *pending, nil
		}
		closed := false
		for i++; i < len(lines); i++ {
			t := strings.TrimRight(lines[i], " \t")
			if strings.HasPrefix(t, f[1]) && strings.Trim(t, f[1][:1]) == "" {
				closed = true
				break
			}
			b.lines = append(b.lines, lines[i])
		}
		if !closed {
			return nil, fmt.Errorf("%s:%d: fenced block never closed", file, b.line)
		}
		blocks = append(blocks, b)
	}
	if pending != nil {
		return nil, fmt.Errorf("%s:%d: doctest marker not followed by a fenced block", file, pendAt)
	}
	return blocks, nil
}

// step is a point in a session where output is checked: a command of a console block, or the
// command an expected-output comment of a sh block follows.
type step struct {
	block   *block
	line    int      // the command's line in the document
	command string   // the command as the document shows it
	expect  []string // output lines the command must print; empty: it must succeed
	console bool
}

// session is the bash script that runs a file's shell and console blocks in order.
type session struct {
	script string
	src    []*block // the block each script line came from (nil: the test's own lines)
	doc    []int    // the document line of each script line
	steps  []step
	blocks []*block // runnable blocks, by the number their start marker prints
}

// prelude comes before the blocks. The ERR trap tells which command failed, as set -e ends
// the session: its status, its script line and its text, written to $DOCTEST_FAIL. The DEBUG
// trap keeps the command about to run in $DOCTEST_AT, to name the one that hangs.
const prelude = `set -euo pipefail
trap 'doctest_rc=$?; printf "%s\n%s\n%s\n" "$doctest_rc" "$LINENO" "$BASH_COMMAND" > "$DOCTEST_FAIL"' ERR
trap 'printf "%s\n%s\n" "$LINENO" "$BASH_COMMAND" > "$DOCTEST_AT"' DEBUG
go() {
  if [ "$*" = "build -o switchboard ./cmd/switchboard" ]; then cp "$DOCTEST_BINARY" ./switchboard; return; fi
  echo "doctest: 'go $*' is not run by the doc test; mark the block <!-- doctest: skip (reason) -->" >&2
  return 97
}
`

// Output markers: a block's start and a step's end with the exit status of its command.
const (
	markBlock = "@@doctest:block:"
	markStep  = "@@doctest:step:"
)

var heredocRE = regexp.MustCompile(`(?:^|[^<])<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)

// buildSession turns the shell and console blocks into one script, with addr in place of
// 127.0.0.1:8080.
func buildSession(blocks []block, addr string) (*session, error) {
	s := &session{}
	for _, l := range strings.Split(strings.TrimSuffix(prelude, "\n"), "\n") {
		s.add(nil, 0, l)
	}
	for i := range blocks {
		b := &blocks[i]
		k, err := b.kind()
		if err != nil {
			return nil, err
		}
		if k != kindShell && k != kindConsole {
			continue
		}
		s.blocks = append(s.blocks, b)
		s.add(b, b.line, fmt.Sprintf("printf '\\n%s%d@@\\n'", markBlock, len(s.blocks)-1))
		if k == kindShell {
			s.shell(b, addr)
		} else if err := s.console(b, addr); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *session) add(b *block, docLine int, line string) {
	s.script += line + "\n"
	s.src = append(s.src, b)
	s.doc = append(s.doc, docLine)
}

func (s *session) stepMark(rc string) string {
	return fmt.Sprintf(`printf '\n%s%d:%%d@@\n' %s`, markStep, len(s.steps)-1, rc)
}

// shell adds a sh block. A run of comment lines right after a command line is the output
// that command must print.
func (s *session) shell(b *block, addr string) {
	var (
		heredoc string
		prev    string // the last command line, "" after a blank or comment line
		prevAt  int
		opener  string // the line that opened the heredoc, and where
		openAt  int
		cur     *step
	)
	for i, l := range b.lines {
		at := b.line + 1 + i
		run := strings.ReplaceAll(l, "127.0.0.1:8080", addr)
		t := strings.TrimSpace(l)
		if heredoc != "" {
			s.add(b, at, run)
			if strings.TrimLeft(l, "\t") == heredoc {
				heredoc, prev, prevAt = "", opener, openAt
			}
			continue
		}
		if strings.HasPrefix(t, "#") && (cur != nil || prev != "") {
			if cur == nil {
				s.steps = append(s.steps, step{block: b, line: prevAt, command: strings.TrimSpace(prev)})
				cur = &s.steps[len(s.steps)-1]
				s.add(b, at, s.stepMark("0"))
			} else {
				s.add(b, at, "")
			}
			cur.expect = append(cur.expect, strings.TrimSpace(strings.TrimPrefix(t, "#")))
			continue
		}
		cur = nil
		s.add(b, at, run)
		prev, prevAt = "", 0
		if t != "" && !strings.HasPrefix(t, "#") {
			prev, prevAt = l, at
			if m := heredocRE.FindStringSubmatch(l); m != nil && !strings.Contains(l, "<<<") {
				heredoc, opener, openAt = m[1], l, at
			}
		}
	}
}

// console adds a transcript: `$ command` lines, each followed by its output.
func (s *session) console(b *block, addr string) error {
	var cur *step
	flush := func() {
		if cur != nil {
			for len(cur.expect) > 0 && strings.TrimSpace(cur.expect[len(cur.expect)-1]) == "" {
				cur.expect = cur.expect[:len(cur.expect)-1]
			}
		}
	}
	for i := 0; i < len(b.lines); i++ {
		l, at := b.lines[i], b.line+1+i
		cmd, ok := strings.CutPrefix(l, "$ ")
		if !ok {
			if cur == nil {
				if strings.TrimSpace(l) == "" {
					continue
				}
				return fmt.Errorf("%s:%d: console block: output before the first \"$ \" command", b.file, at)
			}
			cur.expect = append(cur.expect, l)
			continue
		}
		flush()
		shown := []string{cmd}
		s.steps = append(s.steps, step{block: b, line: at, console: true})
		cur = &s.steps[len(s.steps)-1]
		s.add(b, at, "doctest_rc=0; { "+strings.ReplaceAll(cmd, "127.0.0.1:8080", addr))
		for strings.HasSuffix(cmd, `\`) && i+1 < len(b.lines) {
			i++
			cmd = b.lines[i]
			shown = append(shown, cmd)
			s.add(b, b.line+1+i, strings.ReplaceAll(cmd, "127.0.0.1:8080", addr))
		}
		cur.command = strings.Join(shown, "\n")
		s.add(b, at, "} || doctest_rc=$?; "+s.stepMark(`"$doctest_rc"`))
	}
	flush()
	return nil
}

// outcome is what a session printed, cut at its markers.
type outcome struct {
	blockOut map[int]string // output of each block, by index in session.blocks
	stepOut  map[int]string // output of each step since the previous marker
	stepRC   map[int]int
	last     int // index of the last block that started, -1 if none
}

var markRE = regexp.MustCompile(`\n?@@doctest:(block|step):(\d+)(?::(-?\d+))?@@\n`)

func cutOutput(out string) outcome {
	o := outcome{blockOut: map[int]string{}, stepOut: map[int]string{}, stepRC: map[int]int{}, last: -1}
	pos, since := 0, 0
	for _, m := range markRE.FindAllStringSubmatchIndex(out, -1) {
		kind, n := out[m[2]:m[3]], atoi(out[m[4]:m[5]])
		seg := out[pos:m[0]]
		if o.last >= 0 {
			o.blockOut[o.last] += seg
		}
		if kind == "block" {
			o.last, since = n, m[1]
		} else {
			o.stepOut[n] = out[since:m[0]]
			o.stepRC[n] = atoi(out[m[6]:m[7]])
			since = m[1]
		}
		pos = m[1]
	}
	if o.last >= 0 {
		o.blockOut[o.last] += out[pos:]
	}
	return o
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

var (
	timestampRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z`)
	spaceRE     = regexp.MustCompile(`\s+`)
)

// expectRE matches output holding the expected lines in order: "…" stands for any text (the
// spaces around it included), a timestamp for any timestamp, and a run of white space for any
// run of white space.
func expectRE(lines []string) *regexp.Regexp {
	var parts []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		var b strings.Builder
		pieces := strings.Split(l, "…")
		for i, piece := range pieces {
			// The spaces around … belong to the text it stands for: "a … b" matches "a\tb".
			if i > 0 {
				b.WriteString(`.*?`)
				piece = strings.TrimLeft(piece, " \t")
			}
			if i < len(pieces)-1 {
				piece = strings.TrimRight(piece, " \t")
			}
			rest := piece
			for rest != "" {
				loc := timestampRE.FindStringIndex(rest)
				if loc == nil {
					b.WriteString(quoteSpaces(rest))
					break
				}
				b.WriteString(quoteSpaces(rest[:loc[0]]))
				b.WriteString(timestampRE.String())
				rest = rest[loc[1]:]
			}
		}
		parts = append(parts, b.String())
	}
	return regexp.MustCompile(`(?s)` + strings.Join(parts, `.*?`))
}

func quoteSpaces(s string) string {
	words := spaceRE.Split(s, -1)
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	return strings.Join(words, `\s+`)
}
