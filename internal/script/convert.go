package script

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// maxNesting bounds how deeply converted (and JSON) values nest.
const maxNesting = 200

var (
	errCycle   = errors.New("table contains a cycle")
	errNesting = fmt.Errorf("value nested more than %d deep", maxNesting)
)

// toGo converts Lua values to Go: nil, bool, float64, string, []any (a table whose keys are
// exactly 1..n) or map[string]any (any other table, an empty one included). Functions,
// userdata and threads become nil. What it builds is bounded by limit, which a table shared
// many times over (a DAG) would otherwise multiply.
type toGo struct {
	// st makes a table's pending fields (body.go) before it is converted; nil: they are left
	// out.
	st *state

	limit int64
	used  int64
	path  map[*lua.LTable]struct{} // tables being converted, to find cycles
	depth int
}

func newToGo(limit int64) *toGo {
	return &toGo{limit: limit}
}

func (c *toGo) spend(n int64) error {
	c.used += n
	if c.used > c.limit {
		return &LimitError{Limit: LimitMemory, Detail: "converting a value to Go"}
	}
	return nil
}

func (c *toGo) value(v lua.LValue) (any, error) {
	switch x := v.(type) {
	case lua.LBool:
		return bool(x), nil
	case lua.LNumber:
		return float64(x), c.spend(8)
	case lua.LString:
		return string(x), c.spend(int64(16 + len(x)))
	case *lua.LTable:
		return c.table(x)
	}
	return nil, nil
}

func (c *toGo) table(tb *lua.LTable) (any, error) {
	if _, on := c.path[tb]; on {
		return nil, errCycle
	}
	if c.depth >= maxNesting {
		return nil, errNesting
	}
	if c.st != nil && tb.Metatable == c.st.lazyMeta {
		if err := c.st.makeFieldsProtected(tb); err != nil {
			return nil, err
		}
	}
	if c.path == nil {
		c.path = map[*lua.LTable]struct{}{}
	}
	c.path[tb] = struct{}{}
	c.depth++
	defer func() {
		delete(c.path, tb)
		c.depth--
	}()
	if err := c.spend(64); err != nil {
		return nil, err
	}
	if n := sequenceLen(tb); n > 0 {
		if err := c.spend(int64(n) * 16); err != nil {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			v, err := c.value(tb.RawGetInt(i + 1))
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	out := map[string]any{}
	var err error
	eachEntry(tb, func(k, v lua.LValue) bool {
		if err = c.spend(64); err != nil {
			return false
		}
		var gv any
		if gv, err = c.value(v); err != nil {
			return false
		}
		out[keyString(k)] = gv
		return true
	})
	return out, err
}

// sequenceLen is n when tb's keys are exactly 1..n, else 0.
func sequenceLen(tb *lua.LTable) int {
	if p, ok := partsOf(tb); ok {
		if len(p.strdict) > 0 || len(p.dict) > 0 {
			return 0
		}
		n := len(p.array)
		for n > 0 && p.array[n-1] == lua.LNil {
			n--
		}
		for i := 0; i < n; i++ {
			if p.array[i] == lua.LNil {
				return 0
			}
		}
		return n
	}
	count, maxKey := 0, 0
	for k, _ := tb.Next(lua.LNil); k != lua.LNil; k, _ = tb.Next(k) {
		count++
		num, ok := k.(lua.LNumber)
		if !ok || float64(num) != math.Trunc(float64(num)) || num < 1 {
			return 0
		}
		maxKey = max(maxKey, int(num))
	}
	if maxKey != count {
		return 0
	}
	return count
}

// eachEntry calls fn for every key and value of tb (raw, no metamethods) until it returns false.
func eachEntry(tb *lua.LTable, fn func(k, v lua.LValue) bool) {
	if p, ok := partsOf(tb); ok {
		for i, v := range p.array {
			if v != lua.LNil && v != nil {
				if !fn(lua.LNumber(i+1), v) {
					return
				}
			}
		}
		for k, v := range p.strdict {
			if v != lua.LNil {
				if !fn(lua.LString(k), v) {
					return
				}
			}
		}
		for k, v := range p.dict {
			if v != lua.LNil {
				if !fn(k, v) {
					return
				}
			}
		}
		return
	}
	for k, v := tb.Next(lua.LNil); k != lua.LNil; k, v = tb.Next(k) {
		if !fn(k, v) {
			return
		}
	}
}

// keyString is how a key appears in a Go map or a JSON object: strings as they are, integers
// as "3", other numbers as %v, anything else as tostring shows it.
func keyString(k lua.LValue) string {
	switch x := k.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return numberString(float64(x))
	case lua.LBool:
		return strconv.FormatBool(bool(x))
	}
	return k.String()
}

// toLuaConv converts Go values to Lua: the inverse of toGo, also taking []string,
// map[string]string, any integer or float type, json.Number, []byte, and (through reflection)
// other slices and string-keyed maps. What it builds is charged to the run when r is set
// (service results, from the inside of a run), else bounded by limit (the run's variables).
type toLuaConv struct {
	L      *lua.LState
	r      *run
	fields *run // defers Body fields of tables to this run (body.go)
	limit  int64
	used   int64
}

func (c *toLuaConv) spend(n int64) error {
	c.used += n
	if c.r != nil {
		c.r.hold(c.L, n)
		return nil
	}
	if c.used > c.limit {
		return &LimitError{Limit: LimitMemory, Detail: "converting the run's variables"}
	}
	return nil
}

// tableCost mirrors what the walk will count for a table of arr array and hash entries.
func tableCost(arr, hash int) int64 {
	n := int64(tableBytes + arr*slotBytes)
	if hash > 0 {
		n += mapSize(max(hash, strdictHint), 2*slotBytes) + mapSize(hash, slotBytes+8) + int64(hash)*(slotBytes+stringBytes)
	}
	return n
}

func (c *toLuaConv) value(v any, depth int) (lua.LValue, error) {
	if depth > maxNesting {
		return lua.LNil, errNesting
	}
	switch x := v.(type) {
	case nil:
		return lua.LNil, nil
	case bool:
		return lua.LBool(x), nil
	case string:
		return lua.LString(x), c.spend(int64(stringBytes + len(x)))
	case []byte:
		return lua.LString(x), c.spend(int64(stringBytes + len(x)))
	case float64:
		return lua.LNumber(x), nil
	case float32:
		return lua.LNumber(x), nil
	case int:
		return lua.LNumber(x), nil
	case int64:
		return lua.LNumber(x), nil
	case int32:
		return lua.LNumber(x), nil
	case uint64:
		return lua.LNumber(x), nil
	case Body:
		if c.r == nil {
			return lua.LNil, errors.New("a Body outside a table is decoded when read: put it in a Lazy variable")
		}
		return c.r.decodeBody(c.L, x), nil
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return lua.LNumber(f), nil
		}
		return lua.LString(x), c.spend(int64(stringBytes + len(x)))
	case []any:
		if err := c.spend(tableCost(len(x), 0)); err != nil {
			return lua.LNil, err
		}
		tb := c.L.CreateTable(len(x), 0)
		for i, e := range x {
			lv, err := c.value(e, depth+1)
			if err != nil {
				return lua.LNil, err
			}
			tb.RawSetInt(i+1, lv)
		}
		return tb, nil
	case []string:
		if err := c.spend(tableCost(len(x), 0)); err != nil {
			return lua.LNil, err
		}
		tb := c.L.CreateTable(len(x), 0)
		for i, e := range x {
			if err := c.spend(int64(stringBytes + len(e))); err != nil {
				return lua.LNil, err
			}
			tb.RawSetInt(i+1, lua.LString(e))
		}
		return tb, nil
	case map[string]any:
		if err := c.spend(tableCost(0, len(x))); err != nil {
			return lua.LNil, err
		}
		tb := c.L.CreateTable(0, len(x))
		for k, e := range x {
			if b, ok := e.(Body); ok && c.fields != nil {
				c.fields.deferField(tb, k, b)
				continue
			}
			lv, err := c.value(e, depth+1)
			if err != nil {
				return lua.LNil, err
			}
			if lv != lua.LNil {
				tb.RawSetString(k, lv)
			}
		}
		return tb, nil
	case map[string]string:
		if err := c.spend(tableCost(0, len(x))); err != nil {
			return lua.LNil, err
		}
		tb := c.L.CreateTable(0, len(x))
		for k, e := range x {
			if err := c.spend(int64(stringBytes + len(e))); err != nil {
				return lua.LNil, err
			}
			tb.RawSetString(k, lua.LString(e))
		}
		return tb, nil
	}
	return c.reflectValue(reflect.ValueOf(v), depth)
}

