package script

import (
	"fmt"
	"reflect"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// gopher-lua keeps two things the sandbox must see unexported: an LState's value stack (its
// "registry": every local, temporary and vararg of every frame) and a table's parts (the array's
// capacity, the hash maps, and the key list that remembers deleted keys). Without them the
// memory walk would miss what a script holds on the stack and underestimate tables.
//
// The fields are read through offsets that are checked against gopher-lua's types with reflect
// when the package starts: names, types and kinds must all match, or the offsets are not used
// and the walk falls back to what the public API shows (and TestInternalsLayout fails).
var internals = func() (in internalLayout) {
	in.err = in.verify()
	in.ok = in.err == nil
	return in
}()

type internalLayout struct {
	ok  bool
	err error

	stateReg   uintptr // LState.reg (*registry)
	regArray   uintptr // registry.array ([]LValue)
	regTop     uintptr // registry.top (int)
	tblArray   uintptr // LTable.array ([]LValue)
	tblDict    uintptr // LTable.dict (map[LValue]LValue)
	tblStrdict uintptr // LTable.strdict (map[string]LValue)
	tblKeys    uintptr // LTable.keys ([]LValue)
	tblK2i     uintptr // LTable.k2i (map[LValue]int)
}

func (in *internalLayout) verify() error {
	var (
		valuesT  = reflect.TypeOf([]lua.LValue(nil))
		dictT    = reflect.TypeOf(map[lua.LValue]lua.LValue(nil))
		strdictT = reflect.TypeOf(map[string]lua.LValue(nil))
		k2iT     = reflect.TypeOf(map[lua.LValue]int(nil))
		intT     = reflect.TypeOf(0)
	)
	field := func(t reflect.Type, name string, want reflect.Type) (uintptr, error) {
		f, ok := t.FieldByName(name)
		if !ok {
			return 0, fmt.Errorf("gopher-lua %s has no field %s", t.Name(), name)
		}
		if want != nil && f.Type != want {
			return 0, fmt.Errorf("gopher-lua %s.%s is %s, want %s", t.Name(), name, f.Type, want)
		}
		return f.Offset, nil
	}
	var err error
	stateT := reflect.TypeOf(lua.LState{})
	regF, ok := stateT.FieldByName("reg")
	if !ok || regF.Type.Kind() != reflect.Pointer || regF.Type.Elem().Name() != "registry" ||
		regF.Type.Elem().PkgPath() != stateT.PkgPath() {
		return fmt.Errorf("gopher-lua LState.reg is not a *registry")
	}
	in.stateReg = regF.Offset
	regT := regF.Type.Elem()
	if in.regArray, err = field(regT, "array", valuesT); err != nil {
		return err
	}
	if in.regTop, err = field(regT, "top", intT); err != nil {
		return err
	}
	tableT := reflect.TypeOf(lua.LTable{})
	for _, f := range []struct {
		name string
		typ  reflect.Type
		off  *uintptr
	}{
		{"array", valuesT, &in.tblArray},
		{"dict", dictT, &in.tblDict},
		{"strdict", strdictT, &in.tblStrdict},
		{"keys", valuesT, &in.tblKeys},
		{"k2i", k2iT, &in.tblK2i},
	} {
		if *f.off, err = field(tableT, f.name, f.typ); err != nil {
			return err
		}
	}
	return nil
}

// stackValues is the part of L's value stack in use (nil when the layout is unknown).
func stackValues(L *lua.LState) (values []lua.LValue, capacity int) {
	if !internals.ok || L == nil {
		return nil, 0
	}
	reg := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(L), internals.stateReg))
	if reg == nil {
		return nil, 0
	}
	arr := *(*[]lua.LValue)(unsafe.Add(reg, internals.regArray))
	top := *(*int)(unsafe.Add(reg, internals.regTop))
	if top < 0 {
		top = 0
	}
	if top > len(arr) {
		top = len(arr)
	}
	return arr[:top], cap(arr)
}

// tableParts are a table's storage, as the memory walk and the conversions read it.
type tableParts struct {
	array   []lua.LValue
	strdict map[string]lua.LValue
	dict    map[lua.LValue]lua.LValue
	keys    []lua.LValue // every key ever set in the hash part, deleted ones too
	k2iLen  int
}

// partsOf reads tb's storage; ok is false when the layout is unknown.
func partsOf(tb *lua.LTable) (p tableParts, ok bool) {
	if !internals.ok {
		return p, false
	}
	base := unsafe.Pointer(tb)
	p.array = *(*[]lua.LValue)(unsafe.Add(base, internals.tblArray))
	p.strdict = *(*map[string]lua.LValue)(unsafe.Add(base, internals.tblStrdict))
	p.dict = *(*map[lua.LValue]lua.LValue)(unsafe.Add(base, internals.tblDict))
	p.keys = *(*[]lua.LValue)(unsafe.Add(base, internals.tblKeys))
	p.k2iLen = len(*(*map[lua.LValue]int)(unsafe.Add(base, internals.tblK2i)))
	return p, true
}

// arrayLen is the length of tb's array part (not Lua's #, which stops at the first border).
func arrayLen(tb *lua.LTable) int {
	if !internals.ok {
		return tb.MaxN()
	}
	return len(*(*[]lua.LValue)(unsafe.Add(unsafe.Pointer(tb), internals.tblArray)))
}
