package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// A connector's config in a deploy file is a JSON object. It is read member by member, with
// the place of each string value, so that a problem (a key given twice, a ${NAME} that is not
// set) is reported at its file line, and ${NAME} is replaced inside the string it sits in.

// jsonObject is an object with its members in the order written.
type jsonObject []jsonMember

type jsonMember struct {
	key string
	val any // jsonObject, []any, jsonString, json.Number, bool or nil
}

// jsonString is a string value and its offset in the config's text.
type jsonString struct {
	s   string
	off int64
}

// configError is a problem at an offset of a config's text.
type configError struct {
	off int64
	msg string
}

func (e *configError) Error() string { return e.msg }

// lineIndex is the index of the line of text that holds offset off.
func lineIndex(text string, off int64) int {
	off = min(max(off, 0), int64(len(text)))
	return strings.Count(text[:off], "\n")
}

// envField is a top-level field of a config whose string takes ${NAME} from the environment,
// and its offset in the config's text.
type envField struct {
	key string
	off int64
}

// parseConfigText reads a connector's config as written: nothing (the config {}) or a JSON
// object, each object's keys once, and each "${" in a string value a well-formed ${NAME} (or
// "$${", a literal "${"). It returns the object and its fields that take ${NAME}: only
// top-level ones may, as only those can be secrets of the type, never shown back.
func parseConfigText(text string) (jsonObject, []envField, error) {
	if strings.TrimSpace(text) == "" {
		return jsonObject{}, nil, nil
	}
	// Unmarshal first: its syntax errors carry their offset, and its nesting bound keeps the
	// walk below shallow.
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			return nil, nil, &configError{msg: "not JSON: " + err.Error()}
		}
		msg := "not JSON: " + se.Error()
		if strings.Contains(msg, "after top-level value") {
			msg += ` (the config is the "--" lines right below the annotation, up to the first blank line: leave one between it and a comment)`
		} else if strings.Contains(msg, "unexpected end of JSON input") {
			msg += " (the config ends at the first blank line)"
		}
		return nil, nil, &configError{off: se.Offset - 1, msg: msg}
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, nil, &configError{msg: `the config must be a JSON object, such as {"schedule": "@every 1m"}`}
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	val, err := readJSON(dec, "config")
	if err != nil {
		return nil, nil, err
	}
	obj := val.(jsonObject)
	var fields []envField
	for _, m := range obj {
		if s, ok := m.val.(jsonString); ok {
			refs, err := envRefs(s, "config."+m.key)
			if err != nil {
				return nil, nil, err
			}
			if refs {
				fields = append(fields, envField{m.key, s.off})
			}
			continue
		}
		if err := noEnvRefs(m.val, "config."+m.key); err != nil {
			return nil, nil, err
		}
	}
	return obj, fields, nil
}

// envRefs reports whether s takes a ${NAME} from the environment, or why its "${" is
// malformed.
func envRefs(s jsonString, path string) (bool, error) {
	refs := false
	_, err := expandEnv(s.s, func(string) (string, bool) { refs = true; return "", true })
	if err != nil {
		return false, &configError{off: s.off, msg: path + ": " + err.Error()}
	}
	return refs, nil
}

// noEnvRefs refuses a ${NAME} in v, a value below the config's top level.
func noEnvRefs(v any, path string) error {
	switch v := v.(type) {
	case jsonObject:
		for _, m := range v {
			if err := noEnvRefs(m.val, path+"."+m.key); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := noEnvRefs(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case jsonString:
		refs, err := envRefs(v, path)
		if err == nil && refs {
			err = &configError{off: v.off, msg: path + ": " + secretFieldsOnly}
		}
		return err
	}
	return nil
}

// secretFieldsOnly says where ${NAME} may be, and why.
const secretFieldsOnly = "${NAME} is taken from the environment only in a top-level secret field of the connector's type " +
	"(\"connector types TYPE\" lists them): the server never shows a secret back, where another field would show what " +
	"the environment holds to whoever reads the solution's connectors"

// readJSON reads the next value of dec (valid JSON), refusing an object's key given twice.
func readJSON(dec *json.Decoder, path string) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, &configError{off: dec.InputOffset(), msg: "not JSON: " + err.Error()}
	}
	switch t := tok.(type) {
	case json.Delim:
		var out any
		switch t {
		case '{':
			obj := jsonObject{}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, &configError{off: dec.InputOffset(), msg: "not JSON: " + err.Error()}
				}
				key, _ := kt.(string)
				if seen[key] {
					return nil, &configError{off: dec.InputOffset() - 1, msg: fmt.Sprintf("%s: key %q is given twice", path, key)}
				}
				seen[key] = true
				v, err := readJSON(dec, path+"."+key)
				if err != nil {
					return nil, err
				}
				obj = append(obj, jsonMember{key, v})
			}
			out = obj
		case '[':
			arr := []any{}
			for i := 0; dec.More(); i++ {
				v, err := readJSON(dec, fmt.Sprintf("%s[%d]", path, i))
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			out = arr
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, &configError{off: dec.InputOffset(), msg: "not JSON: " + err.Error()}
		}
		return out, nil
	case string:
		return jsonString{t, dec.InputOffset() - 1}, nil
	}
	return tok, nil
}

