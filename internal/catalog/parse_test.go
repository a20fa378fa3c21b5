package catalog

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDemoSwagger2(t *testing.T) {
	d, err := Parse(context.Background(), "demo", readFixture(t, "demoexternalservice.yaml"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.BaseURL.String(), "http://demoexternalservice:8080"; got != want {
		t.Errorf("BaseURL = %s, want %s", got, want)
	}
	if d.HealthPath != "/health" || d.Timeout != 5*time.Second || d.Version != "1.2.0" {
		t.Errorf("HealthPath, Timeout, Version = %q, %v, %q", d.HealthPath, d.Timeout, d.Version)
	}
	if d.Init != "init" || d.Update != "" || d.GC != "gc" {
		t.Errorf("Init, Update, GC = %q, %q, %q", d.Init, d.Update, d.GC)
	}
	if len(d.Events) != 1 || d.Events[0].Name != "event" || !strings.HasPrefix(d.Events[0].Description, "An event") {
		t.Errorf("Events = %+v", d.Events)
	}
	if len(d.ConfigParameters) != 2 {
		t.Fatalf("ConfigParameters = %+v", d.ConfigParameters)
	}
	if g, k := d.ConfigParameters[0], d.ConfigParameters[1]; g.Name != "greeting" || g.Secret || g.Default != "hello" ||
		k.Name != "apikey" || !k.Secret || !k.Required || k.Type != "string" {
		t.Errorf("ConfigParameters = %+v", d.ConfigParameters)
	}
	if len(d.Operations) != 4 {
		t.Fatalf("Operations = %v", d.Operations)
	}

	call := d.Operations["callService"]
	if call.Method != "POST" || call.Path != "/callService" || call.Restricted || call.Timeout != 5*time.Second {
		t.Errorf("callService = %+v", call)
	}
	if len(call.Params) != 1 || call.Params[0].Name != "solution" || call.Params[0].In != "header" || call.Params[0].From != FromSolutionID {
		t.Errorf("callService params = %+v", call.Params)
	}
	if b := call.Body; b == nil || !b.Required || !b.Expand || b.Name != "call" || b.Schema.Value.Properties["operation"] == nil {
		t.Errorf("callService body = %+v", call.Body)
	}
	trig := d.Operations["triggerEvent"]
	if b := trig.Body; b == nil || !b.Expand || len(b.Schema.Value.Required) != 2 || b.Schema.Value.Properties["data"] == nil {
		t.Errorf("triggerEvent body = %+v", trig.Body)
	}

	gc := d.Operations["gc"]
	if gc.Method != "DELETE" || !gc.Restricted || gc.Timeout != 30*time.Second || gc.Body != nil {
		t.Errorf("gc = %+v", gc)
	}
	if len(gc.Params) != 1 || gc.Params[0].In != "path" || !gc.Params[0].Required || gc.Params[0].From != FromSolutionID {
		t.Errorf("gc params = %+v", gc.Params)
	}

	spec := d.Spec()
	if spec.Name != "demo" || spec.Kind != "dynamic" || len(spec.Operations) != 2 ||
		spec.Operations[0].Name != "callService" || spec.Operations[1].Name != "triggerEvent" ||
		len(spec.Events) != 1 || spec.Events[0] != "event" || !strings.HasPrefix(spec.Description, "Calls other") {
		t.Errorf("Spec = %+v", spec)
	}
}

// TestParseAccess reads restricted, hidden and injected parameters, configuration parameters
// the hub sets, and the four lifecycle hooks.
func TestParseAccess(t *testing.T) {
	d, err := Parse(context.Background(), "access", readFixture(t, "access.swagger.yaml"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Init != "createSolution" || d.Update != "updateSolution" || d.GC != "delSolution" || d.Info != "getSolution" {
		t.Errorf("Init, Update, GC, Info = %q, %q, %q, %q", d.Init, d.Update, d.GC, d.Info)
	}
	params := func(op string) map[string]Param {
		out := map[string]Param{}
		for _, p := range d.Operations[op].Params {
			out[p.Name] = p
		}
		return out
	}
	if p := params("postMessage")["AccountSid"]; !p.Restricted || !p.Hidden || p.From != "" || p.Description != "The account." {
		t.Errorf("AccountSid (internal use) = %+v", p)
	}
	list := params("listItems")
	for name, want := range map[string]Param{
		"token":      {},
		"plan":       {Restricted: true},
		"X-Domain":   {From: FromDomain},
		"X-Business": {From: FromBusinessID, Restricted: true},
	} {
		if p := list[name]; p.Restricted != want.Restricted || p.Hidden || p.From != want.From {
			t.Errorf("listItems %s = %+v, want restricted %v from %q", name, p, want.Restricted, want.From)
		}
	}
	if p := params("delSolution")["solution_id"]; p.From != FromSolutionID || !p.Restricted || !p.Hidden || !p.Required {
		t.Errorf("path-level solution_id = %+v", p)
	}
	for op, want := range map[string][2]bool{"createSolution": {true, true}, "updateSolution": {true, false}, "getSolution": {false, false}} {
		if o := d.Operations[op]; o.Restricted != want[0] || o.Hidden != want[1] {
			t.Errorf("%s restricted, hidden = %v, %v; want %v", op, o.Restricted, o.Hidden, want)
		}
	}
	cps := map[string]ConfigParameter{}
	for _, p := range d.ConfigParameters {
		cps[p.Name] = p
	}
	if s, tier, tok := cps["site"], cps["tier"], cps["token"]; !s.Restricted || s.From != FromDomain || !s.HubSet() ||
		!tier.Restricted || tier.From != "" || tier.Default != "free" || !tier.HubSet() || tok.HubSet() {
		t.Errorf("config parameters site, tier, token = %+v, %+v, %+v", s, tier, tok)
	}
	// Murano's other configuration fields: title, enum, hidden, internal use.
	d, err = Parse(context.Background(), "x", minimal2(`x-exosite-config-parameters:
  - {name: region, title: Region, type: string, enum: [eu, us], x-exosite-hidden: true}
  - {name: owner, type: string, x-exosite-internal-use: true}`), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, o := d.ConfigParameters[0], d.ConfigParameters[1]
	if r.Title != "Region" || len(r.Enum) != 2 || r.Enum[1] != "us" || !r.Hidden || r.Restricted || !o.Restricted || !o.Hidden {
		t.Errorf("config parameters = %+v, %+v", r, o)
	}
}

// TestCheckParametersHubSet: a restricted configuration parameter, or one filled from the
// solution, cannot be given (400 naming it), is not required, and is not kept.
func TestCheckParametersHubSet(t *testing.T) {
	d, err := Parse(context.Background(), "x", minimal2(`x-exosite-config-parameters:
  - {name: key, type: string, required: true}
  - {name: owner, type: string, required: true, x-exosite-restricted: true, x-exosite-from: solution_id}
  - {name: plan, type: string, default: free, x-exosite-restricted: true}
  - {name: site, type: string, x-exosite-from: domain}`), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := CheckParameters(d, map[string]any{"key": "k", "plan": nil})
	if err != nil || len(got) != 1 || got["key"] != "k" {
		t.Fatalf("CheckParameters = %v, %v; want only key", got, err)
	}
	for _, name := range []string{"owner", "plan", "site"} {
		_, err := CheckParameters(d, map[string]any{"key": "k", name: "mine"})
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "parameters."+name || !strings.Contains(ve.Reason, "cannot be set") {
			t.Errorf("setting %s: %v, want a refusal naming parameters.%s", name, err, name)
		}
	}
	// A secret the hub sets is not kept from an older configuration either.
	old := Config{Parameters: map[string]any{"key": "k", "plan": "paid"}, Secret: []string{"plan"}}
	if kept := KeepSecrets(d, old, map[string]any{"key": "k"}); kept["plan"] != nil {
		t.Errorf("KeepSecrets kept the hub's parameter: %v", kept)
	}
}

func TestParseOpenAPI3(t *testing.T) {
	d, err := Parse(context.Background(), "weather", readFixture(t, "weather.openapi3.yaml"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.BaseURL.String(), "https://weather.internal:8443/v2"; got != want {
		t.Errorf("BaseURL = %s, want %s", got, want)
	}
	if d.HealthPath != "/v2" || d.Timeout != 2*time.Second || d.Update != "configure" || d.Init != "" {
		t.Errorf("HealthPath, Timeout, Update, Init = %q, %v, %q, %q", d.HealthPath, d.Timeout, d.Update, d.Init)
	}
	if len(d.Events) != 2 || d.Events[0] != (Event{"alert", "A weather alert for a watched city."}) || d.Events[1].Name != "forecast_changed" {
		t.Errorf("Events = %+v", d.Events)
	}
	if len(d.ConfigParameters) != 2 || d.ConfigParameters[0].Name != "token" || !d.ConfigParameters[0].Secret ||
		!d.ConfigParameters[0].Required || d.ConfigParameters[1].Default != "metric" || d.ConfigParameters[1].Required {
		t.Errorf("ConfigParameters = %+v", d.ConfigParameters)
	}

	cur := d.Operations["current"]
	if cur.Method != "GET" || len(cur.Params) != 2 || cur.Params[0].Name != "city" || !cur.Params[0].Required ||
		cur.Params[1].Name != "units" || cur.Params[1].Default != "metric" || cur.Body != nil {
		t.Errorf("current = %+v", cur)
	}
	watch := d.Operations["watch"]
	if watch.Summary != "Watch a city for alerts." || watch.Timeout != 250*time.Millisecond {
		t.Errorf("watch = %+v", watch)
	}
	if b := watch.Body; b == nil || b.Expand || b.Name != "body" {
		t.Errorf("watch body = %+v, want not expanded: property city is also a parameter", watch.Body)
	}
	if b := d.Operations["configure"].Body; b == nil || b.Expand || b.Schema == nil || b.Required {
		t.Errorf("configure body = %+v", b)
	}
	if ops := d.Spec().Operations; len(ops) != 2 || ops[0].Name != "current" || ops[1].Name != "watch" {
		t.Errorf("Spec().Operations = %+v", ops)
	}
}

func TestParseNamespace(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"demoexternalservice.yaml", "http://demo.services:8080"},
		{"weather.openapi3.yaml", "https://demo.services:8443/v2"},
	}
	for _, c := range cases {
		d, err := Parse(context.Background(), "demo", readFixture(t, c.doc), ParseOptions{Namespace: "services", PlatformNamespace: "platform-1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.BaseURL.String(); got != c.want {
			t.Errorf("%s: BaseURL = %s, want %s", c.doc, got, c.want)
		}
	}
	doc := minimal2(`host: example.com`, `schemes: [https]`)
	d, err := Parse(context.Background(), "demo", doc, ParseOptions{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.BaseURL.String(), "https://demo.ns:443"; got != want {
		t.Errorf("BaseURL = %s, want %s", got, want)
	}
	if d.HealthPath != "/" || d.Timeout != DefaultTimeout {
		t.Errorf("HealthPath, Timeout = %q, %v", d.HealthPath, d.Timeout)
	}
}

func TestParseJSON(t *testing.T) {
	doc := `{"swagger":"2.0","info":{"title":"t","version":"1"},"host":"h","basePath":"/api/",
	  "paths":{"/x":{"get":{"operationId":"x","responses":{"200":{"description":"ok"}}}}}}`
	d, err := Parse(context.Background(), "svc", []byte(doc), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.BaseURL.String(); got != "http://h/api" || d.HealthPath != "/api" {
		t.Errorf("BaseURL, HealthPath = %s, %s", got, d.HealthPath)
	}
}

// TestParseNoOperations: a document without operations yet is valid in both versions.
func TestParseNoOperations(t *testing.T) {
	for name, doc := range map[string]string{
		"swagger 2.0": `{swagger: "2.0", info: {title: t, version: "1"}, host: h, paths: {}}`,
		"openapi 3":   `{openapi: 3.0.3, info: {title: t, version: "1"}, servers: [{url: "http://h"}], paths: {}}`,
	} {
		d, err := Parse(context.Background(), "svc", []byte(doc), ParseOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(d.Operations) != 0 || d.BaseURL.String() != "http://h" {
			t.Errorf("%s: operations %v, base %s", name, d.Operations, d.BaseURL)
		}
	}
}

// minimal2 is a valid Swagger 2.0 document with an operation "ping" and extra top-level lines,
// whose host line replaces the default one.
func minimal2(lines ...string) []byte {
	host := "host: example.com"
	var extra []string
	for _, l := range lines {
		if strings.HasPrefix(l, "host:") || l == "" {
			host = l
			continue
		}
		extra = append(extra, l)
	}
	return []byte(`swagger: "2.0"
info: {title: t, version: "1"}
` + host + "\n" + strings.Join(extra, "\n") + `
paths:
  /ping:
    get:
      operationId: ping
      responses: {"200": {description: ok}}
`)
}

// minimal3 is a valid OpenAPI 3 document with an operation "ping" and the given servers.
func minimal3(servers string) []byte {
	return []byte(`openapi: 3.0.3
info: {title: t, version: "1"}
` + servers + `
paths:
  /ping:
    get:
      operationId: ping
      responses: {"200": {description: ok}}
`)
}

func TestParseInvalid(t *testing.T) {
	core := func(n string) bool { return n == "keystore" }
	withOp := func(op string) []byte {
		return []byte(`swagger: "2.0"
info: {title: t, version: "1"}
host: example.com
paths:
  /a:
    get:
      operationId: ping
      responses: {"200": {description: ok}}
` + op)
	}
	cases := []struct {
		name  string
		svc   string
		doc   []byte
		opts  ParseOptions
		field string
		want  string
	}{
		{"empty name", "", minimal2(), ParseOptions{}, "name", "name must match ^[a-z0-9]+$"},
		{"upper case name", "Demo", minimal2(), ParseOptions{}, "name", "name must match ^[a-z0-9]+$"},
		{"dash in name", "demo-x", minimal2(), ParseOptions{}, "name", "name must match ^[a-z0-9]+$"},
		{"core name", "keystore", minimal2(), ParseOptions{CoreNames: core}, "name", `name "keystore" is reserved for a core service`},
		{"bad namespace", "demo", minimal2(), ParseOptions{Namespace: "-ns"}, "namespace", "namespace must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
		{"upper namespace", "demo", minimal2(), ParseOptions{Namespace: "NS"}, "namespace", "namespace must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
		{"bad platform namespace", "demo", minimal2(), ParseOptions{PlatformNamespace: "a.b"}, "platform_namespace", "platform_namespace must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
		{"too large", "demo", minimal2(), ParseOptions{MaxBytes: 10}, "swagger", "document is larger than 10 bytes"},
		{"too large by default", "demo", append(minimal2(), make([]byte, DefaultMaxBytes)...), ParseOptions{}, "swagger", "document is larger than 1048576 bytes"},
		{"empty document", "demo", []byte(" \n"), ParseOptions{}, "swagger", "document is empty"},
		{"not yaml", "demo", []byte("a: [b\n"), ParseOptions{}, "swagger", "document is neither YAML nor JSON: yaml: line 1: did not find expected ',' or ']'"},
		{"not an object", "demo", []byte("[1, 2]"), ParseOptions{}, "swagger", "document must be an object"},
		{"scalar", "demo", []byte("hello"), ParseOptions{}, "swagger", "document must be an object"},
		{"no version", "demo", []byte("info: {title: t}"), ParseOptions{}, "swagger", `document must be Swagger 2.0 (swagger: "2.0") or OpenAPI 3.x (openapi: "3.…")`},
		{"swagger 1.2", "demo", []byte(`swagger: "1.2"`), ParseOptions{}, "swagger", `document must be Swagger 2.0 (swagger: "2.0") or OpenAPI 3.x (openapi: "3.…")`},
		{"openapi 3.9", "demo", []byte(`{openapi: "3.9", info: {title: t, version: "1"}, paths: {}}`), ParseOptions{}, "swagger", `unsupported OpenAPI version "3.9"`},
		{"invalid 3.x", "demo", []byte(`{openapi: "3.0.3", info: {title: t, version: "1"}, servers: [{url: "http://h"}], paths: {"/a": {get: {operationId: a}}}}`),
			ParseOptions{}, "swagger", "invalid document: invalid paths: invalid path /a: invalid operation GET: value of responses must be an object"},
		{"invalid 2.0", "demo", []byte(`{swagger: "2.0", info: {title: t}, host: h, paths: {}}`), ParseOptions{}, "swagger", "#/info: missing property 'version'"},
		{"unknown field in 3.x", "demo", minimal3("servers: [{url: 'http://h'}]\ncolour: red"), ParseOptions{}, "swagger", `invalid document: extra sibling fields: [colour]`},
		{"null path item", "demo", []byte(`{swagger: "2.0", info: {title: t, version: "1"}, host: h, paths: {/a: null}}`), ParseOptions{}, "swagger", "#/paths/~1a: got null, want object"},
		{"null parameter", "demo", []byte("swagger: \"2.0\"\ninfo: {title: t, version: '1'}\nhost: h\npaths:\n  /a:\n    parameters: [null]\n"), ParseOptions{}, "swagger", "#/paths/~1a/parameters/0: got null, want object"},
		{"no host", "demo", minimal2(""), ParseOptions{}, "swagger", "host is required"},
		{"host with path", "demo", minimal2("host: example.com/api"), ParseOptions{}, "swagger", `#/host: "example.com/api" must be a host name or address, with an optional port, and nothing else`},
		{"bad scheme", "demo", minimal2("schemes: [ws]"), ParseOptions{}, "swagger", `scheme "ws" is not http or https`},
		{"no servers", "demo", minimal3(""), ParseOptions{}, "swagger", "servers must hold at least one absolute http or https URL"},
		{"relative server", "demo", minimal3("servers: [{url: /api}]"), ParseOptions{}, "swagger", "servers must hold at least one absolute http or https URL"},
		{"ftp server", "demo", minimal3("servers: [{url: 'ftp://h/'}]"), ParseOptions{}, "swagger", "servers must hold at least one absolute http or https URL"},
		{"no operationId", "demo", withOp("    post:\n      responses: {\"200\": {description: ok}}\n"), ParseOptions{}, "swagger", "operation POST /a has no operationId"},
		{"duplicate operationId", "demo", withOp("  /b:\n    get:\n      operationId: ping\n      responses: {\"200\": {description: ok}}\n"),
			ParseOptions{}, "swagger", `operationId "ping" is used by both GET /a and GET /b`},
		{"init names nothing", "demo", minimal2("x-exosite-init: setup"), ParseOptions{}, "swagger", `x-exosite-init names no operation: "setup"`},
		{"update names nothing", "demo", minimal2("x-exosite-update: reconfigure"), ParseOptions{}, "swagger", `x-exosite-update names no operation: "reconfigure"`},
		{"gc names nothing", "demo", minimal2("x-exosite-gc: cleanup"), ParseOptions{}, "swagger", `x-exosite-gc names no operation: "cleanup"`},
		{"gc not a string", "demo", minimal2("x-exosite-gc: [ping]"), ParseOptions{}, "swagger", `x-exosite-gc must be an operationId`},
		{"timeout zero", "demo", minimal2("x-exosite-timeout: 0"), ParseOptions{}, "swagger", "x-exosite-timeout must be between 1ms and 5m0s, not 0s"},
		{"timeout too long", "demo", minimal2("x-exosite-timeout: 10m"), ParseOptions{}, "swagger", "x-exosite-timeout must be between 1ms and 5m0s, not 10m0s"},
		{"timeout too many ms", "demo", minimal2("x-exosite-timeout: 300001"), ParseOptions{}, "swagger", "x-exosite-timeout must be between 1ms and 5m0s, not 5m0.001s"},
		{"timeout huge", "demo", minimal2("x-exosite-timeout: 1e300"), ParseOptions{}, "swagger", "x-exosite-timeout must be between 1ms and 5m0s, not 1e+300ms"},
		{"timeout negative", "demo", minimal2("x-exosite-timeout: -5"), ParseOptions{}, "swagger", "x-exosite-timeout must be between 1ms and 5m0s, not -5ms"},
		{"timeout not a duration", "demo", minimal2("x-exosite-timeout: soon"), ParseOptions{}, "swagger", `x-exosite-timeout must be milliseconds or a duration such as "30s"`},
		{"operation timeout", "demo", withOp("    post:\n      operationId: slow\n      x-exosite-timeout: 6m\n      responses: {\"200\": {description: ok}}\n"),
			ParseOptions{}, "swagger", "operation slow: x-exosite-timeout must be between 1ms and 5m0s, not 6m0s"},
		{"restricted not a bool", "demo", withOp("    post:\n      operationId: p\n      x-exosite-restricted: yes please\n      responses: {\"200\": {description: ok}}\n"),
			ParseOptions{}, "swagger", "operation p: x-exosite-restricted must be true or false"},
		{"from unknown", "demo", withOp("    post:\n      operationId: p\n      parameters: [{name: s, in: query, type: string, x-exosite-from: user_id}]\n      responses: {\"200\": {description: ok}}\n"),
			ParseOptions{}, "swagger", `operation p: parameter "s": x-exosite-from must be solution_id, domain or business_id, not "user_id"`},
		{"from not a string", "demo", withOp("    post:\n      operationId: p\n      parameters: [{name: s, in: header, type: string, x-exosite-from: 3}]\n      responses: {\"200\": {description: ok}}\n"),
			ParseOptions{}, "swagger", `operation p: parameter "s": x-exosite-from must be solution_id, domain or business_id`},
		{"hidden not a bool", "demo", withOp("    post:\n      operationId: p\n      parameters: [{name: s, in: query, type: string, x-exosite-hidden: maybe}]\n      responses: {\"200\": {description: ok}}\n"),
			ParseOptions{}, "swagger", `operation p: parameter "s": x-exosite-hidden must be true or false`},
		{"internal use not a bool", "demo", withOp("    post:\n      operationId: p\n      x-exosite-internal-use: 1\n      responses: {\"200\": {description: ok}}\n"),
			ParseOptions{}, "swagger", "operation p: x-exosite-internal-use must be true or false"},
		{"config from unknown", "demo", minimal2("x-exosite-config-parameters: [{name: k, x-exosite-restricted: true, x-exosite-from: user_id}]"),
			ParseOptions{}, "swagger", `x-exosite-config-parameters: parameter "k": x-exosite-from must be solution_id, domain or business_id, not "user_id"`},
		{"config restricted not a bool", "demo", minimal2("x-exosite-config-parameters: {k: {type: string, x-exosite-restricted: 'yes'}}"),
			ParseOptions{}, "swagger", `x-exosite-config-parameters: parameter "k": x-exosite-restricted must be true or false`},
		{"info names no operation", "demo", minimal2("x-exosite-info: nope"), ParseOptions{}, "swagger", `x-exosite-info names no operation: "nope"`},
		{"health path relative", "demo", minimal2("x-exosite-health-path: health"), ParseOptions{}, "swagger", "x-exosite-health-path must be a path starting with /"},
		{"events not a collection", "demo", minimal2("x-events: 3"), ParseOptions{}, "swagger", "x-events must be an object of events by name or a list of events"},
		{"event bad name", "demo", minimal2("x-events: {'Data-In': {}}"), ParseOptions{}, "swagger", `x-events: event name "Data-In" must match ^[a-z0-9][a-z0-9_-]*$`},
		{"event without name", "demo", minimal2("x-events: [{description: d}]"), ParseOptions{}, "swagger", `x-events: event name "" must match ^[a-z0-9][a-z0-9_-]*$`},
		{"event twice", "demo", minimal2("x-events: [a, a]"), ParseOptions{}, "swagger", `x-events: event "a" is listed twice`},
		{"config not a collection", "demo", minimal2("x-exosite-config-parameters: key"), ParseOptions{}, "swagger", "x-exosite-config-parameters must be a list of parameters or an object of parameters by name"},
		{"config without name", "demo", minimal2("x-exosite-config-parameters: [{type: string}]"), ParseOptions{}, "swagger", "x-exosite-config-parameters: every parameter needs a name"},
		{"config twice", "demo", minimal2("x-exosite-config-parameters: [{name: k}, {name: k}]"), ParseOptions{}, "swagger", `x-exosite-config-parameters: parameter "k" is listed twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse(context.Background(), c.svc, c.doc, c.opts)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", d)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T %v is not a *ValidationError", err, err)
			}
			if err != error(ve) {
				t.Errorf("error %T is not itself a *ValidationError", err)
			}
			if ve.Field != c.field || ve.Reason != c.want || err.Error() != c.want {
				t.Errorf("got field %q, reason\n%s\nwant field %q, reason\n%s", ve.Field, ve.Reason, c.field, c.want)
			}
		})
	}
}
