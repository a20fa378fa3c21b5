package doctest

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMarkdown(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []block // file is "d.md"
		wantErr string
	}{
		{
			name: "blocks with languages and markers",
			doc: "# T\n\n```sh\necho hi\n```\n\n<!-- doctest: skip (needs a cluster) -->\n\n```yaml\na: 1\n```\n" +
				"<!-- doctest: example demoexternalservice (long-running) -->\n````console\n$ x\n```\n````\n",
			want: []block{
				{file: "d.md", n: 1, line: 3, lang: "sh", lines: []string{"echo hi"}},
				{file: "d.md", n: 2, line: 9, lang: "yaml", lines: []string{"a: 1"}, marker: marker{kind: "skip", reason: "needs a cluster"}},
				{file: "d.md", n: 3, line: 13, lang: "console", lines: []string{"$ x", "```"}, marker: marker{kind: "example", example: "demoexternalservice", reason: "long-running"}},
			},
		},
		{
			name: "needs marker",
			doc: "<!-- doctest: needs SWITCHBOARD_TEST_MQTT_URL mosquitto_pub -->\n```sh\nmosquitto_pub -t a -m b\n```\n" +
				"<!-- doctest: needs SWITCHBOARD_TEST_AMQP_URL (a broker) -->\n```console\n$ x\n```\n",
			want: []block{
				{file: "d.md", n: 1, line: 2, lang: "sh", lines: []string{"mosquitto_pub -t a -m b"}, marker: marker{kind: "needs", needs: []string{"SWITCHBOARD_TEST_MQTT_URL", "mosquitto_pub"}}},
				{file: "d.md", n: 2, line: 6, lang: "console", lines: []string{"$ x"}, marker: marker{kind: "needs", needs: []string{"SWITCHBOARD_TEST_AMQP_URL"}, reason: "a broker"}},
			},
		},
		{name: "needs nothing", doc: "<!-- doctest: needs -->\n```sh\n```\n", wantErr: `doctest marker "needs": want`},
		{name: "needs an odd word", doc: "<!-- doctest: needs $HOME -->\n```sh\n```\n", wantErr: `"$HOME" is neither an environment variable`},
		{name: "needs a mixed-case word", doc: "<!-- doctest: needs Mosquitto -->\n```sh\n```\n", wantErr: `"Mosquitto" is neither`},
		{name: "marker before prose", doc: "<!-- doctest: skip (x) -->\ntext\n```sh\n```\n", wantErr: "d.md:1: doctest marker not followed by a fenced block"},
		{name: "marker at the end", doc: "```sh\n```\n<!-- doctest: skip (x) -->\n", wantErr: "d.md:3: doctest marker not followed"},
		{name: "marker without reason", doc: "<!-- doctest: skip -->\n```sh\n```\n", wantErr: `d.md:1: doctest marker "skip": want`},
		{name: "unknown marker", doc: "<!-- doctest: run (x) -->\n```sh\n```\n", wantErr: `doctest marker "run (x)"`},
		{name: "example without a name", doc: "<!-- doctest: example (x) -->\n```sh\n```\n", wantErr: "only example takes a name, and it needs one"},
		{name: "skip with a name", doc: "<!-- doctest: skip foo (x) -->\n```sh\n```\n", wantErr: "only example takes a name"},
		{name: "unclosed", doc: "a\n```sh\necho\n", wantErr: "d.md:2: fenced block never closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMarkdown("d.md", tc.doc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBlockKind(t *testing.T) {
	tests := []struct {
		lang    string
		marker  string
		want    string
		wantErr string
	}{
		{lang: "sh", want: kindShell},
		{lang: "bash", want: kindShell},
		{lang: "console", want: kindConsole},
		{lang: "lua", want: kindLua},
		{lang: "http", want: kindText},
		{lang: "text", want: kindText},
		{lang: "go", marker: "skip", want: kindSkip},
		{lang: "sh", marker: "example", want: kindExample},
		{lang: "sh", marker: "needs", want: kindShell},
		{lang: "console", marker: "needs", want: kindConsole},
		{lang: "lua", marker: "needs", wantErr: "d.md:4 (block 2): a needs marker goes before a sh or console block, not ```lua"},
		{lang: "", wantErr: "d.md:4 (block 2): the block has no language: tag it sh, console, lua, text or http, or put <!-- doctest: skip (reason) --> before it"},
		{lang: "yaml", wantErr: "d.md:4 (block 2): ```yaml blocks are not run: put <!-- doctest: skip (reason) --> before it"},
	}
	for _, tc := range tests {
		b := block{file: "d.md", n: 2, line: 4, lang: tc.lang, marker: marker{kind: tc.marker}}
		got, err := b.kind()
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%q: err = %v, want %q", tc.lang, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q %q: kind = %q, %v; want %q", tc.lang, tc.marker, got, err, tc.want)
		}
	}
}

