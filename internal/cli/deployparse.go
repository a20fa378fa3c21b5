package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/internal/apiclient"
	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/service"
)

// A deploy folder holds .lua files annotated with lines such as
//
//	--#ENDPOINT GET /users/{id}
//	--#EVENT demoexternalservice event
//	--#CONNECTOR tick cron ticks.minute
//
// Each annotation starts an item whose script is the lines that follow it, up to the next
// annotation or the end of the file; a connector has no script but its config, JSON on the
// "--" lines below it (see deployconnector.go). A line is an annotation when, after optional indentation,
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
	// kindHandler is an event handler: --#EVENT service event, Murano's form. It is the
	// handler named "<service>_<event>", subscribed to the topic "<service>.<event>".
	kindHandler
	// kindConnector is a connector: --#CONNECTOR name type topic, its config as JSON on the
	// comment lines below.
	kindConnector
	// kindHosted is a hosted service of the folder's hosted/ folder (deployhosted.go).
	kindHosted
	// kindFlow is a flow of the folder's flows/ folder.
	kindFlow
)

func (k itemKind) String() string {
	switch k {
	case kindEndpoint:
		return "endpoint"
	case kindHandler:
		return "handler"
	case kindConnector:
		return "connector"
	case kindHosted:
		return "hosted"
	case kindFlow:
		return "flow"
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
	// Name identifies a kindHandler or kindConnector item. Service and Event are set when Name has the form
	// "<service>_<event>" (always for a handler from a deploy folder); Topics are the handler's
	// topics, ["<service>.<event>"] for one from a deploy folder.
	Name, Service, Event string
	Topics               []string
	// Script is the Lua source: the lines after the annotation without trailing blank lines,
	// each ending in "\n".
	Script string
	// Type and Topic are a kindConnector item's. ConfigText is its config as written (the
	// JSON of the comment lines, "--" cut off, joined by "\n"; "" for none) and ConfigLine the
	// file line of ConfigText's first line. Config is what is sent: ConfigText with ${NAME}
	// taken from the environment (resolveConfigs), or the server's config as it shows it.
	// EnvFields are the top-level fields of ConfigText that take ${NAME}.
	Type, Topic string
	ConfigText  string
	ConfigLine  int
	Config      json.RawMessage
	EnvFields   []envFieldLine
	// Hosted is a kindHosted item's service; Version is the version deploying it makes (the
	// server's newest for one listed). Flow is a kindFlow item's flow.
	Hosted  *hostedSpec
	Version string
	Flow    *apiclient.Flow
}

// key identifies the item among all items of a deploy.
func (it item) key() string {
	if it.Kind != kindEndpoint {
		return it.Kind.String() + " " + it.Name
	}
	return it.Kind.String() + " " + it.label()
}

// label names the item for people: "GET /users/{id}", "EVENT demoexternalservice event",
// "HANDLER name" for a handler whose name is not "<service>_<event>", or "CONNECTOR name".
func (it item) label() string {
	switch it.Kind {
	case kindEndpoint:
		return it.Method + " " + it.Path
	case kindHandler:
		if it.Service != "" {
			return "EVENT " + it.Service + " " + it.Event
		}
		return "HANDLER " + it.Name
	case kindConnector:
		return "CONNECTOR " + it.Name
	case kindHosted:
		return strings.TrimSpace("HOSTED " + it.Name + " " + it.Version)
	case kindFlow:
		return "FLOW " + it.Name
	}
	return it.Kind.String()
}

// annotation is one kind of "--#KEYWORD args" line.
type annotation struct {
	// usage shows the annotation's form in messages.
	usage string
	// parse makes the item (Kind and identity fields) from the words after the keyword.
	parse func(args []string) (item, error)
	// body, when set, reads the lines below the annotation (trailing blank lines dropped;
	// the first is file line first) into it instead of a script. A problem is returned with
	// the file line it is at.
	body func(it *item, lines []string, first int) (line int, err error)
}

// annotations maps upper-case keywords to their annotation.
var annotations = map[string]annotation{
	"ENDPOINT": {usage: "--#ENDPOINT METHOD /path", parse: parseEndpointAnnotation},
	"EVENT":    {usage: "--#EVENT service event", parse: parseEventAnnotation},
	"CONNECTOR": {
		usage: "--#CONNECTOR name type topic",
		parse: parseConnectorAnnotation,
		body:  connectorBody,
	},
}

// annotationUsage lists the known annotations for messages.
func annotationUsage() string {
	var u []string
	for _, a := range annotations {
		u = append(u, a.usage)
	}
	sort.Strings(u)
	return strings.Join(u[:len(u)-1], ", ") + " or " + u[len(u)-1]
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

var (
	// eventNamePattern is what an event name must match.
	eventNamePattern = catalog.EventNamePattern
	// handlerNamePattern is what a handler's name must match on the server; as a handler's
	// topic is its name with a "." for the first "_", it also keeps the topic valid.
	handlerNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

// checkServiceName reports whether name can be a service's name.
func checkServiceName(name string) error {
	if !service.NamePattern.MatchString(name) {
		return fmt.Errorf("service name %q: want lowercase letters and digits only, such as demoexternalservice", name)
	}
	return nil
}

// handlerItem is the kindHandler item for the event of service: the handler
// "<service>_<event>" subscribed to "<service>.<event>".
func handlerItem(svc, event string) item {
	return item{Kind: kindHandler, Name: svc + "_" + event, Service: svc, Event: event, Topics: []string{svc + "." + event}}
}

// splitHandlerName returns the service and event of a handler named "<service>_<event>", or
// ok false for another name.
func splitHandlerName(name string) (svc, event string, ok bool) {
	svc, event, ok = strings.Cut(name, "_")
	if !ok || checkServiceName(svc) != nil || !eventNamePattern.MatchString(event) {
		return "", "", false
	}
	return svc, event, true
}

func parseEventAnnotation(args []string) (item, error) {
	if len(args) != 2 {
		return item{}, fmt.Errorf("want --#EVENT service event, such as --#EVENT demoexternalservice event; got %d word(s) after --#EVENT", len(args))
	}
	if err := checkServiceName(args[0]); err != nil {
		return item{}, err
	}
	if !eventNamePattern.MatchString(args[1]) {
		if lower := strings.ToLower(args[1]); lower != args[1] && eventNamePattern.MatchString(lower) {
			return item{}, fmt.Errorf("event name %q: a handler's name and topic are lower case; write %q", args[1], lower)
		}
		return item{}, fmt.Errorf("event name %q: want lower-case letters, digits, _ and -, starting with a letter or digit", args[1])
	}
	it := handlerItem(args[0], args[1])
	if !handlerNamePattern.MatchString(it.Name) {
		if strings.ToLower(it.Name) != it.Name {
			return item{}, fmt.Errorf("event name %q: a handler's name and topic are lower case; write %q", args[1], strings.ToLower(args[1]))
		}
		return item{}, fmt.Errorf("handler name %q is too long: at most 63 characters", it.Name)
	}
	return it, nil
}

// sourceError is a problem at a line of a deploy file.
type sourceError struct {
	File string
	Line int
	Msg  string
}

func (e *sourceError) Error() string {
	if e.Line == 0 { // a whole file
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

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
		curAnn   annotation
		bad      bool // the current annotation was rejected: skip its script
		start    int  // index of the current script's first line
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
		if curAnn.body != nil {
			if line, err := curAnn.body(cur, body, start+1); err != nil {
				fail(line, "%s: %v", cur.label(), err)
				return
			}
			items = append(items, *cur)
			return
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
				fail(n, "code before the first annotation: every script must follow an annotation such as --#ENDPOINT GET /path or --#EVENT service event (only blank lines and comments may come first)")
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
		cur, curAnn, bad = &it, ann, false
	}
	finish(len(lines))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return items, nil
}

// checkDuplicates reports every item whose key an earlier item already has, and returns the
// items without those.
func checkDuplicates(items []item) ([]item, error) {
	var errs []error
	var unique []item
	seen := map[string]item{}
	for _, it := range items {
		if first, dup := seen[it.key()]; dup {
			errs = append(errs, &sourceError{File: it.File, Line: it.Line,
				Msg: fmt.Sprintf("duplicate %s %s: already defined at %s:%d", it.Kind, it.label(), first.File, first.Line)})
			continue
		}
		seen[it.key()] = it
		unique = append(unique, it)
	}
	return unique, errors.Join(errs...)
}

// loadDir reads every .lua file under dir (recursively, in lexical order, skipping files and
// folders whose names start with ".") and returns their items. A folder or file that cannot
// be read is a usage error; problems in the files' contents are returned joined.
func loadDir(dir string) ([]item, error) {
	items, problems, err := scanDir(dir)
	if err == nil {
		err = problems
	}
	if err != nil {
		return nil, err
	}
	return items, nil
}

// scanDir is loadDir that also returns, beside the problems in the files' contents, the items
// that have none (the first of duplicates): deploy --dry-run checks them too.
func scanDir(dir string) (items []item, problems, err error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, nil, readError(dir, err)
	}
	if !info.IsDir() {
		return nil, nil, usagef("%s is not a folder", dir)
	}
	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && filepath.Dir(path) == filepath.Clean(dir) && d.Name() == hostedDir {
			return filepath.SkipDir // hosted services' code, not annotated files (loadHosted)
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
		return nil, nil, readError(dir, err)
	}
	var errs []error
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, readError(f, err)
		}
		got, err := parseFile(f, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, got...)
	}
	items, dups := checkDuplicates(items)
	if dups != nil {
		errs = append(errs, dups)
	}
	for _, load := range []func(string) ([]item, error){loadHosted, loadFlows} {
		got, err := load(dir)
		if err != nil {
			errs = append(errs, err)
		}
		items = append(items, got...)
	}
	return items, errors.Join(errs...), nil
}