// reflectValue converts the remaining kinds: named scalar types, pointers, other slices and
// string-keyed maps.
func (c *toLuaConv) reflectValue(rv reflect.Value, depth int) (lua.LValue, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return lua.LBool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return lua.LNumber(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return lua.LNumber(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return lua.LNumber(rv.Float()), nil
	case reflect.String:
		return lua.LString(rv.String()), c.spend(int64(stringBytes + rv.Len()))
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return lua.LNil, nil
		}
		return c.value(rv.Elem().Interface(), depth+1)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return lua.LNil, nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return lua.LString(b), c.spend(int64(stringBytes + len(b)))
		}
		n := rv.Len()
		if err := c.spend(tableCost(n, 0)); err != nil {
			return lua.LNil, err
		}
		tb := c.L.CreateTable(n, 0)
		for i := 0; i < n; i++ {
			lv, err := c.value(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return lua.LNil, err
			}
			tb.RawSetInt(i+1, lv)
		}
		return tb, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.IsNil() {
			return lua.LNil, nil
		}
		if err := c.spend(tableCost(0, rv.Len())); err != nil {
			return lua.LNil, err
		}
		tb := c.L.CreateTable(0, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			lv, err := c.value(it.Value().Interface(), depth+1)
			if err != nil {
				return lua.LNil, err
			}
			if lv != lua.LNil {
				tb.RawSetString(it.Key().String(), lv)
			}
		}
		return tb, nil
	}
	if !rv.IsValid() {
		return lua.LNil, nil
	}
	return lua.LNil, fmt.Errorf("unsupported type %s", rv.Type())
}
