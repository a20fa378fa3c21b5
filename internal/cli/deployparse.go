package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// A deploy folder holds .lua files annotated with lines such as
//
//	--#ENDPOINT GET /users/{id}
//
// Each annotation starts an item whose script is the lines that follow it, up to the next
// annotation or the end of the file. A line is an annotation when, after optional indentation,
// it starts with "--#" directly followed by a letter; "-- #" and "--##" lines are plain comments.
// Before a file's first annotation only blank lines and comments may appear.
//
// Adding a kind of item means adding an itemKind, its fields in item, its annotation to
// annotations, and its remote side to the deploy command's syncers.

// itemKind is what an annotation declares.
type itemKind int

const (
	// kindEndpoint is an HTTP endpoint: --#ENDPOINT METHOD /path.
	kindEndpoint itemKind = iota + 1
)

func (k itemKind) String() string {
	switch k {
	case kindEndpoint:
		return "endpoint"
	}
	return fmt.Sprintf("itemKind(%d)", int(k))
}

// item is one annotation of a deploy folder and the script below it.
type item struct {
	Kind itemKind
	// File and Line locate the annotation; the script's first line is Line+1.
	File string
	Line int
	// Method (upper case) and Path identify a kindEndpoint item.
	Method, Path string
	// Script is the Lua source: the lines after the annotation without trailing blank lines,
	// each ending in "\n".
	Script string
}

// key identifies the item among all items of a deploy.
func (it item) key() string { return it.Kind.String() + " " + it.label() }

// label names the item for people: "GET /users/{id}".
func (it item) label() string {
	switch it.Kind {
	case kindEndpoint:
		return it.Method + " " + it.Path
	}
	return it.Kind.String()
}

// annotation is one kind of "--#KEYWORD args" line.
type annotation struct {
	// usage shows the annotation's form in messages.
	usage string
	// parse makes the item (Kind and identity fields) from the words after the keyword.
	parse func(args []string) (item, error)
}

// annotations maps upper-case keywords to their annotation.
var annotations = map[string]annotation{
	"ENDPOINT": {usage: "--#ENDPOINT METHOD /path", parse: parseEndpointAnnotation},
}

// annotationUsage lists the known annotations for messages.
func annotationUsage() string {
	var u []string
	for _, a := range annotations {
		u = append(u, a.usage)
	}
	sort.Strings(u)
	return strings.Join(u, " or ")
}

func parseEndpointAnnotation(args []string) (item, error) {
	if len(args) != 2 {
		return item{}, fmt.Errorf("want --#ENDPOINT METHOD /path, such as --#ENDPOINT GET /hello; got %d word(s) after --#ENDPOINT", len(args))
	}
	method, err := normalizeMethod(args[0])
	if err != nil {
		return item{}, err
	}
	if err := checkPath(args[1]); err != nil {
		return item{}, err
	}
	return item{Kind: kindEndpoint, Method: method, Path: args[1]}, nil
}

// sourceError is a problem at a line of a deploy file.
type sourceError struct {
	File string
	Line int
	Msg  string
}

func (e *sourceError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// annotationLine reports whether line is an annotation and returns its words after "--#".
func annotationLine(line string) ([]string, bool) {
	t := strings.TrimLeft(line, " \t")
	if !strings.HasPrefix(t, "--#") || len(t) == 3 {
		return nil, false
	}
	if c := t[3]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		return nil, false
	}
	return strings.Fields(t[3:]), true
}

// longBracket returns the closing delimiter of a Lua long bracket opening s ("[[" → "]]",
// "[==[" → "]==]") and the opener's length, or "" if s does not start with one.
func longBracket(s string) (string, int) {
	if !strings.HasPrefix(s, "[") {
		return "", 0
	}
	n := 1
	for n < len(s) && s[n] == '=' {
		n++
	}
	if n >= len(s) || s[n] != '[' {
		return "", 0
	}
	return "]" + strings.Repeat("=", n-1) + "]", n + 1
}

// preamble checks the lines before a file's first annotation: only blank lines and comments.
type preamble struct {
	closing string // the delimiter that ends the block comment we are in, or ""
}

