package dynamic

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// normalize adapts a script's value to schema s: an empty table, which scripts cannot tell
// from an empty list, becomes an empty list where s wants an array, in v or anywhere in it.
// v itself is never modified.
func normalize(s *openapi3.SchemaRef, v any) any {
	out, _ := normalized(s, v, 0)
	return out
}

// normalized is normalize, reporting whether anything changed.
func normalized(s *openapi3.SchemaRef, v any, depth int) (any, bool) {
	if s == nil || s.Value == nil || depth > 64 {
		return v, false
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 && s.Value.Type.Is(openapi3.TypeArray) {
			return []any{}, true
		}
		var out map[string]any
		for k, e := range x {
			ps := s.Value.Properties[k]
			if ps == nil && s.Value.AdditionalProperties.Schema != nil {
				ps = s.Value.AdditionalProperties.Schema
			}
			n, changed := normalized(ps, e, depth+1)
			if !changed {
				continue
			}
			if out == nil {
				out = make(map[string]any, len(x))
				for k2, e2 := range x {
					out[k2] = e2
				}
			}
			out[k] = n
		}
		if out != nil {
			return out, true
		}
	case []any:
		var out []any
		for i, e := range x {
			n, changed := normalized(s.Value.Items, e, depth+1)
			if !changed {
				continue
			}
			if out == nil {
				out = append([]any(nil), x...)
			}
			out[i] = n
		}
		if out != nil {
			return out, true
		}
	}
	return v, false
}

// scalar is v as the text of one query, path or header value: strings as they are, numbers
// without exponent where they are whole, other values as JSON.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32:
		return fmt.Sprint(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// joined is v as one path, header or cookie value: a list's items comma-separated (OpenAPI's
// simple style), anything else as scalar.
func joined(v any) string {
	list, ok := v.([]any)
	if !ok {
		return scalar(v)
	}
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = scalar(e)
	}
	return strings.Join(parts, ",")
}

// kind names the type of a script value in error messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any, []any:
		return "a table"
	}
	return "a number"
}

// invalid is the 400 of a value of argument name failing its schema; for a body, name is ""
// and the argument is the first step of the error's path.
func (c *call) invalid(name string, err error) error {
	reason := err.Error()
	var path []string
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		if se.Reason != "" {
			reason = se.Reason
		}
		path = se.JSONPointer()
	}
	if i := strings.IndexByte(reason, '\n'); i >= 0 {
		reason = reason[:i]
	}
	if name == "" && len(path) > 0 {
		name, path = path[0], path[1:]
	}
	if len(path) > 0 {
		name += "/" + strings.Join(path, "/")
	}
	if name == "" {
		return c.errorf(400, "invalid arguments: %s", reason)
	}
	return c.errorf(400, "invalid argument %q: %s", name, reason)
}
