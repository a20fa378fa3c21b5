package cli

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func conn(line int, name, typ, topic string, cfgLine int, cfg string) item {
	return item{Kind: kindConnector, File: "f.lua", Line: line, Name: name, Type: typ, Topic: topic, ConfigLine: cfgLine, ConfigText: cfg}
}

func TestParseConnectors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []item
		wantErr []string // each a line of the error, in order
	}{
		{
			name: "one line of config",
			src:  "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\": \"@every 1m\"}\n",
			want: []item{conn(1, "tick", "cron", "ticks.minute", 2, ` {"schedule": "@every 1m"}`)},
		},
		{
			name: "config over several lines, indented, CRLF, keyword case-insensitive",
			src:  "--#connector tick cron ticks.minute\r\n--{\r\n  --   \"schedule\": \"@every 1m\",\r\n--   \"catch_up\": true\r\n-- }\r\n",
			want: []item{conn(1, "tick", "cron", "ticks.minute", 2, "{\n   \"schedule\": \"@every 1m\",\n   \"catch_up\": true\n }")},
		},
		{
			name: "no config is {}; blank lines before the config are skipped",
			src:  "--#CONNECTOR open webhook hooks.in\n\n--#CONNECTOR tick cron ticks.minute\n\n\n-- {\"schedule\": \"@daily\"}\n",
			want: []item{conn(1, "open", "webhook", "hooks.in", 1, ""), conn(3, "tick", "cron", "ticks.minute", 6, ` {"schedule": "@daily"}`)},
		},
		{
			name: "comments after a blank line, then the handler of its topic",
			src: "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\": \"@every 1m\"}\n\n-- Counts the ticks.\n--[[ more\nwords ]]\n" +
				"--#EVENT ticks minute\nKeystore.incr({key = \"ticks\"})\n",
			want: []item{
				conn(1, "tick", "cron", "ticks.minute", 2, ` {"schedule": "@every 1m"}`),
				{Kind: kindHandler, File: "f.lua", Line: 7, Name: "ticks_minute", Service: "ticks", Event: "minute", Topics: []string{"ticks.minute"}, Script: "Keystore.incr({key = \"ticks\"})\n"},
			},
		},
		{
			name: "an empty comment line inside the config",
			src:  "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\":\n--\n-- \"@every 1m\"}\n",
			want: []item{conn(1, "tick", "cron", "ticks.minute", 2, " {\"schedule\":\n\n \"@every 1m\"}")},
		},
		{
			name: "${NAME} and $${ are kept as written",
			src:  "--#CONNECTOR hook webhook hooks.in\n-- {\"style\": \"shared\", \"secret\": \"${HOOK_SECRET}\", \"header\": \"$${x}\"}\n",
			want: []item{func() item {
				it := conn(1, "hook", "webhook", "hooks.in", 2, ` {"style": "shared", "secret": "${HOOK_SECRET}", "header": "$${x}"}`)
				it.EnvFields = []envFieldLine{{Key: "secret", Line: 2}}
				return it
			}()},
		},
		{
			name: "${NAME} below the top level",
			src: "--#CONNECTOR a webhook h.a\n-- {\"style\": \"shared\",\n--  \"headers\": [\"X-${HDR}\"]}\n" +
				"--#CONNECTOR b cron t.b\n-- {\"schedule\": \"@daily\", \"data\": {\"token\": \"${TOKEN}\", \"ok\": \"$${x}\"}}\n",
			wantErr: []string{
				`f.lua:3: CONNECTOR a: config.headers[0]: ${NAME} is taken from the environment only in a top-level secret field of the connector's type`,
				`f.lua:5: CONNECTOR b: config.data.token: ${NAME} is taken from the environment only in a top-level secret field`,
			},
		},
		{
			name:    "missing words",
			src:     "--#CONNECTOR tick cron\n-- {}\n",
			wantErr: []string{"f.lua:1: want --#CONNECTOR name type topic, such as --#CONNECTOR tick cron ticks.minute; got 2 word(s) after --#CONNECTOR"},
		},
		{
			name:    "extra words",
			src:     "--#CONNECTOR tick cron ticks.minute now\n-- {}\n",
			wantErr: []string{"f.lua:1: want --#CONNECTOR name type topic, such as --#CONNECTOR tick cron ticks.minute; got 4 word(s) after --#CONNECTOR"},
		},
		{
			name: "bad names and topics",
			src:  "--#CONNECTOR Tick cron a.b\n--#CONNECTOR -x cron a.b\n--#CONNECTOR " + strings.Repeat("n", 64) + " cron a.b\n--#CONNECTOR t cron Ticks\n--#CONNECTOR t cron a..b\n",
			wantErr: []string{
				`f.lua:1: connector name "Tick": want lower-case letters, digits, _ and -`,
				`f.lua:2: connector name "-x": want lower-case letters`,
				`f.lua:3: connector name "nnnn`,
				`f.lua:4: topic "Ticks" must match`,
				`f.lua:5: topic "a..b" must match`,
			},
		},
		{
			name:    "malformed JSON names its line",
			src:     "--#CONNECTOR tick cron ticks.minute\n-- {\n--   \"schedule\": \"@every 1m\"\n--   \"catch_up\": true\n-- }\n",
			wantErr: []string{"f.lua:4: CONNECTOR tick: not JSON: invalid character '\"' after object key:value pair"},
		},
		{
			name:    "a comment right below the config is not JSON, with a hint",
			src:     "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\": \"@every 1m\"}\n-- counts ticks\n",
			wantErr: []string{`f.lua:3: CONNECTOR tick: not JSON: invalid character 'c' after top-level value (the config is the "--" lines right below the annotation, up to the first blank line`},
		},
		{
			name:    "a blank line inside the config ends it",
			src:     "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\":\n\n-- \"@every 1m\"}\n",
			wantErr: []string{"f.lua:2: CONNECTOR tick: not JSON: unexpected end of JSON input (the config ends at the first blank line)"},
		},
		{
			name: "a config that is not an object",
			src:  "--#CONNECTOR a cron t.a\n-- [1, 2]\n--#CONNECTOR b cron t.b\n-- \"@daily\"\n--#CONNECTOR c cron t.c\n-- null\n",
			wantErr: []string{
				`f.lua:2: CONNECTOR a: the config must be a JSON object, such as {"schedule": "@every 1m"}`,
				`f.lua:4: CONNECTOR b: the config must be a JSON object`,
				`f.lua:6: CONNECTOR c: the config must be a JSON object`,
			},
		},
		{
			name:    "a key given twice, nested, names its line",
			src:     "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\": \"@daily\",\n--  \"data\": {\"a\": 1,\n--   \"a\": 2}}\n",
			wantErr: []string{`f.lua:4: CONNECTOR tick: config.data: key "a" is given twice`},
		},
		{
			name:    "Lua code right below a connector",
			src:     "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\": \"@daily\"}\nKeystore.incr({key = \"x\"})\n",
			wantErr: []string{"f.lua:3: CONNECTOR tick: Lua code below a connector, which has no script: its config is JSON on the \"--\" lines right below its annotation"},
		},
		{
			name:    "Lua code after the config's blank line",
			src:     "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\": \"@daily\"}\n\n-- fine\nreturn 1\n",
			wantErr: []string{"f.lua:5: CONNECTOR tick: Lua code below a connector, which has no script: its config ends at the first blank line"},
		},
		{
			name: "malformed ${NAME} names its line",
			src: "--#CONNECTOR a webhook h.a\n-- {\"style\": \"shared\",\n--  \"secret\": \"${HOOK\"}\n" +
				"--#CONNECTOR b webhook h.b\n-- {\"secret\": \"${1X}\"}\n--#CONNECTOR c webhook h.c\n-- {\"headers\": [\"ok\", \"${}\"]}\n",
			wantErr: []string{
				`f.lua:3: CONNECTOR a: config.secret: "${HOOK" has no closing }: want ${NAME} (write $${ for a literal ${)`,
				`f.lua:5: CONNECTOR b: config.secret: "${1X}": want ${NAME}, NAME letters, digits and _, not starting with a digit`,
				`f.lua:7: CONNECTOR c: config.headers[1]: "${}": want ${NAME}`,
			},
		},
		{
			name:    "too deep",
			src:     "--#CONNECTOR deep cron t.a\n-- {\"data\": " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}\n",
			wantErr: []string{"f.lua:2: CONNECTOR deep: not JSON: invalid character '[' exceeded max depth"},
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

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "alpha", "B_2": "b", "QUOTE": `x", "style": "none`}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "pre-${A}-${B_2}-post", want: "pre-alpha-b-post"},
		{in: "$${A}", want: "${A}"},
		{in: "$$ and $A and $ {A}", want: "$$ and $A and $ {A}"},
		{in: "${A}$${A}", want: "alpha${A}"},
		{in: "${QUOTE}", want: `x", "style": "none`},
		{in: "${MISSING}", wantErr: "${MISSING}: the environment variable MISSING is not set (or is empty)"},
		{in: "${A", wantErr: `"${A" has no closing }`},
		{in: "${A B}", wantErr: `"${A B}": want ${NAME}`},
		{in: "${" + strings.Repeat("x-", 50) + "}", wantErr: `"${x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-x-…": want ${NAME}`},
	}
	for _, tt := range tests {
		got, err := expandEnv(tt.in, lookup)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("expandEnv(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestResolveConfigs(t *testing.T) {
	src := "--#ENDPOINT GET /a\nreturn 1\n" +
		"--#CONNECTOR hook webhook hooks.in\n-- {\"style\": \"shared\",\n--  \"secret\": \"${HOOK_SECRET}-${PART}\",\n--  \"headers\": [\"X-Event\"]}\n" +
		"--#CONNECTOR open webhook hooks.open\n-- {\"style\": \"none\", \"id_header\": \"$${X}\"}\n" +
		"--#CONNECTOR tick cron ticks.minute\n" +
		"--#CONNECTOR quoted webhook hooks.quoted\n-- {\"style\": \"shared\", \"secret\": \"${QUOTE}\", \"header\": \"<&>\", \"n\": 1.50}\n"
	items, err := parseFile("f.lua", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOOK_SECRET": "s3cret-value", "PART": "two", "QUOTE": `", "style": "none`, "EMPTY": ""}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := resolveConfigs(items, getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"hook":   `{"style":"shared","secret":"s3cret-value-two","headers":["X-Event"]}`,
		"open":   `{"style":"none","id_header":"${X}"}`,
		"tick":   `{}`,
		"quoted": `{"style":"shared","secret":"\", \"style\": \"none","header":"<&>","n":1.50}`,
	}
	if len(got) != 5 {
		t.Fatalf("got %d items, want 5", len(got))
	}
	for _, it := range got[1:] {
		if string(it.Config) != want[it.Name] {
			t.Errorf("%s: config %s, want %s", it.Name, it.Config, want[it.Name])
		}
		if !json.Valid(it.Config) {
			t.Errorf("%s: config %s is not JSON", it.Name, it.Config)
		}
	}

	// Unset and empty variables are errors at their line, naming them; the other items stay.
	delete(env, "HOOK_SECRET")
	env["QUOTE"] = ""
	got, err = resolveConfigs(items, getenv)
	wantErr := "f.lua:5: CONNECTOR hook: config.secret: ${HOOK_SECRET}: the environment variable HOOK_SECRET is not set (or is empty)\n" +
		"f.lua:11: CONNECTOR quoted: config.secret: ${QUOTE}: the environment variable QUOTE is not set (or is empty)"
	if err == nil || err.Error() != wantErr {
		t.Errorf("error:\n%v\nwant:\n%s", err, wantErr)
	}
	var names []string
	for _, it := range got {
		names = append(names, it.label())
	}
	if want := []string{"GET /a", "CONNECTOR open", "CONNECTOR tick"}; !reflect.DeepEqual(names, want) {
		t.Errorf("resolved %q, want %q", names, want)
	}
}

func TestJSONEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`{}`, `{}`, true},
		{`{"a":1,"b":[1,"x",null,true]}`, `{"b":[1,"x",null,true],"a":1}`, true},
		{`{"a":1}`, `{"a":1.0}`, true},
		{`{"a":1e2}`, `{"a":100}`, true},
		{`{"a":12345678901234567890123}`, `{"a":12345678901234567890124}`, false},
		{`{"a":1}`, `{"a":"1"}`, false},
		{`{"a":1}`, `{"a":1,"b":2}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":{"b":null}}`, `{"a":{}}`, false},
		{`{"a":1e999999999999}`, `{"a":2e999999999999}`, false},
		{`{"a":"x"}`, `not json`, false},
	}
	for _, tt := range tests {
		if got := jsonEqual(json.RawMessage(tt.a), json.RawMessage(tt.b)); got != tt.want {
			t.Errorf("jsonEqual(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// connectorFixture is a server with an endpoint, a handler and five connectors, and a folder
// that keeps the endpoint and one connector, changes one's config and one's topic, sends one
// with a secret again, drops one (and the handler) and adds a connector with its handler.
func connectorFixture(t *testing.T) (*fakeAPI, map[string]string, string) {
	fake, url := newFakeAPI(t)
	fake.put("demo", "GET", "/same", "return 'same'\n")
	fake.putHandler("demo", "audit", "return 1\n", "t.gone")
	fake.putConnector("demo", "same", "cron", "t.same", `{"schedule":"@daily","data":{"n":1}}`)
	fake.putConnector("demo", "changed", "cron", "t.changed", `{"schedule":"@daily"}`)
	fake.putConnector("demo", "moved", "cron", "t.old", `{"schedule":"@hourly"}`)
	fake.putConnector("demo", "hook", "webhook", "hooks.in", `{"style":"shared","secret":"old-secret-1"}`)
	fake.putConnector("demo", "gone", "cron", "t.gone", `{"schedule":"@daily"}`)
	dir := writeTree(t, map[string]string{
		"a.lua": "--#ENDPOINT GET /same\nreturn 'same'\n",
		"conns.lua": "-- the connectors\n" +
			"--#CONNECTOR same cron t.same\n-- {\"data\": {\"n\": 1.0},\n--  \"schedule\": \"@daily\"}\n\n" +
			"--#CONNECTOR changed cron t.changed\n-- {\"schedule\": \"@hourly\"}\n\n" +
			"--#CONNECTOR moved cron t.new\n-- {\"schedule\": \"@hourly\"}\n\n" +
			"--#CONNECTOR hook webhook hooks.in\n-- {\"style\": \"shared\", \"secret\": \"${HOOK_SECRET}\"}\n\n" +
			"--#CONNECTOR added cron t.added\n-- {\"schedule\": \"@every 1m\"}\n",
		"events.lua": "--#EVENT t added\nreturn 1\n",
	})
	fake.takeRequests()
	return fake, clientEnv(t, url, "SWITCHBOARD_SOLUTION", "demo", "HOOK_SECRET", "new-secret-2"), dir
}

// connectorLists are the requests of a deploy of a folder with connectors before any change.
var connectorLists = []string{
	"GET /api/v1/connector-types",
	"GET /api/v1/solutions/demo/endpoints",
	"GET /api/v1/solutions/demo/handlers",
	"GET /api/v1/solutions/demo/connectors",
}

func TestDeployConnectors(t *testing.T) {
	fake, env, dir := connectorFixture(t)
	r := runCLI(t, env, "", "deploy", dir)
	r.check(t, 0, nil, nil)
	want := "+ EVENT t added\n~ CONNECTOR changed\n~ CONNECTOR moved\n~ CONNECTOR hook\n+ CONNECTOR added\n- CONNECTOR gone\n- HANDLER audit\n" +
		"deployed: 2 added, 3 updated, 2 removed, 2 unchanged\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	// Handlers first, then connectors; connectors are removed before handlers.
	wantRequests := append(slices.Clone(connectorLists),
		"POST /api/v1/solutions/demo/handlers",
		"PUT /api/v1/solutions/demo/connectors/changed",
		"PUT /api/v1/solutions/demo/connectors/moved",
		"PUT /api/v1/solutions/demo/connectors/hook",
		"POST /api/v1/solutions/demo/connectors",
		"DELETE /api/v1/solutions/demo/connectors/gone",
		"DELETE /api/v1/solutions/demo/handlers/audit",
	)
	if got := fake.takeRequests(); !reflect.DeepEqual(got, wantRequests) {
		t.Errorf("requests\n got %q\nwant %q", got, wantRequests)
	}
	wantConns := map[string]string{
		"same cron t.same":       `{"schedule":"@daily","data":{"n":1}}`,
		"changed cron t.changed": `{"schedule":"@hourly"}`,
		"moved cron t.new":       `{"schedule":"@hourly"}`,
		"hook webhook hooks.in":  `{"style":"shared","secret":"new-secret-2"}`,
		"added cron t.added":     `{"schedule":"@every 1m"}`,
	}
	if got := fake.connectorConfigs("demo"); !reflect.DeepEqual(got, wantConns) {
		t.Errorf("connectors\n got %q\nwant %q", got, wantConns)
	}

	// Again: only the connector with a secret is sent, as it cannot be compared.
	r = runCLI(t, env, "", "deploy", dir)
	r.check(t, 0, nil, nil)
	if want := "~ CONNECTOR hook\ndeployed: 0 added, 1 updated, 0 removed, 6 unchanged\n"; r.stdout != want {
		t.Errorf("second run stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if got, want := fake.takeRequests(), append(slices.Clone(connectorLists), "PUT /api/v1/solutions/demo/connectors/hook"); !reflect.DeepEqual(got, want) {
		t.Errorf("second run requests\n got %q\nwant %q", got, want)
	}
	if v := fake.connectorVersion("demo", "same"); v != 1 {
		t.Errorf("unchanged connector at version %d, want 1", v)
	}
}

func TestDeployConnectorsDryRun(t *testing.T) {
	fake, env, dir := connectorFixture(t)
	r := runCLI(t, env, "", "deploy", dir, "--dry-run")
	r.check(t, 0, nil, nil)
	want := "+ EVENT t added\n~ CONNECTOR changed\n~ CONNECTOR moved\n~ CONNECTOR hook\n+ CONNECTOR added\n- CONNECTOR gone\n- HANDLER audit\n" +
		"dry run: 2 to add, 3 to update, 2 to remove, 2 unchanged\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	// Connectors are checked against the types listed, with no request of their own.
	if got, want := fake.takeRequests(), append(slices.Clone(connectorLists), "POST /api/v1/solutions/demo/check/handler"); !reflect.DeepEqual(got, want) {
		t.Errorf("requests\n got %q\nwant %q", got, want)
	}
	if got := fake.connectorConfigs("demo")["hook webhook hooks.in"]; got != `{"style":"shared","secret":"old-secret-1"}` {
		t.Errorf("dry run changed hook: %s", got)
	}
}

func TestDeployConnectorsJSON(t *testing.T) {
	_, env, dir := connectorFixture(t)
	r := runCLI(t, env, "", "deploy", dir, "-o", "json", "--keep")
	r.check(t, 0, nil, nil)
	var got deployResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	conns := filepath.Join(dir, "conns.lua")
	c := func(action, name, typ, topic string, line int) deployAction {
		return deployAction{Action: action, Kind: "connector", Name: name, Type: typ, Topic: topic, File: conns, Line: line}
	}
	want := deployResult{
		Solution: "demo", Added: 2, Updated: 3, Unchanged: 2, Kept: 2,
		Actions: []deployAction{
			{Action: "unchanged", Kind: "endpoint", Method: "GET", Path: "/same", File: filepath.Join(dir, "a.lua"), Line: 1},
			{Action: "added", Kind: "handler", Name: "t_added", Service: "t", Event: "added", File: filepath.Join(dir, "events.lua"), Line: 1},
			c("unchanged", "same", "cron", "t.same", 2),
			c("updated", "changed", "cron", "t.changed", 6),
			c("updated", "moved", "cron", "t.new", 9),
			c("updated", "hook", "webhook", "hooks.in", 12),
			c("added", "added", "cron", "t.added", 15),
			{Action: "kept", Kind: "connector", Name: "gone", Type: "cron", Topic: "t.gone"},
			{Action: "kept", Kind: "handler", Name: "audit"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("result\n got %+v\nwant %+v", got, want)
	}
	if strings.Contains(r.stdout, "new-secret-2") {
		t.Errorf("the output shows a secret:\n%s", r.stdout)
	}
}

func TestDeployConnectorFolderErrorsSendNothing(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		env   map[string]string
		want  []string // "FILE:LINE: message" with FILE relative to the folder
	}{
		{
			name: "malformed JSON and missing words",
			files: map[string]string{
				"a.lua": "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\": \"@daily\",}\n--#CONNECTOR half cron\n-- {}\n",
			},
			want: []string{
				"a.lua:2: CONNECTOR tick: not JSON: invalid character '}' looking for beginning of object key string",
				"a.lua:3: want --#CONNECTOR name type topic",
			},
		},
		{
			name: "duplicate connector names across files",
			files: map[string]string{
				"a.lua":      "--#CONNECTOR tick cron ticks.minute\n-- {\"schedule\": \"@daily\"}\n",
				"b/b.lua":    "--#ENDPOINT GET /x\nreturn 1\n\n--#CONNECTOR tick cron ticks.other\n-- {\"schedule\": \"@hourly\"}\n",
				"c.lua":      "--#EVENT ticks minute\nreturn 1\n",
				"d/tick.lua": "-- a handler and a connector may share a name\n--#CONNECTOR ticks_minute cron ticks.minute\n-- {\"schedule\": \"@daily\"}\n",
			},
			want: []string{"b/b.lua:4: duplicate connector CONNECTOR tick: already defined at {dir}/a.lua:1\n"},
		},
		{
			name: "a variable not set, or empty",
			files: map[string]string{
				"a.lua": "--#CONNECTOR hook webhook hooks.in\n-- {\"style\": \"shared\",\n--  \"secret\": \"${HOOK_SECRET}\"}\n" +
					"--#CONNECTOR other webhook hooks.other\n-- {\"style\": \"shared\", \"secret\": \"${EMPTY_SECRET}\"}\n",
			},
			env: map[string]string{"EMPTY_SECRET": ""},
			want: []string{
				"a.lua:3: CONNECTOR hook: config.secret: ${HOOK_SECRET}: the environment variable HOOK_SECRET is not set (or is empty)",
				"a.lua:5: CONNECTOR other: config.secret: ${EMPTY_SECRET}: the environment variable EMPTY_SECRET is not set (or is empty)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, env, _ := connectorFixture(t)
			delete(env, "HOOK_SECRET")
			for k, v := range tt.env {
				env[k] = v
			}
			dir := writeTree(t, tt.files)
			for _, args := range [][]string{{"deploy", dir}, {"deploy", dir, "--dry-run"}} {
				r := runCLI(t, env, "", args...)
				var wantErr []string
				for _, w := range tt.want {
					wantErr = append(wantErr, "switchboard: "+filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(w, "{dir}", dir))))
				}
				r.check(t, ExitFailure, nil, wantErr)
				if r.stdout != "" {
					t.Errorf("%v: stdout %q", args, r.stdout)
				}
				// The dry run checks the sound items against the server; nothing is written.
				for _, req := range fake.takeRequests() {
					if !strings.HasPrefix(req, "GET ") && !strings.Contains(req, "/check/") {
						t.Errorf("%v: request %s was sent", args, req)
					}
				}
			}
		})
	}
}

// TestDeployConnectorRefused: what the server refuses of a connector is reported at its
// annotation, the other changes are made, and nothing is removed.
func TestDeployConnectorRefused(t *testing.T) {
	fake, env, _ := connectorFixture(t)
	dir := writeTree(t, map[string]string{
		"a.lua": "--#ENDPOINT GET /same\nreturn 'same'\n" +
			"--#CONNECTOR typo crom ticks.a\n-- {\"schedule\": \"@daily\"}\n" +
			"--#CONNECTOR bad cron ticks.b\n-- {\"schedule\": \"nonsense\"}\n" +
			"--#CONNECTOR big cron ticks.c\n-- {\"schedule\": \"@daily\", \"data\": \"" + strings.Repeat("x", 70<<10) + "\"}\n" +
			"--#CONNECTOR good cron ticks.d\n-- {\"schedule\": \"@daily\"}\n",
	})
	a := filepath.Join(dir, "a.lua")
	r := runCLI(t, env, "", "deploy", dir, "--keep")
	r.check(t, ExitFailure, []string{"+ CONNECTOR good\n"}, []string{
		"switchboard: " + a + `:3: CONNECTOR typo: type: "crom" is not a connector type; want one of amqp, cron,`,
		"switchboard: " + a + `:5: CONNECTOR bad: config.schedule: `,
		"switchboard: " + a + `:7: CONNECTOR big: config: larger than 65536 bytes (HTTP 400, field config)`,
		"switchboard: deploy failed: 3 of 4 changes failed\n",
	})
	if _, ok := fake.connectorConfigs("demo")["good cron ticks.d"]; !ok {
		t.Error("the good connector was not created")
	}

	// The dry run tells the unknown type; the schedule and the size only the server judges.
	r = runCLI(t, env, "", "deploy", dir, "--keep", "--dry-run")
	r.check(t, ExitFailure, nil, []string{
		"switchboard: " + a + `:3: CONNECTOR typo: type "crom" is not a connector type of the server; want one of amqp, cron,`,
		"switchboard: dry run: 1 of 3 changes would fail; nothing was changed\n",
	})
}

// TestDeployConnectorSecretsChecked: ${NAME} in a field that is not a secret of the type, and a
// secret written as the server shows it, stop the deploy (and the dry run) before any change.
func TestDeployConnectorSecretsChecked(t *testing.T) {
	fake, env, _ := connectorFixture(t)
	env["SCHEDULE"] = "@daily"
	dir := writeTree(t, map[string]string{
		"a.lua": "--#ENDPOINT GET /new\nreturn 1\n" +
			"--#CONNECTOR leak cron ticks.a\n-- {\"schedule\": \"${SCHEDULE}\"}\n" +
			"--#CONNECTOR shown webhook hooks.b\n-- {\"style\": \"shared\",\n--  \"secret\": \"(set)\"}\n" +
			"--#CONNECTOR good webhook hooks.c\n-- {\"style\": \"shared\", \"secret\": \"${HOOK_SECRET}\"}\n",
	})
	a := filepath.Join(dir, "a.lua")
	for _, args := range [][]string{{"deploy", dir, "--keep"}, {"deploy", dir, "--keep", "--dry-run"}} {
		r := runCLI(t, env, "", args...)
		r.check(t, ExitFailure, nil, []string{
			"switchboard: " + a + ":4: CONNECTOR leak: config.schedule: not a secret of cron (its secrets: none): ${NAME} is taken from the environment only in a top-level secret field",
			"switchboard: " + a + `:5: CONNECTOR shown: config.secret: "(set)" is how the server shows a secret it keeps; write the secret, or ${NAME} to take it from the environment`,
		})
		if r.stdout != "" {
			t.Errorf("%v: stdout %q", args, r.stdout)
		}
		// The dry run checks the sound items against the server; nothing is written.
		for _, req := range fake.takeRequests() {
			if !strings.HasPrefix(req, "GET ") && !strings.Contains(req, "/check/") {
				t.Errorf("%v: request %s was sent", args, req)
			}
		}
	}
}

func TestDeployConnectorDryRunSchema(t *testing.T) {
	fake, env, _ := connectorFixture(t)
	dir := writeTree(t, map[string]string{
		"a.lua": "--#ENDPOINT GET /same\nreturn 'same'\n" +
			"--#CONNECTOR empty cron ticks.a\n-- {\"schedule\": \"\"}\n" +
			"--#CONNECTOR extra cron ticks.b\n-- {\"schedule\": \"@daily\", \"nope\": 1}\n" +
			"--#CONNECTOR short webhook hooks.c\n-- {\"style\": \"shared\", \"secret\": \"${SHORT}\"}\n" +
			"--#CONNECTOR missing cron ticks.d\n",
	})
	env["SHORT"] = "tiny-pw"
	a := filepath.Join(dir, "a.lua")
	r := runCLI(t, env, "", "deploy", dir, "--keep", "--dry-run")
	r.check(t, ExitFailure, nil, []string{
		"switchboard: " + a + ":3: CONNECTOR empty: config.schedule: minLength: got 0, want 1\n",
		"switchboard: " + a + ":5: CONNECTOR extra: config: additional properties 'nope' not allowed\n",
		"switchboard: " + a + ":7: CONNECTOR short: config.secret: does not match the type's schema (minLength); a secret's value is not shown\n",
		"switchboard: " + a + ":9: CONNECTOR missing: config: missing property 'schedule'\n",
		"switchboard: dry run: 4 of 4 changes would fail; nothing was changed\n",
	})
	if strings.Contains(r.stderr, "tiny-pw") {
		t.Errorf("the dry run shows a secret:\n%s", r.stderr)
	}
	for _, req := range fake.takeRequests() {
		if !strings.HasPrefix(req, "GET ") {
			t.Errorf("request %s was sent", req)
		}
	}
}

func TestDeployRefusesToRemoveEveryConnector(t *testing.T) {
	fake, env, _ := connectorFixture(t)
	// A folder written before it could declare connectors keeps everything else.
	old := writeTree(t, map[string]string{"a.lua": "--#ENDPOINT GET /same\nreturn 'same'\n--#ENDPOINT GET /new\nreturn 1\n"})
	for _, args := range [][]string{{"deploy", old}, {"deploy", old, "--dry-run"}} {
		r := runCLI(t, env, "", args...)
		r.check(t, ExitFailure, nil, []string{
			"switchboard: refusing to deploy " + old + ": it declares none of solution demo's 5 connectors, so deploying it would remove them all:\n",
			"switchboard:   - CONNECTOR changed\n", "switchboard:   - CONNECTOR same\n",
			"switchboard: declare them in the folder (--#CONNECTOR name type topic); to remove them anyway give --prune, or --keep to add without removing\n",
		})
		// A folder without connectors needs no connector types.
		if got := fake.takeRequests(); !reflect.DeepEqual(got, connectorLists[1:]) {
			t.Errorf("%v: requests %q, want only the lists", args, got)
		}
	}
	runCLI(t, env, "", "deploy", old, "--keep").check(t, 0, []string{"+ GET /new\n", "deployed: 1 added, 0 updated, 0 removed, 1 unchanged, 6 kept\n"}, nil)
	if got := len(fake.connectorConfigs("demo")); got != 5 {
		t.Errorf("%d connectors left after --keep, want 5", got)
	}

	// An empty folder: everything is named, connectors too.
	empty := t.TempDir()
	runCLI(t, env, "", "deploy", empty).check(t, ExitFailure, nil, []string{
		"it has none of solution demo's 2 endpoints, 1 handler and 5 connectors, so deploying it would remove them all:\n",
		"switchboard:   - CONNECTOR gone\n",
	})

	// --prune lets it go on.
	r := runCLI(t, env, "", "deploy", old, "--prune")
	r.check(t, 0, []string{"- CONNECTOR gone\n", "- CONNECTOR same\n", "- HANDLER audit\n", "deployed: 0 added, 0 updated, 6 removed, 2 unchanged\n"}, nil)
	if got := fake.connectorConfigs("demo"); len(got) != 0 {
		t.Errorf("connectors left after --prune: %v", got)
	}
	// Nothing left to remove: no refusal.
	runCLI(t, env, "", "deploy", old).check(t, 0, []string{"deployed: 0 added, 0 updated, 0 removed, 2 unchanged\n"}, nil)
}
