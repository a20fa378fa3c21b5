package keystore

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/switchboardhq/switchboard/internal/service"
)

// Arguments arrive as the script's table converted to Go: map[string]any, []any, string,
// float64, bool or nil. These helpers check them and name the argument in every error.

// table returns the named fields of args; nil and an empty table count as no fields.
func table(op string, args any) (map[string]any, error) {
	switch v := args.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return v, nil
	case []any:
		if len(v) == 0 {
			return map[string]any{}, nil
		}
	}
	return nil, service.Errorf(statusBadRequest, "keystore.%s: arguments: must be a table of named fields, got %s", op, kind(args))
}

// kind names a converted Lua value's type for error messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "string"
	case float64, int, int64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any, []any:
		return "table"
	}
	return "unsupported value"
}

// scalar is the text of a string or number argument, as Lua's tostring would give it.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return formatNumber(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// formatNumber writes integral numbers without a fraction ("42", not "42.0" or "4.2e+01") and
// others in the shortest form that reads back to the same float64.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == math.Trunc(f) && math.Abs(f) < 1<<63:
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// keyArg reads a key: a string (or number, taken as its text) of 1 to MaxKeyBytes bytes.
func keyArg(op string, t map[string]any, name string) (string, error) {
	v, ok := t[name]
	if !ok || v == nil {
		return "", argErr(op, name, "required string")
	}
	return checkKey(op, name, v)
}

func checkKey(op, name string, v any) (string, error) {
	k, ok := scalar(v)
	if !ok {
		return "", argErr(op, name, "must be a string, got %s", kind(v))
	}
	if len(k) == 0 || len(k) > MaxKeyBytes {
		return "", argErr(op, name, "must be 1 to %d bytes long, got %d", MaxKeyBytes, len(k))
	}
	return k, nil
}

// valueText is the string a value is stored as: strings as they are, numbers as their text,
// booleans as "true"/"false", tables as JSON.
func valueText(op, name string, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", argErr(op, name, "required")
	case bool:
		return strconv.FormatBool(x), nil
	case map[string]any, []any:
		j, err := json.Marshal(x)
		if err != nil {
			return "", argErr(op, name, "table cannot be stored as JSON: %v", err)
		}
		return string(j), nil
	}
	if s, ok := scalar(v); ok {
		return s, nil
	}
	return "", argErr(op, name, "unsupported value of Go type %T", v)
}

// optString reads an optional string argument; absent or nil gives "", false.
func optString(op string, t map[string]any, name string) (string, bool, error) {
	v, ok := t[name]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := scalar(v)
	if !ok {
		return "", false, argErr(op, name, "must be a string, got %s", kind(v))
	}
	return s, true, nil
}

// optInt reads an optional integral number argument.
func optInt(op string, t map[string]any, name string) (int64, bool, error) {
	v, ok := t[name]
	if !ok || v == nil {
		return 0, false, nil
	}
	s, ok := scalar(v)
	if !ok {
		return 0, false, argErr(op, name, "must be an integer, got %s", kind(v))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, argErr(op, name, "must be an integer, got %q", s)
	}
	return n, true, nil
}

// list reads an optional list argument: absent, nil and {} give an empty list.
func list(op string, t map[string]any, name string) ([]any, error) {
	switch v := t[name].(type) {
	case nil:
		return nil, nil
	case []any:
		return v, nil
	case map[string]any:
		if len(v) == 0 {
			return nil, nil
		}
	}
	return nil, argErr(op, name, "must be a list, got %s", kind(t[name]))
}

// keyList reads a required list of keys, 1 to MaxBatch long (an empty list is allowed and
// gives no keys).
func keyList(op string, t map[string]any, name string) ([]string, error) {
	if v, ok := t[name]; !ok || v == nil {
		return nil, argErr(op, name, "required list of keys")
	}
	items, err := list(op, t, name)
	if err != nil {
		return nil, err
	}
	if len(items) > MaxBatch {
		return nil, argErr(op, name, "at most %d keys per call, got %d", MaxBatch, len(items))
	}
	keys := make([]string, len(items))
	for i, it := range items {
		if keys[i], err = checkKey(op, name+"["+strconv.Itoa(i+1)+"]", it); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// parseInt parses a Redis integer argument or value.
func parseInt(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 20 || s[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseFloat parses a Redis float argument or value; NaN is never a valid float.
func parseFloat(s string) (float64, bool) {
	if len(s) == 0 || s[0] == ' ' || s[len(s)-1] == ' ' {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}
