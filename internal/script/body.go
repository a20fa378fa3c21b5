package script

import (
	"encoding/json"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// Body is a request or event body handed to a run undecoded. As the value of a field of a
// table in a run's variables (request.body), it stays undecoded until the script first reads
// that field: then JSON (when JSON is set and the text parses) becomes tables, decoded by
// from_json's decoder and charged to the run as it is decoded; any other text is a string;
// no body is "". A script that never reads the field never pays for it. Anywhere else in a
// Lazy variable it is decoded when the variable is made. The table shows the field to every
// way of looking (pairs, next, rawget, to_json, the run's result): each decodes it first.
type Body struct {
	Data string
	JSON bool // try JSON first: the content type says JSON, or nothing
}

// MarshalJSON writes the body as the JSON it holds (when JSON is set and it is valid JSON), or
// else as a JSON string, so a Body passed on (a service's answer to a call made over HTTP, an
// event stored durably) keeps its form without being decoded into Go values first.
func (b Body) MarshalJSON() ([]byte, error) {
	if b.JSON && json.Valid([]byte(b.Data)) {
		return []byte(b.Data), nil
	}
	return json.Marshal(b.Data)
}

// lazyField is a field of a table not made yet.
type lazyField struct {
	key  string
	body Body
}

// The tables with fields not made yet have the state's lazyMeta as metatable; __index makes a
// field on first read, __newindex drops it when the script assigns it first. Once all its
// fields are made, a table loses the metatable and is ordinary.

// deferField makes tb.key a field decoded on first read.
func (r *run) deferField(tb *lua.LTable, key string, b Body) {
	if r.fields == nil {
		r.fields = map[*lua.LTable][]lazyField{}
	}
	r.fields[tb] = append(r.fields[tb], lazyField{key, b})
	tb.Metatable = r.st.lazyMeta
}

// makeField makes tb's pending field key (if it is one) and returns it; LNil otherwise.
func (r *run) makeField(L *lua.LState, tb *lua.LTable, key lua.LValue) lua.LValue {
	k, ok := key.(lua.LString)
	if !ok {
		return lua.LNil
	}
	fs := r.fields[tb]
	for i, f := range fs {
		if f.key != string(k) {
			continue
		}
		r.dropField(tb, i)
		v := r.decodeBody(L, f.body)
		tb.RawSetString(f.key, v)
		return v
	}
	return lua.LNil
}

func (r *run) dropField(tb *lua.LTable, i int) {
	fs := r.fields[tb]
	fs = append(fs[:i], fs[i+1:]...)
	if len(fs) == 0 {
		delete(r.fields, tb)
		tb.Metatable = lua.LNil
		return
	}
	r.fields[tb] = fs
}

// makeFields makes every pending field of tb, for code about to look at all of it.
func (r *run) makeFields(L *lua.LState, tb *lua.LTable) {
	for tb.Metatable == r.st.lazyMeta && len(r.fields[tb]) > 0 {
		r.makeField(L, tb, lua.LString(r.fields[tb][0].key))
	}
}

// decodeBody turns a body into the script's value, charged to the run.
func (r *run) decodeBody(L *lua.LState, b Body) lua.LValue {
	if b.Data == "" {
		return lua.LString("")
	}
	if b.JSON {
		if v, err := decodeJSON(L, r, b.Data); err == nil {
			return v
		}
	}
	// The string shares the body's bytes; the walk counts them as the script's from now on.
	r.charge(L, int64(stringBytes+len(b.Data)))
	return lua.LString(b.Data)
}

// lazyIndex is __index of tables with pending fields.
func (st *state) lazyIndex(L *lua.LState) int {
	L.Push(st.rd.makeField(L, L.CheckTable(1), L.Get(2)))
	return 1
}

// lazyNewIndex is __newindex of tables with pending fields: a field assigned before it was
// read is never made.
func (st *state) lazyNewIndex(L *lua.LState) int {
	tb, key, val := L.CheckTable(1), L.Get(2), L.Get(3)
	st.rd.forgetField(tb, key)
	st.store(L, tb, key, val)
	return 0
}

// forgetField drops tb's pending field key, which the script is assigning.
func (r *run) forgetField(tb *lua.LTable, key lua.LValue) {
	if k, ok := key.(lua.LString); ok {
		for i, f := range r.fields[tb] {
			if f.key == string(k) {
				r.dropField(tb, i)
				return
			}
		}
	}
}

// getmetatable is Lua's, except that a table with pending fields shows none (it has none
// once they are made).
func (st *state) getmetatable(orig lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		if tb, ok := L.Get(1).(*lua.LTable); ok && tb.Metatable == st.lazyMeta {
			L.Push(lua.LNil)
			return 1
		}
		return orig(L)
	}
}

// makeFieldsProtected makes tb's pending fields outside the script (converting the run's
// result): a limit reached meanwhile is returned, not raised.
func (st *state) makeFieldsProtected(tb *lua.LTable) error {
	L := st.L
	L.Push(st.makeFieldsFn)
	L.Push(tb)
	err := L.PCall(1, 0, nil)
	if st.rd.err != nil {
		return st.rd.err
	}
	if err != nil {
		return fmt.Errorf("decode a body: %w", err)
	}
	return nil
}
