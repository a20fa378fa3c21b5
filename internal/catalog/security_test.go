package catalog

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// securityTail is what securityV2Doc and securityV3Doc share: configuration parameters token,
// account, password and region, and operation a.
const securityTail = `x-exosite-config-parameters:
  - {name: token, type: string}
  - {name: account, type: string}
  - {name: password, type: string}
  - {name: region, type: string}
paths:
  /a:
    get:
      operationId: a
      responses: {"200": {description: ok}}
`

// securityV2Doc is a Swagger 2.0 document with the given securityDefinitions and document
// security (YAML, indented as top-level keys), operations a and b (b with operation security
// opSecurity, when not empty) and the configuration parameters of securityTail.
func securityV2Doc(defs, security, opSecurity string) []byte {
	return []byte(`swagger: "2.0"
info: {title: t, version: "1"}
host: example.com
securityDefinitions:
` + defs + `
` + security + `
` + securityTail + `  /b/{x}:
    post:
      operationId: b
      parameters: [{name: x, in: path, required: true, type: string}]
` + opSecurityLine(opSecurity) + `      responses: {"200": {description: ok}}
`)
}

// securityV3Doc is the OpenAPI 3 counterpart of securityV2Doc: schemes are
// components.securitySchemes.
func securityV3Doc(schemes, security, opSecurity string) []byte {
	return []byte(`openapi: 3.0.3
info: {title: t, version: "1"}
servers: [{url: "http://example.com"}]
components:
  securitySchemes:
` + schemes + `
` + security + `
` + securityTail + `  /b:
    post:
      operationId: b
` + opSecurityLine(opSecurity) + `      responses: {"200": {description: ok}}
`)
}

// opSecurityLine is the security line of an operation, none when s is empty.
func opSecurityLine(s string) string {
	if s == "" {
		return ""
	}
	return "      security: " + s + "\n"
}

// TestParseSecuritySchemes checks each of Murano's scheme types, in any case, in Swagger 2.0
// and OpenAPI 3, with the requirements of the document and of an operation and the
// configuration parameters made secret.
func TestParseSecuritySchemes(t *testing.T) {
	tests := []struct {
		name       string
		doc        []byte
		schemes    []SecurityScheme
		security   [][]string
		opSecurity [][]string // of operation b; a always takes the document's (nil)
		secret     []string   // configuration parameters made secret, in the document's order
	}{
		{
			name: "v2 basic, any case, canonical fields",
			doc: securityV2Doc(`  auth: {type: Basic, description: d, x-exosite-user-field: account, x-exosite-secret-field: password}`,
				"security: [{auth: []}]", ""),
			schemes:  []SecurityScheme{{Name: "auth", Type: SecurityBasic, Description: "d", UserField: "account", SecretField: "password"}},
			security: [][]string{{"auth"}},
			secret:   []string{"password"},
		},
		{
			name:     "v2 basic with the short names of Murano's older documentation",
			doc:      securityV2Doc(`  auth: {type: basic, x-userField: account, x-secretField: password}`, "", ""),
			schemes:  []SecurityScheme{{Name: "auth", Type: SecurityBasic, UserField: "account", SecretField: "password"}},
			secret:   []string{"password"},
			security: nil,
		},
		{
			name: "v2 apiKey in query with prefix and x-exosite-from, operation security",
			doc: securityV2Doc(`  key: {type: APIKEY, name: api_key, in: query, x-exosite-prefix: Token, x-exosite-from: token, x-exosite-restricted: true}`,
				"", "[{key: []}]"),
			schemes:    []SecurityScheme{{Name: "key", Type: SecurityAPIKey, In: "query", ParamName: "api_key", Prefix: "Token", SecretField: "token", Restricted: true}},
			opSecurity: [][]string{{"key"}},
			secret:     []string{"token"},
		},
		{
			name:    "v2 apiKey takes x-exosite-secret-field, else its name",
			doc:     securityV2Doc("  k1: {type: apiKey, name: X-Key, in: header, x-exosite-secret-field: token}\n  k2: {type: apiKey, name: region, in: header}", "", ""),
			schemes: []SecurityScheme{{Name: "k1", Type: SecurityAPIKey, In: "header", ParamName: "X-Key", SecretField: "token"}, {Name: "k2", Type: SecurityAPIKey, In: "header", ParamName: "region", SecretField: "region"}},
			secret:  []string{"token", "region"},
		},
		{
			name: "v2 bearer, signature, clientCA, oauth2; alternatives and an empty operation requirement",
			doc: securityV2Doc(`  z: {type: BEARER, name: token}
  sig: {type: Signature}
  ca: {type: clientca}
  o: {type: OAuth2, flow: application, tokenUrl: "http://x/t", scopes: {}, x-exosite-secret-field: password}`,
				"security: [{z: [], sig: []}, {ca: []}]", "[]"),
			schemes: []SecurityScheme{
				{Name: "ca", Type: SecurityClientCA},
				{Name: "o", Type: SecurityOAuth2, SecretField: "password"},
				{Name: "sig", Type: SecuritySignature},
				{Name: "z", Type: SecurityBearer, SecretField: "token"},
			},
			security:   [][]string{{"sig", "z"}, {"ca"}},
			opSecurity: [][]string{},
			secret:     []string{"token", "password"},
		},
		{
			name: "v3 http basic and bearer, apiKey in cookie, oauth2, mutualTLS",
			doc: securityV3Doc(`    b: {type: http, scheme: Basic, x-exosite-user-field: account, x-exosite-secret-field: password}
    t: {type: http, scheme: bearer, x-exosite-secret-field: token}
    c: {type: apiKey, in: cookie, name: sid}
    o: {type: oauth2, flows: {clientCredentials: {tokenUrl: "http://x/t", scopes: {}}}}`,
				"security: [{b: []}]", "[{t: []}, {c: []}]"),
			schemes: []SecurityScheme{
				{Name: "b", Type: SecurityBasic, UserField: "account", SecretField: "password"},
				{Name: "c", Type: SecurityAPIKey, In: "cookie", ParamName: "sid", SecretField: "sid"},
				{Name: "o", Type: SecurityOAuth2},
				{Name: "t", Type: SecurityBearer, SecretField: "token"},
			},
			security:   [][]string{{"b"}},
			opSecurity: [][]string{{"t"}, {"c"}},
			secret:     []string{"token", "password"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(context.Background(), "svc", tt.doc, ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.SecuritySchemes, tt.schemes) {
				t.Errorf("SecuritySchemes =\n %+v\nwant\n %+v", d.SecuritySchemes, tt.schemes)
			}
			if !reflect.DeepEqual(d.Security, tt.security) {
				t.Errorf("Security = %#v, want %#v", d.Security, tt.security)
			}
			if got := d.Operations["a"].Security; got != nil {
				t.Errorf("operation a: Security = %#v, want nil (the document's)", got)
			}
			if got := d.Operations["b"].Security; !reflect.DeepEqual(got, tt.opSecurity) {
				t.Errorf("operation b: Security = %#v, want %#v", got, tt.opSecurity)
			}
			var secret []string
			for _, p := range d.ConfigParameters {
				if p.Secret {
					secret = append(secret, p.Name)
				}
			}
			if !reflect.DeepEqual(secret, tt.secret) {
				t.Errorf("secret parameters = %v, want %v", secret, tt.secret)
			}
		})
	}
}

