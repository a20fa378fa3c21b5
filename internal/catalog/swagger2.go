package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// loadV2 reads a Swagger 2.0 document as Swagger 2.0: Murano's short extension names made
// canonical, then validated against the Swagger 2.0 schema with Murano's additions, its
// references checked, and only then converted to OpenAPI 3 for internal use. The converted
// document is not held to OpenAPI 3.0's rules, which refuse valid Swagger 2.0 (draft-4 type
// lists, arrays without items, examples that do not match their schema).
func loadV2(ctx context.Context, js []byte) (*openapi2.T, *openapi3.T, error) {
	generic, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, nil, invalidDoc("invalid document", err)
	}
	if err := checkDepth(generic); err != nil {
		return nil, nil, err
	}
	root, ok := generic.(map[string]any)
	if !ok {
		return nil, nil, invalid(FieldSwagger, "document must be an object")
	}
	normaliseAliases(root)
	if err := validateSwagger2(root); err != nil {
		return nil, nil, err
	}
	if err := checkRefs(root); err != nil {
		return nil, nil, err
	}
	if js, err = json.Marshal(root); err != nil {
		return nil, nil, invalidDoc("invalid document", err)
	}
	var v2 openapi2.T
	if err := json.Unmarshal(js, &v2); err != nil {
		return nil, nil, invalidDoc("invalid document", err)
	}
	if v2.Host == "" {
		return nil, nil, invalid(FieldSwagger, "host is required")
	}
	if err := checkV2Nulls(&v2); err != nil {
		return nil, nil, err
	}
	if len(v2.Schemes) == 0 {
		// Swagger 2.0's default is the scheme the document was fetched with; a registered
		// document has none, so plain http, which the converter would otherwise make https.
		v2.Schemes = []string{"http"}
	}
	declarePathParams(&v2)
	// The converter knows only Swagger 2.0's security types, not Murano's; the schemes are
	// read from v2 itself.
	loader := openapi3.NewLoader()
	loader.Context = ctx
	v3, err := openapi2conv.ToV3WithLoader(withoutSecurity(&v2), loader, nil)
	if err != nil {
		return nil, nil, invalidDoc("cannot convert Swagger 2.0 to OpenAPI 3", err)
	}
	if v3.Paths == nil {
		// `paths: {}` is valid Swagger 2.0 (a service with no operations yet).
		v3.Paths = openapi3.NewPaths()
	}
	nullableTypes(v3)
	return &v2, v3, nil
}

// pathTemplateParam matches a parameter named in a path template, "{id}".
var pathTemplateParam = regexp.MustCompile(`\{([^{}/]+)\}`)

// declarePathParams adds, to every operation, the parameters its path template names that
// neither it nor its path declares, as required string path parameters, as Murano did.
func declarePathParams(v2 *openapi2.T) {
	for p, item := range v2.Paths {
		names := pathTemplateParam.FindAllStringSubmatch(p, -1)
		if len(names) == 0 || item == nil {
			continue
		}
		for _, op := range item.Operations() {
			if op == nil {
				continue
			}
			for _, n := range names {
				name := n[1]
				if declaresPathParam(v2, item.Parameters, name) || declaresPathParam(v2, op.Parameters, name) {
					continue
				}
				op.Parameters = append(op.Parameters, &openapi2.Parameter{
					Name: name, In: "path", Required: true, Type: &openapi3.Types{openapi3.TypeString},
				})
			}
		}
	}
}

func declaresPathParam(v2 *openapi2.T, params openapi2.Parameters, name string) bool {
	for _, p := range params {
		if p == nil {
			continue
		}
		if p.Ref != "" {
			if tokens, ok := refTokens(p.Ref); ok && len(tokens) == 2 {
				p = v2.Parameters[tokens[1]]
			}
		}
		if p != nil && p.In == "path" && p.Name == name {
			return true
		}
	}
	return false
}

// nullableTypes turns "null" in a draft-4 list of types into OpenAPI 3.0's nullable, which is
// what validating call arguments against the converted schemas understands.
func nullableTypes(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var visit func(ref *openapi3.SchemaRef)
	visit = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if s.Type != nil && slices.Contains(*s.Type, openapi3.TypeNull) {
			types := slices.DeleteFunc(slices.Clone(*s.Type), func(t string) bool { return t == openapi3.TypeNull })
			s.Nullable = true
			s.Type = nil
			if len(types) > 0 {
				t := openapi3.Types(types)
				s.Type = &t
			}
		}
		for _, p := range s.Properties {
			visit(p)
		}
		visit(s.Items)
		visit(s.Not)
		if s.AdditionalProperties.Schema != nil {
			visit(s.AdditionalProperties.Schema)
		}
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, sub := range list {
				visit(sub)
			}
		}
	}
	if doc.Components != nil {
		for _, s := range doc.Components.Schemas {
			visit(s)
		}
		for _, p := range doc.Components.Parameters {
			if p != nil && p.Value != nil {
				visit(p.Value.Schema)
			}
		}
		for _, b := range doc.Components.RequestBodies {
			if b != nil && b.Value != nil {
				for _, mt := range b.Value.Content {
					if mt != nil {
						visit(mt.Schema)
					}
				}
			}
		}
	}
	for _, item := range doc.Paths.Map() {
		if item == nil {
			continue
		}
		params := slices.Clone(item.Parameters)
		for _, op := range item.Operations() {
			if op == nil {
				continue
			}
			params = append(params, op.Parameters...)
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					if mt != nil {
						visit(mt.Schema)
					}
				}
			}
		}
		for _, p := range params {
			if p != nil && p.Value != nil {
				visit(p.Value.Schema)
			}
		}
	}
}

// checkV2Nulls refuses the null entries of a Swagger 2.0 document the converter to OpenAPI 3
// cannot take: path items, parameters, responses and definitions.
func checkV2Nulls(v2 *openapi2.T) error {
	null := func(what string) error { return invalid(FieldSwagger, what+" must be an object") }
	for _, name := range sortedKeys(v2.Parameters) {
		if v2.Parameters[name] == nil {
			return null("parameter " + name)
		}
	}
	for _, name := range sortedKeys(v2.Responses) {
		if v2.Responses[name] == nil {
			return null("response " + name)
		}
	}
	for _, name := range sortedKeys(v2.Definitions) {
		if v2.Definitions[name] == nil {
			return null("definition " + name)
		}
	}
	for _, name := range sortedKeys(v2.SecurityDefinitions) {
		if v2.SecurityDefinitions[name] == nil {
			return null("security definition " + name)
		}
	}
	for _, p := range sortedKeys(v2.Paths) {
		item := v2.Paths[p]
		if item == nil {
			return null("path " + p)
		}
		for i, param := range item.Parameters {
			if param == nil {
				return null(fmt.Sprintf("path %s: parameter %d", p, i))
			}
		}
		ops := item.Operations()
		for _, m := range sortedKeys(ops) {
			op := ops[m]
			for i, param := range op.Parameters {
				if param == nil {
					return null(fmt.Sprintf("operation %s %s: parameter %d", m, p, i))
				}
			}
			if op.Responses != nil {
				for code, r := range op.Responses.Map() {
					if r == nil {
						return null(fmt.Sprintf("operation %s %s: response %s", m, p, code))
					}
				}
			}
		}
	}
	return nil
}

// sortedKeys returns the keys of m in order, for errors that do not change from run to run.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
