package catalog

import (
	"fmt"
	"sort"

	"github.com/getkin/kin-openapi/openapi2"
)

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
