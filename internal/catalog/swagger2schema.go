package catalog

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// swagger2Schema is the official JSON Schema of Swagger 2.0 (see schema/README.md for its
// source and licence). murano() widens it to what Murano's own validator accepts.
//
//go:embed schema/swagger-2.0.json
var swagger2Schema []byte

const swagger2SchemaURL = "http://swagger.io/v2/schema.json"

// extToken is the secret a service gives for calling back; it is never shown.
const extToken = "x-exosite-token"

var swagger2Compiled struct {
	once sync.Once
	s    *jsonschema.Schema
	err  error
}

// swagger2Validator is the compiled schema, made on first use.
func swagger2Validator() (*jsonschema.Schema, error) {
	swagger2Compiled.once.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(swagger2Schema))
		if err != nil {
			swagger2Compiled.err = err
			return
		}
		root, ok := doc.(map[string]any)
		if !ok {
			swagger2Compiled.err = errors.New("swagger 2.0 schema is not an object")
			return
		}
		murano(root)
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft4)
		// Only the schema itself and the draft-04 meta-schema (built in) are ever loaded.
		c.UseLoader(jsonschema.SchemeURLLoader{})
		// Draft 4 asserts formats; Murano does not hold documents to uri, email or
		// ECMAScript regex syntax, so neither does Switchboard.
		for _, name := range []string{"uri", "uri-reference", "email", "regex", "hostname", "date-time", "ipv4", "ipv6"} {
			c.RegisterFormat(&jsonschema.Format{Name: name, Validate: func(any) error { return nil }})
		}
		if err := c.AddResource(swagger2SchemaURL, root); err != nil {
			swagger2Compiled.err = err
			return
		}
		swagger2Compiled.s, swagger2Compiled.err = c.Compile(swagger2SchemaURL)
	})
	return swagger2Compiled.s, swagger2Compiled.err
}

// murano widens the official Swagger 2.0 schema to the documents Murano's validator
// (exchangeServiceSchemaDefinition.json in exosite/open_api_integration) accepts. Only what
// Murano allows beyond Swagger 2.0 is added; where Murano is stricter (https only, a default
// response, …) Swagger 2.0 rules. Formats (uri, email) are not asserted, as by Murano.
func murano(root map[string]any) {
	defs := root["definitions"].(map[string]any)
	def := func(name string) map[string]any { return defs[name].(map[string]any) }
	props := func(name string) map[string]any { return def(name)["properties"].(map[string]any) }
	ref := func(name string) map[string]any { return map[string]any{"$ref": "#/definitions/" + name} }

	// Swagger 2.0's host pattern leaves out IPv6 addresses, which Switchboard has always taken.
	root["properties"].(map[string]any)["host"].(map[string]any)["pattern"] = `^(?:[^{}/ :\\[\]]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?$`

	// Draft-4 types: any JSON type, "file", or a list of them, for parameters, headers and
	// items as well as schemas.
	defs["muranoSimpleType"] = map[string]any{
		"type": "string",
		"enum": []any{"array", "boolean", "integer", "null", "number", "object", "string", "file"},
	}
	defs["muranoTypes"] = map[string]any{"anyOf": []any{
		ref("muranoSimpleType"),
		map[string]any{"type": "array", "items": ref("muranoSimpleType"), "minItems": 1, "uniqueItems": true},
	}}
	for _, name := range []string{"headerParameterSubSchema", "queryParameterSubSchema", "formDataParameterSubSchema", "pathParameterSubSchema", "header", "primitivesItems"} {
		props(name)["type"] = ref("muranoTypes")
	}
	props("primitivesItems")["description"] = map[string]any{"type": "string"}
	props("headerParameterSubSchema")["allowEmptyValue"] = map[string]any{"type": "boolean"}
	// A path parameter may leave out required or say false (it is required all the same).
	props("pathParameterSubSchema")["required"] = map[string]any{"type": "boolean"}
	delete(def("pathParameterSubSchema"), "required")

	// A schema with a $ref is the reference whatever else it says; otherwise a Swagger 2.0
	// schema with Murano's additions.
	det := def("schema")
	defs["muranoDeterministicSchema"] = det
	dp := det["properties"].(map[string]any)
	dp["type"] = ref("muranoTypes")
	dp["examples"] = map[string]any{"type": "array"}
	dp["patternProperties"] = map[string]any{"type": "object", "additionalProperties": ref("schema")}
	dp["additionalProperties"] = map[string]any{"anyOf": []any{ref("schema"), map[string]any{"type": "boolean"}}}
	defs["schema"] = map[string]any{"anyOf": []any{
		map[string]any{"type": "object", "required": []any{"$ref"}, "properties": map[string]any{"$ref": map[string]any{"type": "string"}}},
		ref("muranoDeterministicSchema"),
	}}

	// Responses: description optional, examples free, extensions allowed.
	// The widened schema also takes {type: file}, so a response's schema is either, not one.
	resp := def("response")
	delete(resp, "required")
	rp := props("response")
	rp["examples"] = map[string]any{}
	rp["schema"] = map[string]any{"anyOf": []any{ref("schema"), ref("fileSchema")}}

	// Security schemes: Murano's types (signature, clientCA, bearer) besides Swagger's, any
	// case, oauth2 without Swagger's flow fields, each with its own x-exosite-* fields. Only
	// their shape is checked here; security.go checks each type's fields and says, with the
	// scheme's location, what one lacks, which a choice among alternatives here cannot.
	def("securityDefinitions")["additionalProperties"] = map[string]any{
		"type": "object", "required": []any{"type"},
		"properties": map[string]any{"type": map[string]any{"type": "string"}, "description": map[string]any{"type": "string"}},
	}
}

