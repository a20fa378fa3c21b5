package catalog

import (
	"fmt"
	"net/url"
	"strings"
)

// maxDocDepth bounds how deeply objects and arrays of a Swagger 2.0 document nest, so that
// nothing that walks it later recurses without bound. Real descriptions stay far below.
const maxDocDepth = 128

// checkDepth refuses a decoded document nested deeper than maxDocDepth, naming where.
func checkDepth(v any) error {
	if path := tooDeep(v, 0); path != nil {
		return invalid(FieldSwagger, fmt.Sprintf("%s: the document nests deeper than %d levels", pointer(path), maxDocDepth))
	}
	return nil
}

// tooDeep is the location of a value nested deeper than maxDocDepth below v, at depth,
// or nil. Its recursion stops at maxDocDepth.
func tooDeep(v any, depth int) []string {
	var children func(yield func(string, any) bool)
	switch v := v.(type) {
	case map[string]any:
		children = func(yield func(string, any) bool) {
			for k, c := range v {
				if !yield(k, c) {
					return
				}
			}
		}
	case []any:
		children = func(yield func(string, any) bool) {
			for i, c := range v {
				if !yield(fmt.Sprint(i), c) {
					return
				}
			}
		}
	default:
		return nil
	}
	if depth >= maxDocDepth {
		return []string{}
	}
	var found []string
	children(func(k string, c any) bool {
		if p := tooDeep(c, depth+1); p != nil {
			found = append([]string{k}, p...)
			return false
		}
		return true
	})
	return found
}

// refKind is what a $ref must point to where it is written.
type refKind int

const (
	refSchema refKind = iota
	refParameter
	refResponse
	refPathItem
)

// refChecker checks every $ref of a Swagger 2.0 document: local, resolving, to the kind of
// object its place calls for, and not a loop of references to references.
type refChecker struct {
	root map[string]any
	// ends memoises where references lead through references to references; following
	// holds those being followed.
	ends      map[string]string
	following map[string]bool
}

// checkRefs checks the references of a decoded, schema-valid Swagger 2.0 document. Errors
// name the place of the reference in the document as written, the first in sorted order.
func checkRefs(root map[string]any) error {
	rc := &refChecker{root: root, ends: map[string]string{}, following: map[string]bool{}}
	defs := asObject(root["definitions"])
	for _, name := range sortedKeys(defs) {
		if err := rc.schema(defs[name], "definitions", name); err != nil {
			return err
		}
	}
	params := asObject(root["parameters"])
	for _, name := range sortedKeys(params) {
		if err := rc.parameter(params[name], "parameters", name); err != nil {
			return err
		}
	}
	responses := asObject(root["responses"])
	for _, name := range sortedKeys(responses) {
		if err := rc.response(responses[name], "responses", name); err != nil {
			return err
		}
	}
	paths := asObject(root["paths"])
	for _, path := range sortedKeys(paths) {
		if strings.HasPrefix(path, "/") {
			if err := rc.pathItem(asObject(paths[path]), "paths", path); err != nil {
				return err
			}
		}
	}
	return nil
}

func (rc *refChecker) pathItem(item map[string]any, at ...string) error {
	if _, ok := item["$ref"].(string); ok {
		if err := rc.ref(item, refPathItem, at); err != nil {
			return err
		}
	}
	for i, p := range asArray(item["parameters"]) {
		if err := rc.parameter(p, under(at, "parameters", fmt.Sprint(i))...); err != nil {
			return err
		}
	}
	for _, m := range swagger2Methods {
		op := asObject(item[m])
		for i, p := range asArray(op["parameters"]) {
			if err := rc.parameter(p, under(at, m, "parameters", fmt.Sprint(i))...); err != nil {
				return err
			}
		}
		responses := asObject(op["responses"])
		for _, code := range sortedKeys(responses) {
			if strings.HasPrefix(code, "x-") {
				continue
			}
			if err := rc.response(responses[code], under(at, m, "responses", code)...); err != nil {
				return err
			}
		}
	}
	return nil
}

func (rc *refChecker) parameter(v any, at ...string) error {
	p := asObject(v)
	if _, ok := p["$ref"].(string); ok {
		return rc.ref(p, refParameter, at)
	}
	if err := rc.schema(p["schema"], under(at, "schema")...); err != nil {
		return err
	}
	return rc.schema(p["items"], under(at, "items")...)
}

func (rc *refChecker) response(v any, at ...string) error {
	r := asObject(v)
	if _, ok := r["$ref"].(string); ok {
		return rc.ref(r, refResponse, at)
	}
	return rc.schema(r["schema"], under(at, "schema")...)
}

