package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

// demoService is the catalog's dynamic service in the tests.
var demoService = apiclient.Service{
	Name: "demoexternalservice", Kind: "dynamic", Description: "Demo external service",
	Operations: []apiclient.Operation{{Name: "echo", Description: "Echo the input"}, {Name: "status"}},
	Events:     []string{"event", "changed"},
	Health:     apiclient.ServiceHealth{Status: "down", CheckedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Error: "connection refused"},
	Version:    3, BaseURL: "http://demo:8080/api",
	Document: json.RawMessage(`{"swagger":"2.0","info":{"title":"Demo","version":"1.0"}}`),
}

func TestServiceCommands(t *testing.T) {
	fake, url := newFakeAPI(t)
	env := clientEnv(t, url)
	steps := []struct {
		args    []string
		code    int
		wantOut []string
		wantErr []string
	}{
		{args: []string{"service", "list"}, wantOut: []string{"no services\n"}},
		{args: []string{"service", "show", "demoexternalservice"}, code: ExitFailure, wantErr: []string{`switchboard: no service "demoexternalservice" (HTTP 404, field service)`}},
	}
	for _, st := range steps {
		t.Run(strings.Join(st.args, " "), func(t *testing.T) {
			runCLI(t, env, "", st.args...).check(t, st.code, st.wantOut, st.wantErr)
		})
	}

	fake.putService(demoService)
	fake.putService(apiclient.Service{Name: "keystore", Kind: "core", Operations: []apiclient.Operation{{Name: "get"}, {Name: "set"}}, Health: apiclient.ServiceHealth{Status: "up"}})
	steps = []struct {
		args    []string
		code    int
		wantOut []string
		wantErr []string
	}{
		{args: []string{"service", "list"}, wantOut: []string{
			"NAME                 KIND     HEALTH  VERSION  OPERATIONS  EVENTS\n",
			"demoexternalservice  dynamic  down    3        2           event, changed\n",
			"keystore             core     up      -        2           -\n",
		}},
		{args: []string{"services", "ls"}, wantOut: []string{"keystore"}},
		{args: []string{"service", "show", "demoexternalservice"}, wantOut: []string{
			"name:         demoexternalservice\n",
			"kind:         dynamic\n",
			"description:  Demo external service\n",
			"health:       down: connection refused\n",
			"checked:      2026-01-02T03:04:05Z\n",
			"version:      3\n",
			"base url:     http://demo:8080/api\n",
			"events:       event, changed\n",
			"\nOPERATION  DESCRIPTION\necho       Echo the input\nstatus     -\n",
		}},
		{args: []string{"service", "get", "keystore"}, wantOut: []string{"health:   up\n", "checked:  -\n", "events:   -\n"}},
		{args: []string{"service", "show"}, code: ExitUsage, wantErr: []string{"switchboard service show: missing NAME"}},
		{args: []string{"service", "delete", "keystore"}, wantOut: []string{"deleted service keystore\n"}},
		{args: []string{"service", "rm", "keystore"}, code: ExitFailure, wantErr: []string{`no service "keystore" (HTTP 404`}},
	}
	for _, st := range steps {
		t.Run(strings.Join(st.args, " "), func(t *testing.T) {
			runCLI(t, env, "", st.args...).check(t, st.code, st.wantOut, st.wantErr)
		})
	}
	if got := fake.takeRequests(); !strings.Contains(strings.Join(got, "\n"), "DELETE /api/v1/services/keystore") {
		t.Errorf("requests %q lack the delete", got)
	}
}

func TestServiceShowJSONIncludesTheDocument(t *testing.T) {
	fake, url := newFakeAPI(t)
	fake.putService(demoService)
	env := clientEnv(t, url)

	r := runCLI(t, env, "", "service", "show", "demoexternalservice", "-o", "json")
	r.check(t, 0, nil, nil)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	wantDoc := map[string]any{"swagger": "2.0", "info": map[string]any{"title": "Demo", "version": "1.0"}}
	if !reflect.DeepEqual(got["document"], wantDoc) || got["name"] != "demoexternalservice" || got["version"] != 3.0 {
		t.Errorf("stdout = %s", r.stdout)
	}

	r = runCLI(t, env, "", "service", "list", "-o", "json")
	r.check(t, 0, nil, nil)
	if strings.Contains(r.stdout, "document") || !strings.Contains(r.stdout, `"checked_at": "2026-01-02T03:04:05Z"`) {
		t.Errorf("list JSON:\n%s", r.stdout)
	}
}

