package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestParseMurano: every document Murano's validator accepts registers.
func TestParseMurano(t *testing.T) {
	files, err := filepath.Glob("testdata/murano/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no documents: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			doc, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse(context.Background(), "svc", doc, ParseOptions{})
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if len(d.Operations) == 0 {
				t.Error("no operations")
			}
		})
	}
}

func parseMurano(t *testing.T, name string) (*Description, *loaded) {
	t.Helper()
	doc := readFixture(t, "murano/"+name)
	d, err := Parse(context.Background(), "svc", doc, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := load(context.Background(), doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d, l
}

func TestParseMuranoAliases(t *testing.T) {
	d, l := parseMurano(t, "legacy-aliases.yaml")
	if d.Init != "createNamespace" || d.Update != "updateNamespace" || d.GC != "removeNamespace" || d.HealthPath != "/status" {
		t.Errorf("Init, Update, GC, HealthPath = %q, %q, %q, %q", d.Init, d.Update, d.GC, d.HealthPath)
	}
	if d.Doc.Extensions["x-exosite-info"] != "namespaceInfo" || d.Info != "namespaceInfo" {
		t.Errorf("x-info not made x-exosite-info: %v", d.Doc.Extensions)
	}
	if len(d.ConfigParameters) != 2 || !d.ConfigParameters[0].Secret || d.ConfigParameters[0].Name != "token" {
		t.Errorf("ConfigParameters = %+v", d.ConfigParameters)
	}
	p := d.Operations["namespaceInfo"].Params
	if len(p) != 1 || p[0].From != "solution_id" || !p[0].Restricted {
		t.Errorf("namespaceInfo params = %+v", p)
	}
	if s := l.v2.SecurityDefinitions["basicAuth"]; s == nil || s.Extensions["x-exosite-user-field"] != "account" || s.Extensions["x-exosite-secret-field"] != "token" {
		t.Errorf("basicAuth = %+v", s)
	}
	// A schema's property named like an alias is user data.
	props := d.Operations["createNamespace"].Body.Schema.Value.Properties
	if props["x-init"] == nil || props["x-exosite-init"] != nil {
		t.Errorf("body properties = %v", slices.Sorted(func(yield func(string) bool) {
			for k := range props {
				if !yield(k) {
					return
				}
			}
		}))
	}
}

func TestParseMuranoSecurity(t *testing.T) {
	d, l := parseMurano(t, "security.yaml")
	for _, name := range []string{"signature", "certificate", "token", "key", "password", "delegated"} {
		if l.v2.SecurityDefinitions[name] == nil {
			t.Errorf("security definition %s missing", name)
		}
	}
	if len(l.v2.Security) != 1 {
		t.Errorf("security = %+v", l.v2.Security)
	}
	p := d.Operations["whoami"].Params
	if len(p) != 1 || p[0].Name != "solution_id" || p[0].From != "solution_id" || !p[0].Restricted {
		t.Errorf("whoami params = %+v", p)
	}
}

func TestParseMuranoInsight(t *testing.T) {
	d, _ := parseMurano(t, "insight.yaml")
	param := func(op, name string) *Param {
		for _, p := range d.Operations[op].Params {
			if p.Name == name {
				return &p
			}
		}
		return nil
	}
	for _, op := range []string{"infoInsight", "process"} {
		p := param(op, "function_id")
		if p == nil || p.In != "path" || !p.Required || p.Schema == nil || !p.Schema.Value.Type.Is(openapi3.TypeString) {
			t.Errorf("%s: undeclared path parameter function_id = %+v", op, p)
		}
	}
	if p := param("process", "solution_id"); p == nil || !p.Required || p.From != "solution_id" {
		t.Errorf("process: solution_id = %+v", p)
	}
	props := d.Operations["process"].Body.Schema.Value.Properties
	if v := props["value"].Value; !v.Type.Includes(openapi3.TypeString) || !v.Type.Includes(openapi3.TypeNumber) {
		t.Errorf("value type = %v", v.Type)
	}
	if v := props["tags"].Value; !v.Nullable || !v.Type.Is(openapi3.TypeObject) {
		t.Errorf("tags: nullable %v, type %v", v.Nullable, v.Type)
	}
	if v := props["history"].Value; !v.Type.Is(openapi3.TypeArray) || v.Items != nil {
		t.Errorf("history: type %v, items %v", v.Type, v.Items)
	}
}

// TestParseSwagger2Refused: what is wrong is named where the document says it.
func TestParseSwagger2Refused(t *testing.T) {
	doc := func(extra string) []byte {
		return []byte(`swagger: "2.0"
info: {title: t, version: "1"}
host: h
paths:
  /x:
    get:
      operationId: x
      responses: {"200": {description: ok}}
` + extra)
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		want string
	}{
		{"dangling definition", doc("definitions:\n  Account:\n    properties:\n      id: {$ref: '#/definitions/Missing'}\n"),
			`#/definitions/Account/properties/id: $ref "#/definitions/Missing" points nowhere`},
		{"dangling response", []byte("swagger: '2.0'\ninfo: {title: t, version: '1'}\nhost: h\npaths:\n  /x:\n    get:\n      operationId: x\n      responses: {'200': {$ref: '#/responses/Nope'}}\n"),
			`#/paths/~1x/get/responses/200: $ref "#/responses/Nope" points nowhere`},
		{"dangling parameter", []byte("swagger: '2.0'\ninfo: {title: t, version: '1'}\nhost: h\npaths:\n  /x:\n    parameters: [{$ref: '#/parameters/p'}]\n    get: {operationId: x, responses: {default: {description: ok}}}\n"),
			`#/paths/~1x/parameters/0: $ref "#/parameters/p" points nowhere`},
		{"not local", doc("definitions:\n  A: {$ref: 'other.yaml#/definitions/B'}\n"),
			`#/definitions/A: $ref "other.yaml#/definitions/B" is not local: only references within the document are supported`},
		{"loop", doc("definitions:\n  A: {$ref: '#/definitions/B'}\n  B: {$ref: '#/definitions/A'}\n"),
			`#/definitions/A: $ref "#/definitions/B" leads back to itself through references`},
		{"wrong kind", doc("definitions:\n  A: {type: string}\n  B: {type: object, properties: {a: {$ref: '#/paths/~1x'}}}\n"),
			`#/definitions/B/properties/a: $ref "#/paths/~1x" must point to a definition (#/definitions/…)`},
		{"no responses", []byte("swagger: '2.0'\ninfo: {title: t, version: '1'}\nhost: h\npaths:\n  /x:\n    get: {operationId: x}\n"),
			`#/paths/~1x/get: missing property 'responses'`},
		{"unknown security type", doc("securityDefinitions:\n  s: {type: hmac}\n"),
			`#/securityDefinitions/s: type "hmac" is not one of basic, apiKey, bearer, oauth2, signature, clientCA`},
		{"bad type", doc("definitions:\n  A: {type: [string, text]}\n"),
			`#/definitions/A/type/1: value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string', 'file'`},
		{"host with a scheme", []byte("swagger: '2.0'\ninfo: {title: t, version: '1'}\nhost: 'http://[::1]:80'\npaths: {}\n"),
			`#/host: "http://[::1]:80" must be a host name or address, with an optional port, and nothing else`},
		{"too deep", doc("definitions:\n  A: " + strings.Repeat("{properties: {a: ", 70) + "{}" + strings.Repeat("}}", 70) + "\n"),
			"the document nests deeper than 128 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(context.Background(), "svc", tc.doc, ParseOptions{})
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != FieldSwagger {
				t.Fatalf("got %v, want a *ValidationError on swagger", err)
			}
			if !strings.HasSuffix(ve.Reason, tc.want) {
				t.Errorf("reason\n%s\nwant\n%s", ve.Reason, tc.want)
			}
		})
	}
}

func TestParseSwagger2IPv6Host(t *testing.T) {
	for _, host := range []string{"[::1]", "[fe80::1]:80", "[::ffff:127.0.0.1]:8080"} {
		if _, err := Parse(context.Background(), "svc", minimal2("host: '"+host+"'"), ParseOptions{}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}