// ok consumes one line and reports whether it is blank or comment.
func (p *preamble) ok(line string) bool {
	t := strings.TrimSpace(line)
	for {
		if p.closing != "" {
			i := strings.Index(t, p.closing)
			if i < 0 {
				return true
			}
			t = strings.TrimSpace(t[i+len(p.closing):])
			p.closing = ""
		}
		switch {
		case t == "":
			return true
		case !strings.HasPrefix(t, "--"):
			return false
		}
		closing, n := longBracket(t[2:])
		if closing == "" {
			return true // a line comment
		}
		p.closing = closing
		t = t[2+n:]
	}
}

// parseFile splits one deploy file into its items. file names the file in messages. All the
// problems found are returned, joined, each as "file:line: message".
func parseFile(file string, src []byte) ([]item, error) {
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	text := string(src)
	lines := strings.Split(text, "\n")
	if strings.HasSuffix(text, "\n") || text == "" {
		lines = lines[:len(lines)-1]
	}

	var (
		items    []item
		errs     []error
		cur      *item // the item whose script is being read; nil before the first annotation
		bad      bool  // the current annotation was rejected: skip its script
		start    int   // index of the current script's first line
		pre      preamble
		preErred bool
	)
	fail := func(line int, format string, args ...any) {
		errs = append(errs, &sourceError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	finish := func(end int) {
		if cur == nil || bad {
			return
		}
		body := lines[start:end]
		for len(body) > 0 && strings.TrimSpace(body[len(body)-1]) == "" {
			body = body[:len(body)-1]
		}
		if len(body) == 0 {
			fail(cur.Line, "%s has no script below it", cur.label())
			return
		}
		cur.Script = strings.Join(body, "\n") + "\n"
		items = append(items, *cur)
	}

	for i, line := range lines {
		n := i + 1
		if !utf8.ValidString(line) {
			fail(n, "not valid UTF-8 text")
			return nil, errors.Join(errs...)
		}
		words, isAnnotation := annotationLine(strings.TrimSuffix(line, "\r"))
		if !isAnnotation {
			if cur == nil && !bad && !preErred && !pre.ok(line) {
				fail(n, "code before the first annotation: every script must follow an annotation such as --#ENDPOINT GET /path (only blank lines and comments may come first)")
				preErred = true
			}
			continue
		}
		finish(i)
		if cur == nil && !bad && pre.closing != "" {
			fail(n, "annotation inside a block comment that was not closed (missing %q)", pre.closing)
			pre.closing = ""
		}
		cur, bad, start = nil, true, i+1
		keyword := strings.ToUpper(words[0])
		ann, known := annotations[keyword]
		if !known {
			fail(n, "unknown annotation --#%s; want %s (write \"-- #\" for a plain comment)", words[0], annotationUsage())
			continue
		}
		it, err := ann.parse(words[1:])
		if err != nil {
			fail(n, "%v", err)
			continue
		}
		it.File, it.Line = file, n
		cur, bad = &it, false
	}
	finish(len(lines))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return items, nil
}

// checkDuplicates reports every item whose key an earlier item already has.
func checkDuplicates(items []item) error {
	var errs []error
	seen := map[string]item{}
	for _, it := range items {
		if first, dup := seen[it.key()]; dup {
			errs = append(errs, &sourceError{File: it.File, Line: it.Line,
				Msg: fmt.Sprintf("duplicate %s %s: already defined at %s:%d", it.Kind, it.label(), first.File, first.Line)})
			continue
		}
		seen[it.key()] = it
	}
	return errors.Join(errs...)
}

// loadDir reads every .lua file under dir (recursively, in lexical order, skipping files and
// folders whose names start with ".") and returns their items. A folder or file that cannot
// be read is a usage error; problems in the files' contents are returned joined.
func loadDir(dir string) ([]item, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, readError(dir, err)
	}
	if !info.IsDir() {
		return nil, usagef("%s is not a folder", dir)
	}
	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".lua") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, readError(dir, err)
	}
	var items []item
	var errs []error
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, readError(f, err)
		}
		got, err := parseFile(f, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, got...)
	}
	if err := checkDuplicates(items); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return items, nil
}