func TestParseParamValue(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"eu", "eu"},
		{"", ""},
		{"3", json.Number("3")},
		{"12345678901234567890", json.Number("12345678901234567890")},
		{"-1.5e3", json.Number("-1.5e3")},
		{"true", true},
		{"null", nil},
		{`"007"`, "007"},
		{"007", "007"},
		{"a b", "a b"},
		{"[1,2]", []any{json.Number("1"), json.Number("2")}},
		{`{"a":1}`, map[string]any{"a": json.Number("1")}},
		{" 3 ", json.Number("3")},
		{"1 2", "1 2"},
		{"{}x", "{}x"},
		{"tru", "tru"},
		{"http://x?a=b", "http://x?a=b"},
	}
	for _, tt := range tests {
		if got := parseParamValue(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseParamValue(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestSolutionServiceCommands(t *testing.T) {
	fake, url := newFakeAPI(t)
	fake.putService(demoService)
	fake.put("demo", "GET", "/x", "return 1\n")
	dir := t.TempDir()
	paramsFile := filepath.Join(dir, "params.json")
	os.WriteFile(paramsFile, []byte(`{"region":"us","retries":1,"password":"s3cret","tags":["a"]}`), 0o644)
	notObject := filepath.Join(dir, "list.json")
	os.WriteFile(notObject, []byte(`[1]`), 0o644)
	env := clientEnv(t, url)

	steps := []struct {
		name       string
		stdin      string
		args       []string
		code       int
		wantOut    []string
		wantErr    []string
		wantParams map[string]any // the stored parameters afterwards, when not nil
	}{
		{name: "none yet", args: []string{"solution", "services", "demo"}, wantOut: []string{"solution demo has no services\n"}},
		{
			name: "add with params", args: []string{"solution", "add-service", "demo", "demoexternalservice", "--param", "region=eu", "--param", "retries=3", "--param", "password=pw", "--param", "url=http://a?b=c"},
			wantOut:    []string{"added service demoexternalservice to solution demo\n"},
			wantParams: map[string]any{"region": "eu", "retries": 3.0, "password": "pw", "url": "http://a?b=c"},
		},
		{
			name: "list hides the secret", args: []string{"solution", "services", "demo"},
			wantOut: []string{
				"SERVICE              ADDED                 UPDATED               PARAMETERS\n",
				`demoexternalservice  2026-01-02T03:04:05Z  2026-01-02T03:04:05Z  region="eu" retries=3 url="http://a?b=c"` + "\n",
			},
		},
		{
			name: "add again updates, --param wins over the file", args: []string{"solution", "add-service", "demo", "demoexternalservice", "--params-file", paramsFile, "--param", "retries=5"},
			wantOut:    []string{"updated service demoexternalservice of solution demo (it was added already)\n"},
			wantParams: map[string]any{"region": "us", "retries": 5.0, "password": "s3cret", "tags": []any{"a"}},
		},
		{
			name: "update from stdin", stdin: `{"region":"ap"}`, args: []string{"solution", "update-service", "demo", "demoexternalservice", "--params-file", "-", "--param", `note="quoted"`},
			wantOut:    []string{"solution:    demo\n", "service:     demoexternalservice\n", `parameters:  note="quoted" region="ap"` + "\n", "added:       2026-01-02T03:04:05Z\n", "updated:     2026-01-02T04:04:05Z\n"},
			wantParams: map[string]any{"region": "ap", "note": "quoted"},
		},
		{name: "update without params", args: []string{"solution", "update-service", "demo", "demoexternalservice"}, code: ExitUsage, wantErr: []string{"nothing to update: give --param KEY=VALUE or --params-file"}},
		{name: "bad --param", args: []string{"solution", "update-service", "demo", "demoexternalservice", "--param", "region"}, code: ExitUsage, wantErr: []string{`--param "region": want KEY=VALUE`}},
		{name: "empty key", args: []string{"solution", "add-service", "demo", "demoexternalservice", "--param", "=x"}, code: ExitUsage, wantErr: []string{`--param "=x": want KEY=VALUE`}},
		{name: "params file not an object", args: []string{"solution", "add-service", "demo", "demoexternalservice", "--params-file", notObject}, code: ExitUsage, wantErr: []string{"--params-file " + notObject + ": want a JSON object of parameters"}},
		{name: "params file missing", args: []string{"solution", "add-service", "demo", "demoexternalservice", "--params-file", filepath.Join(dir, "nope.json")}, code: ExitUsage, wantErr: []string{"cannot read " + filepath.Join(dir, "nope.json")}},
		{name: "unknown service", args: []string{"solution", "add-service", "demo", "nope"}, code: ExitFailure, wantErr: []string{`switchboard: no service "nope" (HTTP 404, field service)`}},
		{name: "unknown solution", args: []string{"solution", "services", "other"}, code: ExitFailure, wantErr: []string{`no solution "other"`}},
		{name: "missing SERVICE", args: []string{"solution", "add-service", "demo"}, code: ExitUsage, wantErr: []string{"switchboard solution add-service: missing SERVICE"}},
		{name: "remove", args: []string{"solution", "remove-service", "demo", "demoexternalservice"}, wantOut: []string{"removed service demoexternalservice from solution demo\n"}},
		{name: "remove again", args: []string{"solution", "remove-service", "demo", "demoexternalservice"}, code: ExitFailure, wantErr: []string{`solution demo has not added service "demoexternalservice" (HTTP 404, field service)`}},
		{name: "update a service not added", args: []string{"solution", "update-service", "demo", "demoexternalservice", "--param", "a=1"}, code: ExitFailure, wantErr: []string{"HTTP 404"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			runCLI(t, env, st.stdin, st.args...).check(t, st.code, st.wantOut, st.wantErr)
			if st.wantParams != nil {
				if got := fake.serviceParams("demo", "demoexternalservice"); !reflect.DeepEqual(got, st.wantParams) {
					t.Errorf("stored parameters = %#v, want %#v", got, st.wantParams)
				}
			}
		})
	}
}

func TestHandlerCommands(t *testing.T) {
	fake, url := newFakeAPI(t)
	fake.putHandler("demo", "demoexternalservice_seed", "return 'seed'\n")
	dir := t.TempDir()
	event := filepath.Join(dir, "event.lua")
	os.WriteFile(event, []byte("return event"), 0o644)
	broken := filepath.Join(dir, "broken.lua")
	os.WriteFile(broken, []byte("local a = 1\nsyntax error here\n"), 0o644)
	env := clientEnv(t, url)
	envSol := clientEnv(t, url, "SWITCHBOARD_SOLUTION", "demo")

	steps := []struct {
		name    string
		env     map[string]string
		stdin   string
		args    []string
		code    int
		wantOut []string
		wantErr []string
	}{
		{name: "deploy Murano name", env: env, args: []string{"handler", "deploy", "demoexternalservice_event", event, "-s", "demo"},
			wantOut: []string{"created handler demoexternalservice_event on demoexternalservice.event (version 1)\n"}},
		{name: "deploy again replaces", env: envSol, args: []string{"handler", "deploy", "demoexternalservice_event", event},
			wantOut: []string{"replaced handler demoexternalservice_event on demoexternalservice.event (version 2)\n"}},
		{name: "deploy with topics from stdin", env: envSol, stdin: "return 'audit'\n", args: []string{"handlers", "deploy", "audit", "-", "--topic", "demoexternalservice.event", "--topic", "other.changed"},
			wantOut: []string{"created handler audit on demoexternalservice.event, other.changed (version 1)\n"}},
		{name: "a name without topics is refused", env: envSol, args: []string{"handler", "deploy", "audit2", event}, code: ExitFailure,
			wantErr: []string{"switchboard: topics: required: give at least one topic, or name the handler <service>_<event> (HTTP 400, field topics)\n"}},
		{name: "deploy with a retry policy", env: envSol, args: []string{"handler", "deploy", "retried", event, "--topic", "a.b", "--retry-attempts", "3", "--retry-max-wait", "30s", "--max-in-flight", "4", "-o", "json"},
			wantOut: []string{`"retry": {`, `"attempts": 3,`, `"max_wait": "30s"`, `"max_in_flight": 4`}},
		{name: "bad --retry-min-wait", env: envSol, args: []string{"handler", "deploy", "retried", event, "--topic", "a.b", "--retry-min-wait", "soon"}, code: ExitUsage, wantErr: []string{"--retry-min-wait"}},
		{name: "empty --topic", env: envSol, args: []string{"handler", "deploy", "audit", event, "--topic", " "}, code: ExitUsage, wantErr: []string{"--topic: empty"}},
		{name: "compile error at file:line", env: envSol, args: []string{"handler", "deploy", "demoexternalservice_event", broken}, code: ExitFailure,
			wantErr: []string{"switchboard: " + broken + ":2: handler demoexternalservice_event: script: line 2: syntax error near 'error' (HTTP 400, field script, line 2)\n"}},
		{name: "compile error from stdin", env: envSol, stdin: "syntax error\n", args: []string{"handler", "deploy", "x_y", "-"}, code: ExitFailure,
			wantErr: []string{"switchboard: stdin:1: handler x_y: script: line 1"}},
		{name: "list", env: envSol, args: []string{"handler", "list"}, wantOut: []string{
			"NAME                       TOPICS                                    VERSION  UPDATED\n",
			"audit                      demoexternalservice.event, other.changed  1        2026-01-02T03:04:05Z\n",
			"demoexternalservice_event  demoexternalservice.event                 2        2026-01-02T03:04:05Z\n",
			"demoexternalservice_seed   demoexternalservice.seed                  1        -\n",
		}},
		{name: "get prints the script verbatim", env: envSol, args: []string{"handler", "get", "demoexternalservice_event"}},
		{name: "get JSON", env: envSol, args: []string{"handler", "get", "audit", "-o", "json"}, wantOut: []string{`"topics": [`, `"other.changed"`, `"script": "return 'audit'\n"`}},
		{name: "delete", env: envSol, args: []string{"handler", "delete", "audit"}, wantOut: []string{"deleted handler audit\n"}},
		{name: "delete again", env: envSol, args: []string{"handler", "rm", "audit"}, code: ExitFailure, wantErr: []string{"no handler audit (HTTP 404)"}},
		{name: "no solution", env: env, args: []string{"handler", "list"}, code: ExitUsage, wantErr: []string{"no solution given: use -s/--solution or set SWITCHBOARD_SOLUTION"}},
		{name: "missing FILE", env: envSol, args: []string{"handler", "deploy", "x_y"}, code: ExitUsage, wantErr: []string{"switchboard handler deploy: missing FILE"}},
		{name: "unreadable file", env: envSol, args: []string{"handler", "deploy", "x_y", filepath.Join(dir, "missing.lua")}, code: ExitUsage, wantErr: []string{"cannot read " + filepath.Join(dir, "missing.lua")}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := runCLI(t, st.env, st.stdin, st.args...)
			r.check(t, st.code, st.wantOut, st.wantErr)
			if st.name == "get prints the script verbatim" && r.stdout != "return event" {
				t.Errorf("stdout = %q", r.stdout)
			}
		})
	}
	want := map[string]string{
		"demoexternalservice_event demoexternalservice.event": "return event",
		"demoexternalservice_seed demoexternalservice.seed":   "return 'seed'\n",
		"retried a.b": "return event",
	}
	if got := fake.handlerScripts("demo"); !reflect.DeepEqual(got, want) {
		t.Errorf("handlers = %q, want %q", got, want)
	}
}

func TestServiceAndHandlerJSONOutput(t *testing.T) {
	fake, url := newFakeAPI(t)
	fake.putService(demoService)
	fake.putHandler("demo", "demoexternalservice_event", "return 1\n")
	env := clientEnv(t, url)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"solution", "add-service", "demo", "demoexternalservice", "--param", "n=1", "--param", "password=x", "-o", "json"},
			`{"service":"demoexternalservice","parameters":{"n":1},"added_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","created":true}`},
		{[]string{"solution", "services", "demo", "-o", "json"},
			`{"items":[{"service":"demoexternalservice","parameters":{"n":1},"added_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}]}`},
		{[]string{"solution", "update-service", "demo", "demoexternalservice", "--param", "n=2", "-o", "json"},
			`{"service":"demoexternalservice","parameters":{"n":2},"added_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T04:04:05Z"}`},
		{[]string{"solution", "remove-service", "demo", "demoexternalservice", "-o", "json"}, `{"removed":true,"service":"demoexternalservice","solution":"demo"}`},
		{[]string{"handler", "list", "-s", "demo", "-o", "json"}, `{"items":[{"name":"demoexternalservice_event","topics":["demoexternalservice.event"],"script":"return 1\n","version":1}]}`},
		{[]string{"handler", "deploy", "demoexternalservice_event", "-", "-s", "demo", "-o", "json"},
			`{"name":"demoexternalservice_event","topics":["demoexternalservice.event"],"script":"return 2\n","version":2,"updated_at":"2026-01-02T03:04:05Z","created":false}`},
		{[]string{"handler", "delete", "demoexternalservice_event", "-s", "demo", "-o", "json"}, `{"deleted":true,"name":"demoexternalservice_event"}`},
		{[]string{"service", "delete", "demoexternalservice", "-o", "json"}, `{"deleted":true,"name":"demoexternalservice"}`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, env, "return 2\n", tt.args...)
			r.check(t, 0, nil, nil)
			var got, want any
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
			}
			json.Unmarshal([]byte(tt.want), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("stdout = %s, want %s", r.stdout, tt.want)
			}
		})
	}
}