// encodeConfig writes obj as compact JSON, with ${NAME} in its string values replaced by
// lookup(NAME); a NAME lookup does not give is a *configError at its string.
func encodeConfig(obj jsonObject, lookup func(string) (string, bool)) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, obj, "config", lookup); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, v any, path string, lookup func(string) (string, bool)) error {
	switch v := v.(type) {
	case jsonObject:
		b.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, m.key)
			b.WriteByte(':')
			if err := writeJSON(b, m.val, path+"."+m.key, lookup); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, e, fmt.Sprintf("%s[%d]", path, i), lookup); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case jsonString:
		s, err := expandEnv(v.s, lookup)
		if err != nil {
			return &configError{off: v.off, msg: path + ": " + err.Error()}
		}
		writeString(b, s)
	case json.Number:
		b.WriteString(string(v))
	case bool:
		fmt.Fprint(b, v)
	case nil:
		b.WriteString("null")
	default:
		return fmt.Errorf("%s: unexpected JSON value %T", path, v)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	// A string always encodes; Encode ends it with a newline, cut off here.
	enc.Encode(s) //nolint:errcheck
	b.Truncate(b.Len() - 1)
}

// envNamePattern is what NAME in ${NAME} must match.
var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// unsetEnvError is a ${NAME} whose variable is not set.
type unsetEnvError struct{ name string }

func (e *unsetEnvError) Error() string {
	return fmt.Sprintf("${%s}: the environment variable %s is not set (or is empty)", e.name, e.name)
}

// expandEnv replaces each ${NAME} of s by lookup(NAME); "$${" is a literal "${". A "${"
// without its "}", or with a NAME other than letters, digits and "_", is an error, as is a
// NAME lookup does not give (an *unsetEnvError).
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("%s has no closing }: want ${NAME} (write $${ for a literal ${)", shorten(s[i:]))
		}
		name := s[i+2 : i+2+end]
		if !envNamePattern.MatchString(name) {
			return "", fmt.Errorf("%s: want ${NAME}, NAME letters, digits and _, not starting with a digit (write $${ for a literal ${)", shorten(s[i:i+3+end]))
		}
		val, ok := lookup(name)
		if !ok {
			return "", &unsetEnvError{name}
		}
		b.WriteString(val)
		s = s[i+3+end:]
	}
}

// shorten is s quoted, cut to a length fit for a message.
func shorten(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// resolveConfigs sets the Config of each connector of items: its ConfigText with ${NAME} taken
// from getenv (a variable set to "" counts as not set). It returns the items whose config is
// resolved, and the problems of the others at their file line.
func resolveConfigs(items []item, getenv func(string) (string, bool)) ([]item, error) {
	lookup := func(name string) (string, bool) {
		v, ok := getenv(name)
		return v, ok && v != ""
	}
	var errs []error
	out := items[:0:0]
	for _, it := range items {
		if it.Kind != kindConnector {
			out = append(out, it)
			continue
		}
		obj, _, err := parseConfigText(it.ConfigText)
		if err == nil {
			it.Config, err = encodeConfig(obj, lookup)
		}
		if err != nil {
			errs = append(errs, configSourceError(it, err))
			continue
		}
		out = append(out, it)
	}
	return out, errors.Join(errs...)
}

// configSourceError places a problem of its config at its file line.
func configSourceError(it item, err error) error {
	line := it.ConfigLine
	var ce *configError
	if errors.As(err, &ce) {
		line += lineIndex(it.ConfigText, ce.off)
	}
	return &sourceError{File: it.File, Line: line, Msg: it.label() + ": " + err.Error()}
}

// jsonEqual reports whether a and b are the same JSON value: objects equal whatever the order
// of their members, numbers equal by value (1.0 is 1).
func jsonEqual(a, b json.RawMessage) bool {
	va, errA := decodeNumbers(a)
	vb, errB := decodeNumbers(b)
	return errA == nil && errB == nil && sameJSON(va, vb)
}

func decodeNumbers(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !sameJSON(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == b {
			return true
		}
		// big.Float keeps a huge exponent in its own field: no huge allocation.
		fa, _, errA := big.ParseFloat(string(a), 10, 256, big.ToNearestEven)
		fb, _, errB := big.ParseFloat(string(b), 10, 256, big.ToNearestEven)
		return errA == nil && errB == nil && fa.Cmp(fb) == 0
	default:
		return a == b // string, bool or nil
	}
}
