package cli

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/events"
)

func ep(line int, method, path, script string) item {
	return item{Kind: kindEndpoint, File: "f.lua", Line: line, Method: method, Path: path, Script: script}
}

func ev(line int, svc, event, script string) item {
	return item{Kind: kindHandler, File: "f.lua", Line: line, Name: svc + "_" + event, Service: svc, Event: event,
		Topics: []string{svc + "." + event}, Script: script}
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []item
		wantErr []string // each a line of the error, in order
	}{
		{name: "empty file"},
		{name: "only comments and blank lines", src: "-- helpers\n\n--[[ a\nblock ]]\n"},
		{
			name: "one endpoint",
			src:  "--#ENDPOINT GET /hello\nreturn {status = 200}\n",
			want: []item{ep(1, "GET", "/hello", "return {status = 200}\n")},
		},
		{
			name: "several endpoints, trailing blank lines dropped, leading ones kept",
			src:  "--#ENDPOINT GET /a\nreturn 1\n\n\n--#ENDPOINT POST /b\n\nreturn 2\n  \n",
			want: []item{ep(1, "GET", "/a", "return 1\n"), ep(5, "POST", "/b", "\nreturn 2\n")},
		},
		{
			name: "keyword and method are case-insensitive",
			src:  "--#endpoint delete /users/{id}\nreturn nil\n",
			want: []item{ep(1, "DELETE", "/users/{id}", "return nil\n")},
		},
		{
			name: "comments, block comments and blank lines may come first",
			src:  "-- users API\n\n--[==[\nnot code ]] still comment\n]==] -- done\n--#ENDPOINT GET /\nreturn 1",
			want: []item{ep(6, "GET", "/", "return 1\n")},
		},
		{
			name: "indented annotation and extra spaces",
			src:  "  \t--#ENDPOINT   PUT    /x  \nreturn 1\n",
			want: []item{ep(1, "PUT", "/x", "return 1\n")},
		},
		{
			name: "CRLF line endings",
			src:  "--#ENDPOINT GET /a\r\nreturn 1\r\n\r\n--#ENDPOINT GET /b\r\nreturn 2\r\n",
			want: []item{ep(1, "GET", "/a", "return 1\r\n"), ep(4, "GET", "/b", "return 2\r\n")},
		},
		{
			name: "byte order mark",
			src:  "\ufeff--#ENDPOINT GET /a\nreturn 1\n",
			want: []item{ep(1, "GET", "/a", "return 1\n")},
		},
		{
			name: "a space after -- or a second # makes a plain comment",
			src:  "-- #ENDPOINT GET /nope\n--## banner\n--#ENDPOINT GET /a\n-- #TODO\n--##\nreturn 1\n",
			want: []item{ep(3, "GET", "/a", "-- #TODO\n--##\nreturn 1\n")},
		},
		{
			name: "one event handler",
			src:  "--#EVENT demoexternalservice event\nreturn true\n",
			want: []item{ev(1, "demoexternalservice", "event", "return true\n")},
		},
		{
			name: "endpoints and event handlers mixed, keyword case-insensitive",
			src:  "-- api\n--#ENDPOINT GET /a\nreturn 1\n\n--#event websocket websocket_info\nreturn 2\n--#EVENT timer3 tick-1\nreturn 3\n",
			want: []item{ep(2, "GET", "/a", "return 1\n"), ev(5, "websocket", "websocket_info", "return 2\n"), ev(7, "timer3", "tick-1", "return 3\n")},
		},
		{
			name:    "event: missing event name",
			src:     "--#EVENT demoexternalservice\nreturn 1\n",
			wantErr: []string{"f.lua:1: want --#EVENT service event, such as --#EVENT demoexternalservice event; got 1 word(s) after --#EVENT"},
		},
		{
			name:    "event: extra words",
			src:     "--#EVENT demo event now\nreturn 1\n",
			wantErr: []string{"f.lua:1: want --#EVENT service event, such as --#EVENT demoexternalservice event; got 3 word(s) after --#EVENT"},
		},
		{
			name: "event: bad service names",
			src:  "--#EVENT Demo event\nreturn 1\n--#EVENT demo_x event\nreturn 2\n--#EVENT demo-x event\nreturn 3\n",
			wantErr: []string{
				`f.lua:1: service name "Demo": want lowercase letters and digits only`,
				`f.lua:3: service name "demo_x": want lowercase letters and digits only`,
				`f.lua:5: service name "demo-x": want lowercase letters and digits only`,
			},
		},
		{
			name: "event: bad event names",
			src:  "--#EVENT demo _1st\nreturn 1\n--#EVENT demo ev x\nreturn 2\n--#EVENT demo ev.x\nreturn 3\n",
			wantErr: []string{
				`f.lua:1: event name "_1st": want lower-case letters, digits, _ and -, starting with a letter or digit`,
				`f.lua:3: want --#EVENT service event`,
				`f.lua:5: event name "ev.x": want lower-case letters, digits, _ and -`,
			},
		},
		{
			name:    "event: upper case is not a valid handler name",
			src:     "--#EVENT demo Changed\nreturn 1\n",
			wantErr: []string{`f.lua:1: event name "Changed": a handler's name and topic are lower case; write "changed"`},
		},
		{
			name:    "event: handler name too long",
			src:     "--#EVENT demo " + strings.Repeat("e", 59) + "\nreturn 1\n",
			wantErr: []string{`f.lua:1: handler name "demo_` + strings.Repeat("e", 59) + `" is too long: at most 63 characters`},
		},
		{
			name:    "event without a script",
			src:     "--#EVENT demo event\n\n",
			wantErr: []string{"f.lua:1: EVENT demo event has no script below it"},
		},
		{
			name:    "code before the first annotation",
			src:     "local x = 1\nlocal y = 2\n--#ENDPOINT GET /a\nreturn x\n",
			wantErr: []string{"f.lua:1: code before the first annotation"},
		},
		{
			name:    "code after a block comment on the same line",
			src:     "--[[ c ]] x = 1\n--#ENDPOINT GET /a\nreturn x\n",
			wantErr: []string{"f.lua:1: code before the first annotation"},
		},
		{
			name:    "unknown method",
			src:     "--#ENDPOINT FETCH /a\nreturn 1\n",
			wantErr: []string{`f.lua:1: unknown HTTP method "FETCH"; want one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`},
		},
		{
			name:    "path without a leading slash",
			src:     "\n--#ENDPOINT GET users\nreturn 1\n",
			wantErr: []string{`f.lua:2: path "users" must start with "/"`},
		},
		{
			name:    "path with a query",
			src:     "--#ENDPOINT GET /a?b=1\nreturn 1\n",
			wantErr: []string{`f.lua:1: path "/a?b=1": an endpoint path has no query (?) or fragment (#)`},
		},
		{
			name:    "missing path",
			src:     "--#ENDPOINT GET\nreturn 1\n",
			wantErr: []string{"f.lua:1: want --#ENDPOINT METHOD /path, such as --#ENDPOINT GET /hello; got 1 word(s) after --#ENDPOINT"},
		},
		{
			name:    "extra words",
			src:     "--#ENDPOINT GET /a text/html\nreturn 1\n",
			wantErr: []string{"f.lua:1: want --#ENDPOINT METHOD /path, such as --#ENDPOINT GET /hello; got 3 word(s) after --#ENDPOINT"},
		},
		{
			name:    "unknown annotation",
			src:     "--#ENDPIONT GET /a\nreturn 1\n",
			wantErr: []string{`f.lua:1: unknown annotation --#ENDPIONT; want --#CONNECTOR name type topic, --#ENDPOINT METHOD /path or --#EVENT service event (write "-- #" for a plain comment)`},
		},
		{
			name:    "annotation without a script",
			src:     "--#ENDPOINT GET /a\n\n--#ENDPOINT GET /b\nreturn 1\n--#ENDPOINT GET /c\n",
			wantErr: []string{"f.lua:1: GET /a has no script below it", "f.lua:5: GET /c has no script below it"},
		},
		{
			name: "every problem is reported, the script of a bad annotation is not code before the first",
			src:  "--#ENDPOINT GOT /a\nreturn 1\n--#ENDPOINT GET /ok\nreturn 2\n--#ENDPOINT GET b\nreturn 3\n",
			wantErr: []string{
				`f.lua:1: unknown HTTP method "GOT"`,
				`f.lua:5: path "b" must start with "/"`,
			},
		},
		{
			name:    "annotation inside an unclosed block comment",
			src:     "--[[ start\n--#ENDPOINT GET /a\nreturn 1\n",
			wantErr: []string{`f.lua:2: annotation inside a block comment that was not closed (missing "]]")`},
		},
		{
			name:    "invalid UTF-8",
			src:     "--#ENDPOINT GET /a\nreturn \"\xff\"\n",
			wantErr: []string{"f.lua:2: not valid UTF-8 text"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFile("f.lua", []byte(tt.src))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; items %+v", got)
				}
				lines := strings.Split(err.Error(), "\n")
				if len(lines) != len(tt.wantErr) {
					t.Fatalf("error:\n%v\nwant %d lines starting with %q", err, len(tt.wantErr), tt.wantErr)
				}
				for i, want := range tt.wantErr {
					if !strings.HasPrefix(lines[i], want) {
						t.Errorf("error line %d = %q, want it to start with %q", i+1, lines[i], want)
					}
				}
				var se *sourceError
				if !errors.As(err, &se) {
					t.Errorf("error %T holds no *sourceError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("items\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// writeTree creates files (slash-separated names) under a new temporary folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDir(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"b.lua":          "--#ENDPOINT GET /b\nreturn 'b'\n--#EVENT demo event\nreturn 'e'\n",
		"a/z.lua":        "--#ENDPOINT GET /z\nreturn 'z'\n--#ENDPOINT POST /z\nreturn 'z2'\n",
		"a/m.lua":        "--#ENDPOINT GET /m\nreturn 'm'\n",
		"Upper.LUA":      "--#ENDPOINT GET /upper\nreturn 1\n",
		"notes.txt":      "not lua",
		".hidden/h.lua":  "--#ENDPOINT GET /hidden\nreturn 1\n",
		".skipped.lua":   "--#ENDPOINT GET /skipped\nreturn 1\n",
		"lib/empty.lua":  "-- nothing here yet\n",
		"lib/readme.md":  "# docs",
		"zz/deep/x.lua":  "--#ENDPOINT GET /x\nreturn 'x'\n",
		"zz/deep/y.luac": "binary",
	})
	items, err := loadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		rel, _ := filepath.Rel(dir, it.File)
		got = append(got, filepath.ToSlash(rel)+":"+it.label())
	}
	want := []string{
		"Upper.LUA:GET /upper",
		"a/m.lua:GET /m",
		"a/z.lua:GET /z",
		"a/z.lua:POST /z",
		"b.lua:GET /b",
		"b.lua:EVENT demo event",
		"zz/deep/x.lua:GET /x",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items\n got %q\nwant %q", got, want)
	}
}