func TestApplyNeeds(t *testing.T) {
	doc := "```sh\necho before\n```\n" + // 1: runs: before any needs
		"<!-- doctest: needs BROKER_URL broker-cli -->\n```sh\nbroker-cli pub\n```\n" + // 2
		"```lua\nreturn 1\n```\n" + // 3: compiled whatever the needs
		"```console\n$ switchboard keystore get k\n```\n" + // 4: builds on 2
		"<!-- doctest: skip (x) -->\n```sh\n```\n" + // 5: skipped anyway
		"```text\nout\n```\n" // 6
	other := "```sh\necho other file\n```\n"
	tests := []struct {
		name      string
		have      map[string]bool
		wantKinds []string // of doc's blocks, then other's
		wantNotes []string
	}{
		{
			name:      "all there",
			have:      map[string]bool{"BROKER_URL": true, "broker-cli": true},
			wantKinds: []string{kindShell, kindShell, kindLua, kindConsole, kindSkip, kindText, kindShell},
		},
		{
			name:      "no variable",
			have:      map[string]bool{"broker-cli": true},
			wantKinds: []string{kindShell, kindSkip, kindLua, kindSkip, kindSkip, kindText, kindShell},
			wantNotes: []string{"d.md:5 (block 2): BROKER_URL is missing: it and the file's later sh and console blocks are not run"},
		},
		{
			name:      "no program",
			have:      map[string]bool{"BROKER_URL": true},
			wantKinds: []string{kindShell, kindSkip, kindLua, kindSkip, kindSkip, kindText, kindShell},
			wantNotes: []string{"d.md:5 (block 2): broker-cli is missing: it and the file's later sh and console blocks are not run"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := parseMarkdown("d.md", doc)
			if err != nil {
				t.Fatal(err)
			}
			more, err := parseMarkdown("e.md", other)
			if err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, more...)
			notes := applyNeeds(blocks, func(n string) string {
				if tc.have[n] {
					return ""
				}
				return n + " is missing"
			})
			if !reflect.DeepEqual(notes, tc.wantNotes) {
				t.Errorf("notes = %q, want %q", notes, tc.wantNotes)
			}
			var kinds []string
			for i := range blocks {
				k, err := blocks[i].kind()
				if err != nil {
					t.Fatal(err)
				}
				kinds = append(kinds, k)
			}
			if !reflect.DeepEqual(kinds, tc.wantKinds) {
				t.Errorf("kinds = %q, want %q", kinds, tc.wantKinds)
			}
			// The session holds only what runs.
			s, err := buildSession(blocks, "x")
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.have["BROKER_URL"] && tc.have["broker-cli"]; strings.Contains(s.script, "broker-cli pub") != want ||
				strings.Contains(s.script, "keystore get k") != want {
				t.Errorf("the session should run the blocks that need the broker: %v; it is:\n%s", want, s.script)
			}
			if !strings.Contains(s.script, "echo before") || !strings.Contains(s.script, "echo other file") {
				t.Errorf("the blocks before the needs, and another file's, must run:\n%s", s.script)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	t.Setenv("DOCTEST_UNIT_SET", "x")
	t.Setenv("DOCTEST_UNIT_EMPTY", "")
	tests := []struct{ need, want string }{
		{"DOCTEST_UNIT_SET", ""},
		{"DOCTEST_UNIT_EMPTY", "DOCTEST_UNIT_EMPTY is not set"},
		{"DOCTEST_UNIT_NEVER_SET_ANYWHERE", "DOCTEST_UNIT_NEVER_SET_ANYWHERE is not set"},
		{"bash", ""},
		{"no-such-program-anywhere", "no-such-program-anywhere is not installed"},
	}
	for _, tc := range tests {
		if got := missing(tc.need); got != tc.want {
			t.Errorf("missing(%q) = %q, want %q", tc.need, got, tc.want)
		}
	}
}

func TestShellSteps(t *testing.T) {
	doc := "```sh\n" +
		"# a note after a blank start\n" + // 2: not an expectation
		"curl -s http://127.0.0.1:8080/x\n" + // 3
		"# {\"value\":…}\n" + // 4: expected output of line 3
		"# second line\n" + // 5
		"\n" +
		"# 2. another note\n" + // 7: after a blank line: a note
		"cat > f <<'EOF'\n" + // 8
		"x\n" +
		"# inside the heredoc\n" + // 10: file content
		"EOF\n" + // 11
		"# done\n" + // 12: expected output of the heredoc's command
		"```\n"
	blocks, err := parseMarkdown("d.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := buildSession(blocks, "127.0.0.1:5555")
	if err != nil {
		t.Fatal(err)
	}
	want := []step{
		{block: &blocks[0], line: 3, command: "curl -s http://127.0.0.1:8080/x", expect: []string{`{"value":…}`, "second line"}},
		{block: &blocks[0], line: 8, command: "cat > f <<'EOF'", expect: []string{"done"}},
	}
	if !reflect.DeepEqual(s.steps, want) {
		t.Errorf("steps = %+v\nwant %+v", s.steps, want)
	}
	for _, w := range []string{"curl -s http://127.0.0.1:5555/x\n", "# inside the heredoc\n", "# 2. another note\n"} {
		if !strings.Contains(s.script, w) {
			t.Errorf("script lacks %q:\n%s", w, s.script)
		}
	}
	if strings.Contains(s.script, "127.0.0.1:8080") {
		t.Errorf("the address was not replaced:\n%s", s.script)
	}
	if len(s.src) != strings.Count(s.script, "\n") || len(s.doc) != len(s.src) {
		t.Fatalf("line maps of %d and %d lines for a script of %d", len(s.src), len(s.doc), strings.Count(s.script, "\n"))
	}
	// The script's lines map back to the document's.
	lines := strings.Split(s.script, "\n")
	for i, l := range lines[:len(lines)-1] {
		if strings.HasPrefix(l, "curl") && s.doc[i] != 3 {
			t.Errorf("curl is on document line %d, want 3", s.doc[i])
		}
	}
}

func TestConsoleSteps(t *testing.T) {
	doc := "```console\n$ switchboard a \\\n  --flag\nout 1\n\nout 2\n\n$ switchboard b\n```\n"
	blocks, err := parseMarkdown("d.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := buildSession(blocks, "x")
	if err != nil {
		t.Fatal(err)
	}
	want := []step{
		{block: &blocks[0], line: 2, command: "switchboard a \\\n  --flag", expect: []string{"out 1", "", "out 2"}, console: true},
		{block: &blocks[0], line: 8, command: "switchboard b", console: true},
	}
	if !reflect.DeepEqual(s.steps, want) {
		t.Errorf("steps = %+v\nwant %+v", s.steps, want)
	}
	if _, err := buildSession([]block{{file: "d.md", line: 1, lang: "console", lines: []string{"output first"}}}, "x"); err == nil ||
		!strings.Contains(err.Error(), `d.md:2: console block: output before the first "$ " command`) {
		t.Errorf("err = %v", err)
	}
}

func TestExpect(t *testing.T) {
	tests := []struct {
		expect []string
		out    string
		want   bool
	}{
		{[]string{`{"value":"v"}`}, `{"value":"v"}`, true},
		{[]string{`{"value":…}`}, `noise {"value":"anything"} more`, true},
		{[]string{`{"value":"v"}`}, `{"value":"w"}`, false},
		{[]string{"a", "b"}, "a\nx\nb\n", true},
		{[]string{"b", "a"}, "a\nx\nb\n", false},
		{[]string{"ID  CREATED               TIMEOUT"}, "ID    CREATED               TIMEOUT\n", true},
		{[]string{"demo  2026-01-02T03:04:05Z  5s"}, "demo  2030-12-31T23:59:59.25Z  5s", true},
		{[]string{"demo  2026-01-02T03:04:05Z  5s"}, "demo  yesterday  5s", false},
		{[]string{"token:  sbs_…"}, "token:  sbs_0123abcd", true},
		{[]string{"(version …)"}, "(version 12)", true},
		{[]string{"a.b"}, "axb", false},
		{[]string{"from sensors/1 … {\"temp\":21}"}, "from sensors/1\t{\"temp\":21}", true},
		{[]string{"a … b"}, "a b", true},
		{[]string{"a … b"}, "ab", true},
		{[]string{"a … b c"}, "a x b  c", true},
		{[]string{"a … b c"}, "a x bc", false},
	}
	for _, tc := range tests {
		if got := expectRE(tc.expect).MatchString(tc.out); got != tc.want {
			t.Errorf("expect %q in %q = %v, want %v", tc.expect, tc.out, got, tc.want)
		}
	}
}

func TestCutOutput(t *testing.T) {
	out := "pre\n@@doctest:block:0@@\nfirst{}\n@@doctest:step:0:0@@\nsecond\n@@doctest:step:1:2@@\n" +
		"@@doctest:block:1@@\nthird"
	o := cutOutput(out)
	if o.last != 1 {
		t.Errorf("last = %d, want 1", o.last)
	}
	if o.stepOut[0] != "first{}" || o.stepOut[1] != "second" || o.stepRC[1] != 2 {
		t.Errorf("steps = %v %v", o.stepOut, o.stepRC)
	}
	if o.blockOut[0] != "first{}second" || o.blockOut[1] != "third" {
		t.Errorf("blocks = %v", o.blockOut)
	}
}
