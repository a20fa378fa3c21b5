package script

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// to_json(v) → string, or nil and a message. Tables follow the conversion rules: keys exactly
// 1..n make an array, anything else an object (keys sorted; an empty table is {}). Functions,
// userdata, threads, NaN and infinities cannot be encoded; neither can a cycle.
func (st *state) toJSON(L *lua.LState) int {
	enc := jsonEncoder{}
	enc.b.init(&st.rd, L)
	defer enc.b.release()
	if err := enc.value(L.CheckAny(1), 0); err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString("to_json: " + err.Error()))
		return 2
	}
	L.Push(lua.LString(enc.b.string()))
	return 1
}

type jsonEncoder struct {
	b    budgetBuf
	path map[*lua.LTable]struct{}
}

func (e *jsonEncoder) value(v lua.LValue, depth int) error {
	switch x := v.(type) {
	case *lua.LNilType:
		e.b.writeString("null")
	case lua.LBool:
		if x {
			e.b.writeString("true")
		} else {
			e.b.writeString("false")
		}
	case lua.LNumber:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("cannot encode %v", numberString(f))
		}
		// Formatted in place: a string per number would be garbage the budget does not see.
		e.b.reserve(maxNumberLen)
		if f == float64(int64(f)) {
			e.b.buf = strconv.AppendInt(e.b.buf, int64(f), 10)
		} else {
			e.b.buf = strconv.AppendFloat(e.b.buf, f, 'g', -1, 64)
		}
	case lua.LString:
		e.quote(string(x))
	case *lua.LTable:
		return e.table(x, depth)
	default:
		return fmt.Errorf("cannot encode a %s", v.Type().String())
	}
	return nil
}

func (e *jsonEncoder) table(tb *lua.LTable, depth int) error {
	if _, on := e.path[tb]; on {
		return errCycle
	}
	if depth >= maxNesting {
		return errNesting
	}
	if tb.Metatable == e.b.r.st.lazyMeta {
		e.b.r.makeFields(e.b.L, tb)
	}
	if e.path == nil {
		e.path = map[*lua.LTable]struct{}{}
	}
	e.path[tb] = struct{}{}
	defer delete(e.path, tb)
	if n := sequenceLen(tb); n > 0 {
		e.b.writeByte('[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				e.b.writeByte(',')
			}
			if err := e.value(tb.RawGetInt(i), depth+1); err != nil {
				return err
			}
		}
		e.b.writeByte(']')
		return nil
	}
	type entry struct {
		k string
		v lua.LValue
	}
	// The entries are sorted in a slice of their own, admitted first; number keys become
	// strings (short ones, within the entry's share).
	n := 0
	eachEntry(tb, func(lua.LValue, lua.LValue) bool { n++; return true })
	e.b.r.hold(e.b.L, int64(n)*entryBytes)
	defer e.b.r.release(int64(n) * entryBytes)
	entries := make([]entry, 0, n)
	eachEntry(tb, func(k, v lua.LValue) bool {
		entries = append(entries, entry{keyString(k), v})
		return true
	})
	sort.Slice(entries, func(i, j int) bool { return entries[i].k < entries[j].k })
	e.b.writeByte('{')
	for i, en := range entries {
		if i > 0 {
			e.b.writeByte(',')
		}
		e.quote(en.k)
		e.b.writeByte(':')
		if err := e.value(en.v, depth+1); err != nil {
			return err
		}
	}
	e.b.writeByte('}')
	return nil
}

// maxNumberLen bounds the length of a number as numberString writes it ("-1.2345678901234567e-308").
const maxNumberLen = 32

// entryBytes is what sorting one object entry holds: its key, value and a short number key.
const entryBytes = 2*slotBytes + 32

// quote writes s as a JSON string; bytes that are not UTF-8 become U+FFFD, as in
// encoding/json. Runs without escapes are copied whole; each escape admits its own bytes.
func (e *jsonEncoder) quote(s string) {
	b := &e.b
	b.reserve(len(s) + 2)
	b.writeByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b.writeString(s[start:i])
			switch c {
			case '"', '\\':
				b.writeByte('\\')
				b.writeByte(c)
			case '\n':
				b.writeString(`\n`)
			case '\r':
				b.writeString(`\r`)
			case '\t':
				b.writeString(`\t`)
			default:
				b.writeString(`\u00`)
				b.writeByte("0123456789abcdef"[c>>4])
				b.writeByte("0123456789abcdef"[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.writeString(s[start:i])
			b.writeString(`\ufffd`)
			i++
			start = i
			continue
		}
		i += size
	}
	b.writeString(s[start:])
	b.writeByte('"')
}

// from_json(s) → value, or nil and a message. null is nil (so [1,null,3] has a hole at 2);
// numbers are Lua numbers; objects and arrays are tables. What it builds is charged to the run
// before it is allocated, so a document too large for the run's memory fails it early.
func (st *state) fromJSON(L *lua.LState) int {
	v, err := decodeJSON(L, &st.rd, L.CheckString(1))
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString("from_json: " + err.Error()))
		return 2
	}
	L.Push(v)
	return 1
}