func TestLoadDirErrors(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		path      func(dir string) string
		wantUsage bool
		want      []string // substrings of the error, with paths relative to the folder
	}{
		{
			name: "duplicate across files",
			files: map[string]string{
				"a.lua": "--#ENDPOINT GET /x\nreturn 1\n",
				"b.lua": "\n--#ENDPOINT get /x\nreturn 2\n",
			},
			want: []string{"b.lua:2: duplicate endpoint GET /x: already defined at ", "a.lua:1"},
		},
		{
			name:  "duplicate in one file",
			files: map[string]string{"a.lua": "--#ENDPOINT GET /x\nreturn 1\n--#ENDPOINT GET /x\nreturn 2\n"},
			want:  []string{"a.lua:3: duplicate endpoint GET /x: already defined at ", "a.lua:1"},
		},
		{
			name: "problems in several files are all reported",
			files: map[string]string{
				"a.lua": "x = 1\n",
				"b.lua": "--#ENDPOINT GET nope\nreturn 1\n",
			},
			want: []string{"a.lua:1: code before the first annotation", `b.lua:1: path "nope" must start with "/"`},
		},
		{
			name: "duplicate event across files",
			files: map[string]string{
				"a.lua": "--#EVENT demo event\nreturn 1\n",
				"b.lua": "--#ENDPOINT GET /x\nreturn 1\n--#event demo event\nreturn 2\n",
			},
			want: []string{"b.lua:3: duplicate handler EVENT demo event: already defined at ", "a.lua:1"},
		},
		{
			name:      "missing folder",
			path:      func(dir string) string { return filepath.Join(dir, "missing") },
			wantUsage: true,
			want:      []string{"missing"},
		},
		{
			name:      "a file, not a folder",
			files:     map[string]string{"a.lua": "--#ENDPOINT GET /x\nreturn 1\n"},
			path:      func(dir string) string { return filepath.Join(dir, "a.lua") },
			wantUsage: true,
			want:      []string{"a.lua is not a folder"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			p := dir
			if tt.path != nil {
				p = tt.path(dir)
			}
			items, err := loadDir(p)
			if err == nil {
				t.Fatalf("no error; items %+v", items)
			}
			var ue *usageError
			if errors.As(err, &ue) != tt.wantUsage {
				t.Errorf("usage error = %v, want %v (%v)", !tt.wantUsage, tt.wantUsage, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// render writes items back as a deploy file.
func render(items []item) string {
	var b strings.Builder
	for _, it := range items {
		switch it.Kind {
		case kindEndpoint:
			b.WriteString("--#ENDPOINT " + it.Method + " " + it.Path + "\n" + it.Script)
		case kindHandler:
			b.WriteString("--#EVENT " + it.Service + " " + it.Event + "\n" + it.Script)
		case kindConnector:
			b.WriteString("--#CONNECTOR " + it.Name + " " + it.Type + " " + it.Topic + "\n")
			if it.ConfigText != "" {
				for _, l := range strings.Split(it.ConfigText, "\n") {
					b.WriteString("--" + l + "\n")
				}
			}
		}
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"--#ENDPOINT GET /hello\nreturn 1\n",
		"-- c\n--[[ x\n]]\n--#endpoint post /a/{id}\n\nreturn 2\n\n--#ENDPOINT DELETE /\nreturn 3",
		"--#ENDPOINT GET /a\r\nreturn 1\r\n",
		"x = 1\n--#ENDPOINT GET /a\n",
		"--#FOO bar\n--#ENDPOINT GET\n--[==[\n",
		"\ufeff  --#ENDPOINT OPTIONS /x?y\n\xff\n",
		"--#EVENT demoexternalservice event\nreturn 1\n--#ENDPOINT GET /a\nreturn 2\n",
		"--#event websocket websocket_info\r\nreturn 1\r\n--#EVENT Demo X\n--#EVENT a\n",
		"--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\": \"@every 1m\"}\n\n-- c\n--#EVENT ticks minute\nreturn 1\n",
		"--#connector hook webhook hooks.in\r\n--{\"secret\": \"${S}\",\r\n--  \"a\": [1, {\"b\": null}]}\r\n--#CONNECTOR open webhook h.x\n",
		"--#CONNECTOR a b\n--#CONNECTOR x cron t\n-- {\"a\":1,\"a\":2}\n--#CONNECTOR y cron t\n-- [\"${\"]\nx = 1\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		items, err := parseFile("f.lua", src)
		if err != nil {
			var se *sourceError
			if !errors.As(err, &se) || se.File != "f.lua" || se.Line < 1 {
				t.Fatalf("error %q is not located in f.lua", err)
			}
			return
		}
		lines := strings.Count(string(src), "\n") + 1
		for _, it := range items {
			if it.File != "f.lua" || it.Line < 1 || it.Line > lines {
				t.Fatalf("bad item %+v", it)
			}
			switch it.Kind {
			case kindEndpoint:
				if _, err := normalizeMethod(it.Method); err != nil || it.Method != strings.ToUpper(it.Method) {
					t.Fatalf("bad method in %+v", it)
				}
				if err := checkPath(it.Path); err != nil {
					t.Fatalf("bad path in %+v: %v", it, err)
				}
			case kindHandler:
				svc, event, ok := splitHandlerName(it.Name)
				if !ok || svc != it.Service || event != it.Event || !handlerNamePattern.MatchString(it.Name) ||
					!reflect.DeepEqual(it.Topics, []string{svc + "." + event}) {
					t.Fatalf("bad handler %+v", it)
				}
			case kindConnector:
				if !connector.NamePattern.MatchString(it.Name) || events.ValidateTopic(it.Topic) != nil ||
					it.Type == "" || strings.ContainsAny(it.Type, " \t") || it.Script != "" {
					t.Fatalf("bad connector %+v", it)
				}
				if it.ConfigLine < it.Line || it.ConfigLine > lines {
					t.Fatalf("bad config line in %+v", it)
				}
				if _, _, err := parseConfigText(it.ConfigText); err != nil {
					t.Fatalf("config of %+v: %v", it, err)
				}
				for _, f := range it.EnvFields {
					if f.Line < it.ConfigLine || f.Line > lines || f.Key == "" {
						t.Fatalf("bad ${NAME} field in %+v", it)
					}
				}
				continue
			default:
				t.Fatalf("bad kind in %+v", it)
			}
			if !strings.HasSuffix(it.Script, "\n") || strings.TrimSpace(it.Script) == "" {
				t.Fatalf("bad script in %+v", it)
			}
		}
		// Writing the items back out and parsing again gives the same endpoints.
		again, err := parseFile("f.lua", []byte(render(items)))
		if err != nil {
			t.Fatalf("re-parse: %v\n%q", err, render(items))
		}
		if len(again) != len(items) {
			t.Fatalf("re-parse: %d items, want %d", len(again), len(items))
		}
		for i := range items {
			a, b := items[i], again[i]
			if a.Kind != b.Kind || a.Method != b.Method || a.Path != b.Path || a.Name != b.Name || a.Script != b.Script ||
				a.Type != b.Type || a.Topic != b.Topic || a.ConfigText != b.ConfigText {
				t.Fatalf("re-parse: item %d = %+v, want %+v", i, b, a)
			}
		}
	})
}
