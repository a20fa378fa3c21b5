// Package strictjson finds what encoding/json lets through silently but a strict reader must
// refuse: an object holding the same key twice, where the last one quietly wins (so two
// readers of one body may disagree on what it says), and JSON built to cost far more to read
// than it weighs (deep nesting, millions of tiny values).
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Bounds on any JSON checked here. MaxDepth matches from_json's nesting limit, so data that
// comes in deeper than a script could read is refused at the door; MaxValues bounds what
// decoding a body into Go values may cost (about 200 bytes a value at worst, so ~20 MB).
const (
	MaxDepth  = 200     // arrays and objects nested in one another
	MaxValues = 100_000 // values in all (objects, arrays and scalars; keys not counted)
)

// DuplicateKeyError is an object that holds a key twice; Path locates the second one
// ("limits.timeout_ms", "items[2].name", or just the key at the top level). Same is the first
// key when the two differ in case only and fill one struct field (see CheckFor).
type DuplicateKeyError struct {
	Path string
	Same string
}

func (e *DuplicateKeyError) Error() string {
	if e.Same != "" {
		return "duplicate key " + strconv.Quote(e.Path) + " (same as " + strconv.Quote(e.Same) + " ignoring case)"
	}
	return "duplicate key " + strconv.Quote(e.Path)
}

// LimitError is JSON past MaxDepth or MaxValues. Bound names which ("depth" or "values"),
// Max its value and Offset the byte where it was passed.
type LimitError struct {
	Bound  string
	Max    int
	Offset int64
}

// The bounds a LimitError names.
const (
	BoundDepth  = "depth"
	BoundValues = "values"
)

func (e *LimitError) Error() string {
	if e.Bound == BoundDepth {
		return "JSON nests deeper than " + strconv.Itoa(e.Max) + " levels (at byte " + strconv.FormatInt(e.Offset, 10) + ")"
	}
	return "JSON holds more than " + strconv.Itoa(e.Max) + " values (at byte " + strconv.FormatInt(e.Offset, 10) + ")"
}

// CheckDuplicates reports the first key repeated exactly within one object of data, at any
// depth, as a *DuplicateKeyError, and data past MaxDepth or MaxValues as a *LimitError. Data
// that is not valid JSON is otherwise not its business: it returns nil and leaves the report
// to the decoder. Its work is linear in len(data) and stops at the first finding.
func CheckDuplicates(data []byte) error { return check(data, nil) }

// CheckFor is CheckDuplicates for data about to be decoded into v by encoding/json, which
// matches an object's keys to struct fields ignoring case, the last one winning. So within an
// object that fills a struct, two keys naming one field ({"path":"/a","PATH":"/b"}) are
// duplicates too. Objects that fill maps or interfaces keep their keys exact: there, "a" and
// "A" are two entries.
func CheckFor(data []byte, v any) error { return check(data, reflect.TypeOf(v)) }

// frame is one open object or array on the walk's stack; the path to a finding is joined
// from the frames only when it is reported. Frames are reused as the walk goes down and up.
type frame struct {
	object  bool
	wantKey bool                // object: the next token is a key
	key     string              // object: the key whose value is being read
	index   int                 // array: elements started
	keys    []string            // object: keys so far, while few
	seen    map[string]struct{} // object: keys so far, once many
	fields  *structFields       // object filling a struct: its fields; else nil
	filled  []string            // object filling a struct: the key that set each field
	elem    reflect.Type        // array or map: what its values fill; nil = free-form
	child   reflect.Type        // what the value being read fills; nil = free-form
}

// fewKeys is how many keys an object holds before they are looked up in a map rather than a
// slice: most objects are small, and a map for each would cost more than the scan.
const fewKeys = 16

// repeated records k in an object, reporting whether it was there already.
func (f *frame) repeated(k string) bool {
	if f.seen != nil {
		_, dup := f.seen[k]
		f.seen[k] = struct{}{}
		return dup
	}
	for _, s := range f.keys {
		if s == k {
			return true
		}
	}
	f.keys = append(f.keys, k)
	if len(f.keys) > fewKeys {
		f.seen = make(map[string]struct{}, 2*len(f.keys))
		for _, s := range f.keys {
			f.seen[s] = struct{}{}
		}
	}
	return false
}