// decodeJSON decodes src into Lua values, charging each to r before it is made. A syntax error
// is returned; reaching a limit ends the run (it raises).
func decodeJSON(L *lua.LState, r *run, src string) (lua.LValue, error) {
	d := jsonDecoder{src: src, L: L, r: r}
	v, err := d.parse()
	if err != nil {
		r.release(d.held)
		return lua.LNil, err
	}
	// The value keeps what was built for it; the work stacks become garbage.
	r.settle(d.held, d.held-d.scratch)
	return v, nil
}

type jsonDecoder struct {
	src     string
	pos     int
	L       *lua.LState
	r       *run
	held    int64        // bytes held for what the decoder allocated
	scratch int64        // the part of held that is the work stacks' (every buffer they had)
	stack   []lua.LValue // values of the arrays and objects being read
	keys    []string
}

type jsonError struct {
	msg string
	pos int
}

func (e *jsonError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.pos) }

func (d *jsonDecoder) fail(msg string) error { return &jsonError{msg, d.pos} }

// spend admits n bytes the decoder is about to allocate (it raises when they do not fit).
func (d *jsonDecoder) spend(n int64) {
	d.r.hold(d.L, n)
	d.held += n
}

func (d *jsonDecoder) push(v lua.LValue) {
	if len(d.stack) == cap(d.stack) {
		d.stack = growScratch(d, d.stack, slotBytes)
	}
	d.stack = append(d.stack, v)
}

func (d *jsonDecoder) pushKey(k string) {
	if len(d.keys) == cap(d.keys) {
		d.keys = growScratch(d, d.keys, stringBytes)
	}
	d.keys = append(d.keys, k)
}

// growScratch doubles a work stack, admitting the new buffer first. Old buffers stay counted
// until the decoding ends: they are garbage the collector has not seen yet.
func growScratch[T any](d *jsonDecoder, s []T, size int64) []T {
	n := max(2*cap(s), 64)
	d.spend(int64(n) * size)
	d.scratch += int64(n) * size
	grown := make([]T, len(s), n)
	copy(grown, s)
	return grown
}

// objectCost is what building an object of n keys allocates: the table, and the garbage of
// gopher-lua growing its key list and key index one key at a time (and boxing each key).
func objectCost(n int) int64 {
	if n == 0 {
		return tableCost(0, 0)
	}
	return tableCost(0, n) + mapSize(n, slotBytes+8) + int64(n)*(slotBytes+2*stringBytes)
}

func (d *jsonDecoder) parse() (lua.LValue, error) {
	v, err := d.value(0)
	if err != nil {
		return lua.LNil, err
	}
	d.space()
	if d.pos < len(d.src) {
		return lua.LNil, d.fail("unexpected data after the value")
	}
	return v, nil
}

func (d *jsonDecoder) space() {
	for d.pos < len(d.src) {
		switch d.src[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) (lua.LValue, error) {
	d.space()
	if d.pos >= len(d.src) {
		return lua.LNil, d.fail("unexpected end of input")
	}
	switch c := d.src[d.pos]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		s, err := d.string()
		if err != nil {
			return lua.LNil, err
		}
		d.spend(int64(stringBytes + len(s)))
		return lua.LString(s), nil
	case c == '-' || isDigit(c):
		return d.number()
	case strings.HasPrefix(d.src[d.pos:], "true"):
		d.pos += 4
		return lua.LTrue, nil
	case strings.HasPrefix(d.src[d.pos:], "false"):
		d.pos += 5
		return lua.LFalse, nil
	case strings.HasPrefix(d.src[d.pos:], "null"):
		d.pos += 4
		return lua.LNil, nil
	}
	return lua.LNil, d.fail("invalid character " + strconv.QuoteRune(rune(d.src[d.pos])))
}

func (d *jsonDecoder) array(depth int) (lua.LValue, error) {
	if depth >= maxNesting {
		return lua.LNil, d.fail("nested too deeply")
	}
	d.pos++ // [
	base := len(d.stack)
	d.space()
	if d.pos < len(d.src) && d.src[d.pos] == ']' {
		d.pos++
	} else {
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return lua.LNil, err
			}
			d.push(v)
			d.space()
			if d.pos >= len(d.src) {
				return lua.LNil, d.fail("unexpected end of input in an array")
			}
			if c := d.src[d.pos]; c == ',' {
				d.pos++
				continue
			} else if c == ']' {
				d.pos++
				break
			}
			return lua.LNil, d.fail("expected ',' or ']' in an array")
		}
	}
	items := d.stack[base:]
	d.spend(tableCost(len(items), 0))
	tb := d.L.CreateTable(len(items), 0)
	for i, v := range items {
		tb.RawSetInt(i+1, v)
	}
	clear(items)
	d.stack = d.stack[:base]
	return tb, nil
}

