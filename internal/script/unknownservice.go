package script

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// A script that calls a service the solution has not added (Nosuch.op{...}) reads a global
// that is not there and then indexes it; Lua's own message for that, "attempt to index a
// non-table object(nil) with key 'op'", names neither the service nor what could be called.
// So the compiler finds the service-shaped globals every read of which is indexed at once
// (the next instruction indexes the value read), and a run reading one of them that is
// neither set nor a service fails right there with a message that says so. A global also read
// bare (`if Sms then`), assigned, or named as a string anywhere in the program stays nil, as
// Lua has it: only a read that would have failed anyway fails, with a better message.

// ServiceLister may be implemented by a run's Services: the aliases of the services the run may
// call, for the message of a call to one it may not.
type ServiceLister interface {
	Aliases() []string
}

// OperationError may be implemented by an error a service call returns: when UnknownOperation
// reports true, the call named an operation its service does not have, and the run's log
// records it at error level (the script gets it as {error=…, status=…} as usual).
type OperationError interface {
	error
	UnknownOperation() bool
}

// gopher-lua's instruction encoding (opcode.go there): opcode in the top 6 bits, A in the
// next 8, then C and B of 9 bits each (B the lowest) or Bx of 18; a B or C with its top bit
// set names a constant.
const (
	opShift = 26
	rkBit   = 1 << 8
)

func opCode(inst uint32) int { return int(inst >> opShift) }
func opA(inst uint32) int    { return int(inst>>18) & 0xff }
func opB(inst uint32) int    { return int(inst & 0x1ff) }
func opC(inst uint32) int    { return int(inst>>9) & 0x1ff }
func opBx(inst uint32) int   { return int(inst & 0x3ffff) }

// serviceShaped reports whether a global could be a service alias: a capital letter, then
// letters and digits (the service name, lower-cased, is letters and digits).
func serviceShaped(name string) bool {
	if name == "" || name[0] < 'A' || name[0] > 'Z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i] | 0x20
		if !('a' <= c && c <= 'z' || '0' <= name[i] && name[i] <= '9') {
			return false
		}
	}
	return true
}

// indexedGlobals returns the service-shaped globals p (and the functions in it) reads only to
// index them at once, and never otherwise names.
func indexedGlobals(p *lua.FunctionProto) map[string]bool {
	good, bad := map[string]bool{}, map[string]bool{}
	var visit func(p *lua.FunctionProto)
	visit = func(p *lua.FunctionProto) {
		name := func(k int) (string, bool) {
			if k < 0 || k >= len(p.Constants) {
				return "", false
			}
			s, ok := p.Constants[k].(lua.LString)
			return string(s), ok && serviceShaped(string(s))
		}
		for pc, inst := range p.Code {
			switch opCode(inst) {
			case lua.OP_GETGLOBAL:
				n, ok := name(opBx(inst))
				if !ok {
					continue
				}
				if pc+1 < len(p.Code) && indexes(p.Code[pc+1], opA(inst)) {
					good[n] = true
				} else {
					bad[n] = true
				}
			case lua.OP_SETGLOBAL, lua.OP_LOADK:
				if n, ok := name(opBx(inst)); ok {
					bad[n] = true
				}
			case lua.OP_CLOSURE, lua.OP_JMP, lua.OP_FORLOOP, lua.OP_FORPREP:
				// Bx or sBx is no constant.
			default:
				for _, rk := range []int{opB(inst), opC(inst)} {
					if rk&rkBit == 0 {
						continue
					}
					if n, ok := name(rk &^ rkBit); ok {
						bad[n] = true // such as _G.Sms or rawget(_G, "Sms")
					}
				}
			}
		}
		for _, c := range p.FunctionPrototypes {
			visit(c)
		}
	}
	visit(p)
	for n := range bad {
		delete(good, n)
	}
	if len(good) == 0 {
		return nil
	}
	return good
}

// indexes reports whether inst indexes register reg (reads or writes a field of it).
func indexes(inst uint32, reg int) bool {
	switch opCode(inst) {
	case lua.OP_GETTABLE, lua.OP_GETTABLEKS, lua.OP_SELF:
		return opB(inst) == reg
	case lua.OP_SETTABLE, lua.OP_SETTABLEKS:
		return opA(inst) == reg
	}
	return false
}

// noService ends the read of alias, a global the program only indexes, that is neither set nor
// a service of the run: the error names it and the services there are, and goes to the run's
// log too.
func (st *state) noService(L *lua.LState, r *run, alias string) {
	msg := fmt.Sprintf("no service %q in this solution", alias)
	if l, ok := r.services.(ServiceLister); ok {
		if names := l.Aliases(); len(names) > 0 {
			msg += "; added services: " + strings.Join(names, ", ")
		}
	}
	if r.log != nil {
		r.log(slog.LevelError, msg, map[string]any{"service": alias})
	}
	L.RaiseError("%s", msg)
}

// logUnknownOperation writes a call of an operation its service does not have to the run's log.
func (r *run) logUnknownOperation(alias, op string, err error) {
	var oe OperationError
	if r.log == nil || !errors.As(err, &oe) || !oe.UnknownOperation() {
		return
	}
	r.log(slog.LevelError, err.Error(), map[string]any{"service": alias, "operation": op})
}
