package script

import (
	"fmt"
	"math"
	"strings"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// Budgeted replacements for the library functions whose result can be far larger than their
// arguments. Each computes the size of its result first and charges it, so an impossible
// request fails the run before anything is allocated.

// strRep is string.rep(s, n [, sep]) (sep as in Lua 5.2).
func (st *state) strRep(L *lua.LState) int {
	s := L.CheckString(1)
	nf := math.Trunc(float64(L.CheckNumber(2)))
	sep := L.OptString(3, "")
	if !(nf >= 1) || (len(s) == 0 && len(sep) == 0) {
		L.Push(lua.LString(""))
		return 1
	}
	unit := float64(len(s) + len(sep))
	total := unit*nf - float64(len(sep))
	if total > maxCharge {
		total = maxCharge
	}
	st.rd.charge(L, int64(total))
	n := int(nf)
	buf := make([]byte, n*(len(s)+len(sep)))
	copy(buf, s)
	copy(buf[len(s):], sep)
	for filled := len(s) + len(sep); filled < len(buf); {
		filled += copy(buf[filled:], buf[:filled])
	}
	buf = buf[:len(buf)-len(sep)]
	if len(buf) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	// buf is never written again: the string can share it.
	L.Push(lua.LString(unsafe.String(&buf[0], len(buf))))
	return 1
}

// strUpper and strLower change ASCII letters, byte by byte, as Lua does in the C locale.
func (st *state) strUpper(L *lua.LState) int {
	return st.mapASCII(L, func(c byte) byte {
		if 'a' <= c && c <= 'z' {
			return c - 'a' + 'A'
		}
		return c
	})
}

func (st *state) strLower(L *lua.LState) int {
	return st.mapASCII(L, func(c byte) byte {
		if 'A' <= c && c <= 'Z' {
			return c - 'A' + 'a'
		}
		return c
	})
}

func (st *state) mapASCII(L *lua.LState, f func(byte) byte) int {
	s := L.CheckString(1)
	i := 0
	for i < len(s) && f(s[i]) == s[i] {
		i++
	}
	if i == len(s) { // unchanged: no copy
		if _, ok := L.Get(1).(lua.LString); ok {
			L.Push(L.Get(1)) // the same value: no new string header
		} else {
			L.Push(lua.LString(s))
		}
		return 1
	}
	st.rd.charge(L, int64(len(s)))
	b := []byte(s)
	for ; i < len(b); i++ {
		b[i] = f(b[i])
	}
	L.Push(lua.LString(unsafe.String(&b[0], len(b))))
	return 1
}

func (st *state) strReverse(L *lua.LState) int {
	s := L.CheckString(1)
	if len(s) < 2 {
		L.Push(lua.LString(s))
		return 1
	}
	st.rd.charge(L, int64(len(s)))
	b := make([]byte, len(s))
	for i, j := 0, len(s)-1; j >= 0; i, j = i+1, j-1 {
		b[i] = s[j]
	}
	L.Push(lua.LString(unsafe.String(&b[0], len(b))))
	return 1
}

// tableConcat is table.concat(t [, sep [, i [, j]]]).
func (st *state) tableConcat(L *lua.LState) int {
	tb := L.CheckTable(1)
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, tb.Len())
	if i > j {
		L.Push(lua.LString(""))
		return 1
	}
	var total int64
	for k := i; k <= j; k++ {
		v := tb.RawGetInt(k)
		if !isStringLike(v) {
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		total += int64(len(toStringLike(v)))
		if k < j {
			total += int64(len(sep))
		}
		if total > maxCharge {
			break
		}
	}
	st.rd.charge(L, total)
	var b strings.Builder
	b.Grow(int(total))
	for k := i; k <= j; k++ {
		b.WriteString(toStringLike(tb.RawGetInt(k)))
		if k < j {
			b.WriteString(sep)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// strFormat is Lua 5.1's string.format. A width or precision is admitted against the budget
// before anything is formatted (so "%099999999d" is a memory error, not 100 MB); past that,
// Lua's rule holds: at most two digits each.
func (st *state) strFormat(L *lua.LState) int {
	f := L.CheckString(1)
	var b budgetBuf
	b.init(&st.rd, L)
	defer b.release()
	top := L.GetTop()
	arg := 1
	for i := 0; i < len(f); {
		if f[i] != '%' {
			j := strings.IndexByte(f[i:], '%')
			if j < 0 {
				j = len(f) - i
			}
			b.writeString(f[i : i+j])
			i += j
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			b.writeByte('%')
			i++
			continue
		}
		arg++
		if arg > top {
			L.ArgError(arg, "no value")
		}
		start := i
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		flags := f[start:i]
		if len(flags) > 5 {
			L.RaiseError("invalid format (repeated flags)")
		}
		ws := i
		for i < len(f) && isDigit(f[i]) {
			i++
		}
		widthStr := f[ws:i]
		precStr, hasPrec := "", false
		if i < len(f) && f[i] == '.' {
			hasPrec = true
			i++
			ps := i
			for i < len(f) && isDigit(f[i]) {
				i++
			}
			precStr = f[ps:i]
		}
		width, prec := atoiCapped(widthStr), atoiCapped(precStr)
		b.reserve(max(width, prec))
		if len(widthStr) > 2 || len(precStr) > 2 {
			L.RaiseError("invalid format (width or precision too long)")
		}
		if i >= len(f) {
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		verb := f[i]
		i++
		spec := "%" + flags + widthStr
		if hasPrec {
			spec += "." + precStr
		}
		switch verb {
		case 'd', 'i':
			b.writeString(fmt.Sprintf(spec+"d", int64(L.CheckNumber(arg))))
		case 'o', 'x', 'X':
			v := uint64(int64(L.CheckNumber(arg)))
			if v == 0 && strings.IndexByte(flags, '#') >= 0 { // C writes 0, not 0x0
				spec = strings.Replace(spec, "#", "", 1)
			}
			b.writeString(fmt.Sprintf(spec+string(verb), v))
		case 'u':
			b.writeString(fmt.Sprintf(spec+"d", uint64(int64(L.CheckNumber(arg)))))
		case 'c':
			b.writeString(pad(string([]byte{byte(int64(L.CheckNumber(arg)))}), flags, width))
		case 'e', 'E', 'f', 'g', 'G':
			v := float64(L.CheckNumber(arg))
			if math.IsInf(v, 0) || math.IsNaN(v) {
				b.writeString(pad(nonFinite(v, verb, flags), flags, width))
				break
			}
			if !hasPrec && (verb == 'g' || verb == 'G') {
				spec += ".6" // C's default; Go's is the shortest form
			}
			b.writeString(fmt.Sprintf(spec+string(verb), v))
		case 'q':
			s := L.CheckString(arg)
			b.reserve(quotedLen(s))
			b.writeString(quoteLua(s))
		case 's':
			s := L.ToStringMeta(L.Get(arg)).String()
			if hasPrec && prec < len(s) {
				s = s[:prec]
			}
			b.writeString(pad(s, flags, width))
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", verb)
		}
	}
	L.Push(lua.LString(b.string()))
	return 1
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// atoiCapped reads a run of digits, saturating instead of overflowing.
func atoiCapped(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
		if n > 1<<40 {
			return 1 << 40
		}
	}
	return n
}

// pad right-aligns s in width (left with the '-' flag), as C's %s does.
func pad(s, flags string, width int) string {
	if len(s) >= width {
		return s
	}
	fill := strings.Repeat(" ", width-len(s))
	if strings.IndexByte(flags, '-') >= 0 {
		return s + fill
	}
	return fill + s
}

func nonFinite(v float64, verb byte, flags string) string {
	var s string
	switch {
	case math.IsNaN(v):
		s = "nan"
	case v > 0:
		s = "inf"
		if strings.IndexByte(flags, '+') >= 0 {
			s = "+inf"
		} else if strings.IndexByte(flags, ' ') >= 0 {
			s = " inf"
		}
	default:
		s = "-inf"
	}
	if verb == 'E' || verb == 'G' {
		s = strings.ToUpper(s)
	}
	return s
}

// quoteLua is %q: a string Lua reads back as s.
func quoteLua(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// quotedLen is len(quoteLua(s)) without building it.
func quotedLen(s string) int {
	n := 2 + len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\', '\n', '\r':
			n++
		case 0:
			n += 3
		}
	}
	return n
}
