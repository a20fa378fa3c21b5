package asyncapi

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxRefChain bounds a chain of references to references.
const maxRefChain = 32

// document is a decoded document and what following its references may still cost.
type document struct {
	root   map[string]any
	budget int // values payload schemas may still expand to, see MaxValues
}

// refOf is the $ref of a Reference Object, if v is one.
func refOf(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	r, ok := m["$ref"].(string)
	return r, ok
}

// refPath is the path a local reference ("#/components/messages/a") names. Only references
// into the document are followed: the parser reads no file and opens no connection.
func refPath(ref string) ([]string, error) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local to the document (external references are not followed)", ref)
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, fmt.Errorf("$ref %q is not a valid JSON pointer: %v", ref, err)
	}
	if frag == "" {
		return nil, nil
	}
	if frag[0] != '/' {
		return nil, fmt.Errorf("$ref %q is not a JSON pointer", ref)
	}
	toks := strings.Split(frag[1:], "/")
	for i, t := range toks {
		toks[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return toks, nil
}

// lookup is the value at path in the document.
func (d *document) lookup(path []string) (any, bool) {
	var v any = d.root
	for _, t := range path {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[t]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// resolve follows v, if it is a Reference Object, through any chain of references to what
// they name, and gives that with its path in the document (at, when v is no reference).
func (d *document) resolve(v any, at []string) (any, []string, error) {
	var seen []string
	for {
		ref, ok := refOf(v)
		if !ok {
			return v, at, nil
		}
		if slices.Contains(seen, ref) {
			return nil, nil, fmt.Errorf("$ref %q: reference cycle (%s)", ref, strings.Join(append(seen, ref), " → "))
		}
		if len(seen) == maxRefChain {
			return nil, nil, fmt.Errorf("$ref %q: more than %d references in a chain", ref, maxRefChain)
		}
		seen = append(seen, ref)
		path, err := refPath(ref)
		if err != nil {
			return nil, nil, err
		}
		if v, ok = d.lookup(path); !ok {
			return nil, nil, fmt.Errorf("$ref %q names nothing in the document", ref)
		}
		at = path
	}
}

// inlineSchema is a JSON Schema with every local reference replaced by what it names, so
// that it stands alone. A schema that refers to itself, directly or not (a tree, a linked
// list), cannot be written out in full: each such schema goes under "definitions" of the
// result once, and the references to it point there.
func (d *document) inlineSchema(v any) (any, error) {
	in := inliner{d: d, recursive: map[string]bool{}}
	out, err := in.copy(v, nil)
	if err != nil {
		return nil, err
	}
	if len(in.recursive) == 0 {
		return out, nil
	}
	defs := map[string]any{}
	// Writing out one recursive schema may find another; go on until none is new.
	for len(defs) < len(in.recursive) {
		for key := range in.recursive {
			if _, done := defs[key]; done {
				continue
			}
			path, _ := refPath("#/" + key)
			target, _ := d.lookup(path)
			def, err := in.copy(target, []string{key})
			if err != nil {
				return nil, err
			}
			defs[key] = def
		}
	}
	if m, ok := out.(map[string]any); ok {
		if _, taken := m["definitions"]; !taken {
			m["definitions"] = defs
			return m, nil
		}
	}
	return map[string]any{"allOf": []any{out}, "definitions": defs}, nil
}

type inliner struct {
	d         *document
	recursive map[string]bool // pointers (without "#/") of schemas that refer to themselves
}

// copy copies v, writing out references; stack holds the pointers being written out.
func (in *inliner) copy(v any, stack []string) (any, error) {
	if len(stack) > MaxDepth {
		return nil, fmt.Errorf("%w: references nest more than %d deep", ErrLimit, MaxDepth)
	}
	if in.d.budget--; in.d.budget < 0 {
		return nil, fmt.Errorf("%w: payload schemas expand to more than %d values", ErrLimit, MaxValues)
	}
	switch c := v.(type) {
	case map[string]any:
		if ref, ok := c["$ref"].(string); ok {
			path, err := refPath(ref)
			if err != nil {
				return nil, err
			}
			key := pointer(path)[min(1, len(path)):]
			if slices.Contains(stack, key) {
				in.recursive[key] = true
				return map[string]any{"$ref": "#/definitions/" + strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")}, nil
			}
			target, ok := in.d.lookup(path)
			if !ok {
				return nil, fmt.Errorf("$ref %q names nothing in the document", ref)
			}
			// Beside $ref, a Reference Object's other fields are ignored, as in draft-07.
			return in.copy(target, append(stack, key))
		}
		out := make(map[string]any, len(c))
		for k, e := range c {
			ce, err := in.copy(e, stack)
			if err != nil {
				return nil, err
			}
			out[k] = ce
		}
		return out, nil
	case []any:
		out := make([]any, len(c))
		for i, e := range c {
			ce, err := in.copy(e, stack)
			if err != nil {
				return nil, err
			}
			out[i] = ce
		}
		return out, nil
	}
	return v, nil
}