func (d *jsonDecoder) object(depth int) (lua.LValue, error) {
	if depth >= maxNesting {
		return lua.LNil, d.fail("nested too deeply")
	}
	d.pos++ // {
	base := len(d.stack)
	d.space()
	if d.pos < len(d.src) && d.src[d.pos] == '}' {
		d.pos++
	} else {
		for {
			d.space()
			if d.pos >= len(d.src) || d.src[d.pos] != '"' {
				return lua.LNil, d.fail("expected a string key in an object")
			}
			k, err := d.string()
			if err != nil {
				return lua.LNil, err
			}
			d.space()
			if d.pos >= len(d.src) || d.src[d.pos] != ':' {
				return lua.LNil, d.fail("expected ':' after an object key")
			}
			d.pos++
			v, err := d.value(depth + 1)
			if err != nil {
				return lua.LNil, err
			}
			d.pushKey(k)
			d.push(v)
			d.space()
			if d.pos >= len(d.src) {
				return lua.LNil, d.fail("unexpected end of input in an object")
			}
			if c := d.src[d.pos]; c == ',' {
				d.pos++
				continue
			} else if c == '}' {
				d.pos++
				break
			}
			return lua.LNil, d.fail("expected ',' or '}' in an object")
		}
	}
	values := d.stack[base:]
	keys := d.keys[len(d.keys)-len(values):]
	cost := objectCost(len(values))
	for _, k := range keys {
		cost += int64(len(k))
	}
	d.spend(cost)
	tb := d.L.CreateTable(0, len(values))
	for i, v := range values {
		if v != lua.LNil {
			tb.RawSetString(keys[i], v)
		}
	}
	clear(values)
	clear(keys)
	d.stack = d.stack[:base]
	d.keys = d.keys[:len(d.keys)-len(values)]
	return tb, nil
}

func (d *jsonDecoder) number() (lua.LValue, error) {
	start := d.pos
	s := d.src
	if d.pos < len(s) && s[d.pos] == '-' {
		d.pos++
	}
	digits := func() int {
		n := 0
		for d.pos < len(s) && isDigit(s[d.pos]) {
			d.pos++
			n++
		}
		return n
	}
	if d.pos < len(s) && s[d.pos] == '0' {
		d.pos++
	} else if digits() == 0 {
		return lua.LNil, d.fail("invalid number")
	}
	if d.pos < len(s) && s[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			return lua.LNil, d.fail("invalid number")
		}
	}
	if d.pos < len(s) && (s[d.pos] == 'e' || s[d.pos] == 'E') {
		d.pos++
		if d.pos < len(s) && (s[d.pos] == '+' || s[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return lua.LNil, d.fail("invalid number")
		}
	}
	f, err := strconv.ParseFloat(s[start:d.pos], 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return lua.LNil, d.fail("invalid number")
	}
	d.spend(numberBytes) // the number boxed in an LValue
	return lua.LNumber(f), nil
}

// string reads a JSON string at pos (at its opening quote).
func (d *jsonDecoder) string() (string, error) {
	s := d.src
	d.pos++
	start := d.pos
	// Fast path: no escapes, the value shares the source's bytes.
	for d.pos < len(s) {
		c := s[d.pos]
		if c == '"' {
			d.pos++
			return s[start : d.pos-1], nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", d.fail("control character in a string")
		}
		d.pos++
	}
	// Escapes only shorten a string: its raw length bounds the decoded one, admitted before the
	// buffer is made.
	end := d.pos
	for end < len(s) && s[end] != '"' {
		if s[end] == '\\' {
			end++
		}
		end++
	}
	end = min(end, len(s))
	d.spend(int64(end - start))
	var b strings.Builder
	b.Grow(end - start)
	b.WriteString(s[start:d.pos])
	for d.pos < len(s) {
		c := s[d.pos]
		switch {
		case c == '"':
			d.pos++
			return b.String(), nil
		case c < 0x20:
			return "", d.fail("control character in a string")
		case c != '\\':
			b.WriteByte(c)
			d.pos++
			continue
		}
		d.pos++
		if d.pos >= len(s) {
			break
		}
		esc := s[d.pos]
		d.pos++
		switch esc {
		case '"', '\\', '/':
			b.WriteByte(esc)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.fail("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if strings.HasPrefix(s[d.pos:], `\u`) {
					save := d.pos
					d.pos += 2
					if lo, ok := d.hex4(); ok {
						r2 = utf16.DecodeRune(r, lo)
					}
					if r2 == utf8.RuneError {
						d.pos = save
					}
				}
				r = r2
			}
			b.WriteRune(r)
		default:
			return "", d.fail("invalid escape")
		}
	}
	return "", d.fail("unterminated string")
}

func (d *jsonDecoder) hex4() (rune, bool) {
	if d.pos+4 > len(d.src) {
		return 0, false
	}
	n, err := strconv.ParseUint(d.src[d.pos:d.pos+4], 16, 32)
	if err != nil {
		return 0, false
	}
	d.pos += 4
	return rune(n), true
}