// validateSwagger2 checks a Swagger 2.0 document, decoded by jsonschema.UnmarshalJSON,
// against the schema. The error names the most specific place the document is wrong.
func validateSwagger2(doc any) error {
	s, err := swagger2Validator()
	if err != nil {
		return fmt.Errorf("swagger 2.0 schema: %w", err)
	}
	err = s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return invalidDoc("invalid document", err)
	}
	leaf := deepestLeaf(ve)
	msg := leaf.ErrorKind.LocalizedString(schemaPrinter)
	if _, ok := leaf.ErrorKind.(*kind.Pattern); ok && slices.Equal(leaf.InstanceLocation, []string{"host"}) {
		msg = fmt.Sprintf("%q must be a host name or address, with an optional port, and nothing else", asString(doc, "host"))
	}
	return &ValidationError{Field: FieldSwagger, Reason: pointer(leaf.InstanceLocation) + ": " + msg, Err: err}
}

func asString(doc any, key string) string {
	s, _ := asObject(doc)[key].(string)
	return s
}

var schemaPrinter = message.NewPrinter(language.English)

// otherAlternative reports an error that only says the document took another alternative
// than the one failing: a schema that is not a reference, a parameter in another place.
func otherAlternative(e *jsonschema.ValidationError) bool {
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		return len(k.Missing) == 1 && k.Missing[0] == "$ref"
	case *kind.Enum:
		loc := e.InstanceLocation
		return len(loc) > 0 && loc[len(loc)-1] == "in"
	}
	return false
}

// deepestLeaf is the error without causes deepest in the document, the first of those
// equally deep: among the alternatives of a oneOf, the one that went furthest is usually
// the one the author meant; the first in the document's order of places when equally
// deep, so that the message does not change from run to run. Errors of otherAlternative come
// after all others.
func deepestLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	best := e
	rank := func(e *jsonschema.ValidationError) int {
		r := len(e.InstanceLocation)
		if !otherAlternative(e) {
			r += 1 << 20
		}
		return r
	}
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			if len(best.Causes) > 0 || rank(e) > rank(best) ||
				rank(e) == rank(best) && pointer(e.InstanceLocation) < pointer(best.InstanceLocation) {
				best = e
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(e)
	return best
}

// pointer is a location in the document as a JSON pointer fragment, "#/paths/~1x/get".
func pointer(tokens []string) string {
	var b strings.Builder
	b.WriteByte('#')
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}