// TestParseSecurityRefusals checks the refused schemes and requirements, each naming its
// location in the document.
func TestParseSecurityRefusals(t *testing.T) {
	tests := []struct {
		name string
		doc  []byte
		want string
	}{
		{"undefined in document security", securityV2Doc("  k: {type: bearer, name: token}", "security: [{k: []}, {x: []}]", ""),
			`#/security/1: scheme "x" is not defined in securityDefinitions`},
		{"undefined in operation security", securityV2Doc("  k: {type: bearer, name: token}", "", "[{k: [], y: []}]"),
			`#/paths/~1b~1{x}/post/security/0: scheme "y" is not defined in securityDefinitions`},
		{"unknown type", securityV2Doc("  k: {type: digest}", "", ""),
			`#/securityDefinitions/k: type "digest" is not one of`},
		{"basic without fields", securityV2Doc("  k: {type: basic, x-exosite-user-field: account}", "", ""),
			`#/securityDefinitions/k: type basic needs x-exosite-user-field and x-exosite-secret-field`},
		{"apiKey without in", securityV2Doc("  k: {type: apiKey, name: key}", "", ""),
			`#/securityDefinitions/k: type apiKey needs in: header or query`},
		{"apiKey without name", securityV2Doc("  k: {type: apiKey, in: header}", "", ""),
			`#/securityDefinitions/k: type apiKey needs a name`},
		{"bearer without name", securityV2Doc("  k: {type: bearer}", "", ""),
			`#/securityDefinitions/k: type bearer needs a name`},
		{"field not a string", securityV2Doc("  k: {type: bearer, name: t, x-exosite-secret-field: 3}", "", ""),
			`#/securityDefinitions/k: x-exosite-secret-field must be a string`},
		{"restricted not a boolean", securityV2Doc("  k: {type: bearer, name: t, x-exosite-restricted: yes please}", "", ""),
			`#/securityDefinitions/k: x-exosite-restricted must be true or false`},
		{"v3 http digest", securityV3Doc("    k: {type: http, scheme: digest}", "", ""),
			`#/components/securitySchemes/k: http scheme "digest" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(context.Background(), "svc", tt.doc, ParseOptions{})
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != FieldSwagger || !strings.Contains(ve.Reason, tt.want) {
				t.Fatalf("error = %v, want a swagger field error containing %q", err, tt.want)
			}
		})
	}
}

// TestWithoutSecurityLeavesTheDocument checks the converter's copy drops security while the
// document read afterwards keeps it.
func TestWithoutSecurityLeavesTheDocument(t *testing.T) {
	l, err := load(context.Background(), securityV2Doc("  k: {type: bearer, name: token}", "security: [{k: []}]", "[{k: []}]"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.v2.SecurityDefinitions["k"] == nil || len(l.v2.Security) != 1 || l.v2.Paths["/b/{x}"].Post.Security == nil {
		t.Errorf("the Swagger 2.0 document lost its security: %+v", l.v2)
	}
	if l.doc.Components != nil && len(l.doc.Components.SecuritySchemes) != 0 || l.doc.Security != nil {
		t.Errorf("the converted document has security: %+v %+v", l.doc.Components, l.doc.Security)
	}
}
