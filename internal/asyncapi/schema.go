package asyncapi

import (
	"bytes"
	"embed"
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

// The official JSON Schemas of AsyncAPI 2.0.0 to 2.6.0 (see schemas/SOURCE.md).
//
//go:embed schemas/*.json
var schemaFiles embed.FS

// Versions are the AsyncAPI versions Parse accepts, oldest first.
var Versions = []string{"2.0.0", "2.1.0", "2.2.0", "2.3.0", "2.4.0", "2.5.0", "2.6.0"}

type compiled struct {
	once sync.Once
	s    *jsonschema.Schema
	err  error
}

var docSchemas = func() map[string]*compiled {
	m := make(map[string]*compiled, len(Versions))
	for _, v := range Versions {
		m[v] = new(compiled)
	}
	return m
}()

// docSchema is the compiled schema of an AsyncAPI version, made on first use.
func docSchema(version string) (*jsonschema.Schema, error) {
	c, ok := docSchemas[version]
	if !ok {
		return nil, fmt.Errorf("asyncapi: no schema for version %q", version)
	}
	c.once.Do(func() { c.s, c.err = compileDocSchema(version) })
	return c.s, c.err
}

func compileDocSchema(version string) (*jsonschema.Schema, error) {
	data, err := schemaFiles.ReadFile("schemas/" + version + ".json")
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("asyncapi %s schema: %w", version, err)
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("asyncapi %s schema is not an object", version)
	}
	url, _ := root["$id"].(string)
	adjustDocSchema(root, version)
	c := newCompiler()
	if err := c.AddResource(url, root); err != nil {
		return nil, fmt.Errorf("asyncapi %s schema: %w", version, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("asyncapi %s schema: %w", version, err)
	}
	return s, nil
}

// adjustDocSchema makes the changes @asyncapi/parser makes to the official schema before it
// validates with it (ruleset/functions/documentStructure.js), so that both agree: the copies
// of the JSON Schema meta-schemas go (the compiler has its own), and a $ref need not be an
// RFC 3986 URI reference ("#/components/schemas/a[0]" is a fine JSON pointer).
//
// The parser validates the document with its references resolved; Parse validates it as
// written, which differs in one way: in 2.0.0 and 2.1.0 a Parameter Object may hold a $ref,
// so a reference matches both alternatives of "oneOf: [Reference, Parameter]" and fails.
// A choice between a Reference and something else is therefore "anyOf" here: equal for
// every value but a reference, which is then followed by Parse.
func adjustDocSchema(root map[string]any, version string) {
	refOneOfToAnyOf(root, "http://asyncapi.com/definitions/"+version+"/Reference.json")
	defs, _ := root["definitions"].(map[string]any)
	delete(defs, "http://json-schema.org/draft-07/schema")
	delete(defs, "http://json-schema.org/draft-04/schema")
	if ref, ok := defs["http://asyncapi.com/definitions/"+version+"/ReferenceObject.json"].(map[string]any); ok && ref["format"] == "uri-reference" {
		delete(ref, "format")
	}
}

func refOneOfToAnyOf(v any, reference string) {
	switch c := v.(type) {
	case map[string]any:
		if alts, ok := c["oneOf"].([]any); ok && slices.ContainsFunc(alts, func(a any) bool {
			r, _ := refOf(a)
			return r == reference
		}) {
			delete(c, "oneOf")
			c["anyOf"] = alts
		}
		for _, e := range c {
			refOneOfToAnyOf(e, reference)
		}
	case []any:
		for _, e := range c {
			refOneOfToAnyOf(e, reference)
		}
	}
}

// newCompiler is a compiler that loads nothing: every schema it needs is added to it, or
// is a meta-schema it holds.
func newCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(noLoader{})
	return c
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s: schemas are not loaded from outside the document", url)
}

var printer = message.NewPrinter(language.English)

// validateDoc checks a decoded document against the schema of its version.
func validateDoc(doc any, version string, ps *problems) error {
	s, err := docSchema(version)
	if err != nil {
		return err
	}
	err = s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("asyncapi: validate against the %s schema: %w", version, err)
	}
	addLeaves(ve, ps)
	return nil
}

// addLeaves adds the problems of a jsonschema error.
func addLeaves(ve *jsonschema.ValidationError, ps *problems) {
	for _, leaf := range leaves(ve) {
		// An unknown field is located at itself, not at the object that holds it.
		if ak, ok := leaf.ErrorKind.(*kind.AdditionalProperties); ok {
			for _, p := range ak.Properties {
				ps.add(append(slices.Clip(leaf.InstanceLocation), p), "field %q is not allowed here", p)
			}
			continue
		}
		// Patterns are Go regular expressions, which run in linear time; the ECMAScript
		// lookaround and backreferences that @asyncapi/parser accepts are refused here,
		// rather than left unchecked when events are validated.
		if f, ok := leaf.ErrorKind.(*kind.Format); ok && f.Want == "regex" {
			ps.add(leaf.InstanceLocation, "pattern %v is not supported: patterns use Go RE2 syntax, without lookaround or backreferences", f.Got)
			continue
		}
		ps.add(leaf.InstanceLocation, "%s", leaf.ErrorKind.LocalizedString(printer))
	}
}

// leaves are the errors without causes, one a place in the document, the deepest first
// where one place lies inside another: among the alternatives of a oneOf, the one that went
// furthest is the one the author most likely meant. Errors that only say a Reference Object
// was not there ("missing property $ref") are left out where another explains the place.
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	var all []*jsonschema.ValidationError
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			all = append(all, e)
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(e)
	onlyRef := func(e *jsonschema.ValidationError) bool {
		r, ok := e.ErrorKind.(*kind.Required)
		return ok && len(r.Missing) == 1 && r.Missing[0] == "$ref"
	}
	slices.SortStableFunc(all, func(a, b *jsonschema.ValidationError) int {
		if d := len(b.InstanceLocation) - len(a.InstanceLocation); d != 0 {
			return d
		}
		if onlyRef(a) != onlyRef(b) {
			if onlyRef(a) {
				return 1
			}
			return -1
		}
		return 0
	})
	var out []*jsonschema.ValidationError
	explained := map[string]bool{} // the places, and their ancestors, an error was kept for
	for _, l := range all {
		p := pointer(l.InstanceLocation)
		if explained[p] {
			continue
		}
		for i := range len(l.InstanceLocation) + 1 {
			explained[pointer(l.InstanceLocation[:i])] = true
		}
		out = append(out, l)
	}
	slices.SortStableFunc(out, func(a, b *jsonschema.ValidationError) int {
		return strings.Compare(pointer(a.InstanceLocation), pointer(b.InstanceLocation))
	})
	return out
}