func check(data []byte, target reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // no float parsing: only the shape matters
	var stack []frame
	values := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // invalid or truncated JSON: the decoder's report
		}
		var top *frame
		typ := target
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
			typ = top.child
		}
		if top != nil && top.object && top.wantKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				if done(stack) {
					return nil
				}
				continue
			}
			k, _ := tok.(string)
			top.key, top.wantKey, top.child = k, false, nil
			if top.repeated(k) {
				return &DuplicateKeyError{Path: path(stack)}
			}
			if top.fields != nil {
				if i, ok := top.fields.lookup(k); ok {
					if first := top.filled[i]; first != "" { // a key that names a field is never empty
						return &DuplicateKeyError{Path: path(stack), Same: first}
					}
					top.filled[i] = k
					top.child = top.fields.types[i]
				}
			} else {
				top.child = top.elem
			}
			continue
		}
		if tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			if done(stack) {
				return nil
			}
			continue
		}
		// A value starts: a scalar, or an object or array to open.
		if values++; values > MaxValues {
			return &LimitError{Bound: BoundValues, Max: MaxValues, Offset: dec.InputOffset()}
		}
		if top != nil && !top.object {
			top.index++
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == MaxDepth {
				return &LimitError{Bound: BoundDepth, Max: MaxDepth, Offset: dec.InputOffset()}
			}
			stack = push(stack, tok == json.Delim('{'), typ)
			continue
		}
		if done(stack) {
			return nil
		}
	}
}

// done marks the value just read as finished in its container, and reports whether it was
// the whole document.
func done(stack []frame) bool {
	if len(stack) == 0 {
		return true
	}
	if top := &stack[len(stack)-1]; top.object {
		top.wantKey = true
	}
	return false
}

// push opens an object or array that fills t (nil: free-form), reusing a frame left above
// the stack's top.
func push(stack []frame, object bool, t reflect.Type) []frame {
	if len(stack) < cap(stack) {
		stack = stack[:len(stack)+1]
	} else {
		stack = append(stack, frame{})
	}
	f := &stack[len(stack)-1]
	keys := f.keys[:0]
	*f = frame{object: object, wantKey: object, keys: keys}
	switch t = concrete(t); {
	case t == nil:
	case object && t.Kind() == reflect.Struct:
		f.fields = fieldsOf(t)
		f.filled = make([]string, len(f.fields.types))
	case object && t.Kind() == reflect.Map, !object && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		f.elem = t.Elem()
		if !object {
			f.child = f.elem
		}
	}
	return stack
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// concrete is what encoding/json fills for t: pointers followed, and nil for a type that
// decodes itself (json.RawMessage and the like), whose keys this package treats as free-form.
func concrete(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) ||
			reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return nil
		}
		if t.Kind() != reflect.Pointer {
			return t
		}
		t = t.Elem()
	}
	return nil
}

// path joins the stack into "a.b[2].c".
func path(stack []frame) string {
	var b strings.Builder
	for _, f := range stack {
		if f.object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			b.WriteString("[" + strconv.Itoa(f.index-1) + "]")
		}
	}
	return b.String()
}

// structFields are a struct's JSON fields as encoding/json matches them: a key's exact name
// first, else its case-folded name.
type structFields struct {
	exact, folded map[string]int
	types         []reflect.Type
}

func (s *structFields) lookup(key string) (int, bool) {
	if i, ok := s.exact[key]; ok {
		return i, true
	}
	i, ok := s.folded[fold(key)]
	return i, ok
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	s := &structFields{exact: map[string]int{}, folded: map[string]int{}}
	addFields(s, t, 0)
	fieldCache.Store(t, s)
	return s
}

// addFields adds t's fields, and those of structs embedded without a JSON name. A name met
// twice keeps the first (outer fields come first); encoding/json's finer rules for clashing
// embedded names do not matter for the bodies checked here.
func addFields(s *structFields, t reflect.Type, depth int) {
	if depth > 8 { // embedding cycles through pointers
		return
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			if et := sf.Type; et.Kind() == reflect.Struct || (et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct) {
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				addFields(s, et, depth+1)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, ok := s.exact[name]; ok {
			continue
		}
		s.exact[name] = len(s.types)
		if _, ok := s.folded[fold(name)]; !ok {
			s.folded[fold(name)] = len(s.types)
		}
		s.types = append(s.types, sf.Type)
	}
}

// fold is encoding/json's case folding of a key: ASCII upper-cased, and every other rune the
// smallest of its Unicode fold set (so the Kelvin sign folds with "k", as the decoder does).
func fold(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, foldRune(r))
		i += n
	}
	return string(b)
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