// smsService is a dynamic service with what the marketplace shows.
var smsService = apiclient.Service{
	Name: "sms", Kind: "dynamic", Description: "Send text messages.",
	Operations: []apiclient.Operation{{Name: "listMessages", Description: "Lists the messages sent."}, {Name: "postMessage", Description: "Send a message"}},
	Events:     []string{"delivered", "failed"},
	Health:     apiclient.ServiceHealth{Status: "up", CheckedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	Version:    2,
	Marketplace: &apiclient.Marketplace{
		Name: "sms", Description: "Send text messages.", Version: "2.1",
		Tags: []apiclient.Tag{{Name: "messages"}, {Name: "phones"}},
		ConfigParameters: []apiclient.ConfigParameter{
			{Name: "AccountSid", Title: "Account", Type: "string", Required: true, Description: "The account's id,\nas the provider shows it"},
			{Name: "AuthToken", Type: "string", Required: true, Secret: true},
			{Name: "Region", Type: "string", Default: "eu", Enum: []any{"eu", "us"}},
			{Name: "Retries", Type: "integer", Default: 3.0},
			{Name: "solution", Type: "string", Restricted: true, From: "solution_id"},
		},
		Operations: []apiclient.MarketOperation{
			{Name: "listMessages", Summary: "Lists the messages sent."},
			{Name: "postMessage", Summary: "Send a message", Description: "Sends one message to one phone number.", Tags: []string{"messages"},
				Example: "-- send a message\n\nlocal out = Sms.postMessage({\n  To = \"+17635551234\",\n  Body = \"hi\"\n})", Security: [][]string{{"account"}}},
		},
		Events:          []apiclient.Event{{Name: "delivered", Description: "A message reached the phone"}, {Name: "failed"}},
		SecuritySchemes: []apiclient.SecurityScheme{{Name: "account", Type: "basic", Description: "The account's credentials", UserField: "AccountSid", SecretField: "AuthToken"}},
	},
}

func TestServiceShowMarketplace(t *testing.T) {
	fake, url := newFakeAPI(t)
	fake.putService(smsService)
	bare := smsService
	bare.Name, bare.Marketplace = "bare", &apiclient.Marketplace{Name: "bare"}
	fake.putService(bare)
	env := clientEnv(t, url)

	want := `name:         sms
kind:         dynamic
description:  Send text messages.
health:       up
checked:      2026-01-02T03:04:05Z
version:      2
events:       delivered, failed
tags:         messages, phones

CONFIGURATION PARAMETER  TYPE     REQUIRED  SECRET  DEFAULT  DESCRIPTION
AccountSid               string   yes       no      -        Account: The account's id, as the provider shows it
AuthToken                string   yes       yes     -        -
Region                   string   no        no      eu       (one of: eu, us)
Retries                  integer  no        no      3        -
solution                 string   no        no      -        (set by the hub: solution_id)

AUTHENTICATION  TYPE   CREDENTIALS                          DESCRIPTION
account         basic  user: AccountSid, secret: AuthToken  The account's credentials

EVENT      DESCRIPTION
delivered  A message reached the phone
failed     -

OPERATION     TAGS      DESCRIPTION
listMessages  -         Lists the messages sent.
postMessage   messages  Send a message

postMessage:
  Sends one message to one phone number.
  example:
    -- send a message

    local out = Sms.postMessage({
      To = "+17635551234",
      Body = "hi"
    })
`
	r := runCLI(t, env, "", "service", "show", "sms")
	r.check(t, 0, nil, nil)
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = runCLI(t, env, "", "service", "show", "bare")
	r.check(t, 0, []string{"tags:         -\n", "\nno configuration parameters\n\nno authentication scheme\n\nno operations\n"}, nil)

	r = runCLI(t, env, "", "service", "show", "sms", "-o", "json")
	r.check(t, 0, nil, nil)
	var got struct {
		Marketplace apiclient.Marketplace `json:"marketplace"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if !reflect.DeepEqual(got.Marketplace, *smsService.Marketplace) {
		t.Errorf("marketplace = %+v\nwant %+v", got.Marketplace, *smsService.Marketplace)
	}
}