// schema checks a schema and those inside it. A schema that is a reference is only that:
// what else it says is ignored, by Murano as by the converter.
func (rc *refChecker) schema(v any, at ...string) error {
	s := asObject(v)
	if s == nil {
		return nil
	}
	if _, ok := s["$ref"].(string); ok {
		return rc.ref(s, refSchema, at)
	}
	for _, kw := range []string{"properties", "patternProperties", "definitions"} {
		subs := asObject(s[kw])
		for _, name := range sortedKeys(subs) {
			if err := rc.schema(subs[name], under(at, kw, name)...); err != nil {
				return err
			}
		}
	}
	for _, kw := range []string{"additionalProperties", "not", "items"} {
		if err := rc.schema(s[kw], under(at, kw)...); err != nil {
			return err
		}
	}
	for _, kw := range []string{"items", "allOf", "anyOf", "oneOf"} {
		for i, sub := range asArray(s[kw]) {
			if err := rc.schema(sub, under(at, kw, fmt.Sprint(i))...); err != nil {
				return err
			}
		}
	}
	return nil
}

// ref checks the reference of obj, written at at. A reference to a reference is made to point
// where the last one does: resolving long chains costs the converter time that grows with
// the square of their length.
func (rc *refChecker) ref(obj map[string]any, kind refKind, at []string) error {
	ref := obj["$ref"].(string)
	where := pointer(at)
	if !strings.HasPrefix(ref, "#") {
		return invalid(FieldSwagger, fmt.Sprintf("%s: $ref %q is not local: only references within the document are supported", where, ref))
	}
	var prefix, what string
	switch kind {
	case refSchema:
		prefix, what = "#/definitions/", "a definition (#/definitions/…)"
	case refParameter:
		prefix, what = "#/parameters/", "a parameter (#/parameters/…)"
	case refResponse:
		prefix, what = "#/responses/", "a response (#/responses/…)"
	case refPathItem:
		prefix, what = "#/paths/", "a path (#/paths/…)"
	}
	target, ok := rc.resolve(ref)
	if !ok {
		return invalid(FieldSwagger, fmt.Sprintf("%s: $ref %q points nowhere", where, ref))
	}
	tokens, _ := refTokens(ref)
	if !strings.HasPrefix(ref, prefix) || (kind != refSchema && kind != refPathItem && len(tokens) != 2) {
		return invalid(FieldSwagger, fmt.Sprintf("%s: $ref %q must point to %s", where, ref, what))
	}
	if _, isObject := target.(map[string]any); !isObject {
		return invalid(FieldSwagger, fmt.Sprintf("%s: $ref %q points to something that is not an object", where, ref))
	}
	end, err := rc.chain(ref)
	if err != nil {
		return invalid(FieldSwagger, fmt.Sprintf("%s: $ref %q %s", where, ref, err.Reason))
	}
	obj["$ref"] = end
	return nil
}

// chain follows a reference to references until an object that is not one, refusing loops,
// and returns the last reference.
func (rc *refChecker) chain(ref string) (string, *ValidationError) {
	if end, ok := rc.ends[ref]; ok {
		return end, nil
	}
	if rc.following[ref] {
		return "", invalid(FieldSwagger, "leads back to itself through references")
	}
	target, ok := rc.resolve(ref)
	if !ok {
		return "", invalid(FieldSwagger, fmt.Sprintf("leads to %q, which points nowhere", ref))
	}
	end := ref
	if next, isRef := asObject(target)["$ref"].(string); isRef {
		if !strings.HasPrefix(next, "#") {
			return "", invalid(FieldSwagger, fmt.Sprintf("leads to %q, which is not local", next))
		}
		rc.following[ref] = true
		var err *ValidationError
		if end, err = rc.chain(next); err != nil {
			return "", err
		}
		delete(rc.following, ref)
	}
	rc.ends[ref] = end
	return end, nil
}

// resolve is the value a local reference points to in the document.
func (rc *refChecker) resolve(ref string) (any, bool) {
	tokens, ok := refTokens(ref)
	if !ok {
		return nil, false
	}
	var v any = rc.root
	for _, t := range tokens {
		switch node := v.(type) {
		case map[string]any:
			if v, ok = node[t]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscanf(t, "%d", &i); err != nil || fmt.Sprint(i) != t || i < 0 || i >= len(node) {
				return nil, false
			}
			v = node[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// refTokens are the JSON pointer tokens of a local reference "#/a/b~1c".
func refTokens(ref string) ([]string, bool) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	if strings.Contains(frag, "%") {
		if u, err := url.PathUnescape(frag); err == nil {
			frag = u
		}
	}
	if frag == "" {
		return nil, true
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, false
	}
	tokens := strings.Split(frag[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, true
}

// under is at followed by more, in a new slice.
func under(at []string, more ...string) []string {
	return append(append(make([]string, 0, len(at)+len(more)), at...), more...)
}
