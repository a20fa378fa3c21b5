package script

import (
	"math"
	"strconv"
	"strings"

	"github.com/yuin/gopher-lua/ast"
)

// The hidden functions every compiled chunk calls. Their names are not Lua identifiers, so no
// script can name, read or replace them: they are locals of a wrapper function around the chunk,
// and the chunk (and every function in it) reaches them as upvalues.
const (
	hiddenTick   = "\x00tick"   // tick(weight): starts every loop body and function body
	hiddenConcat = "\x00concat" // concat(a, b, ...): every .. operator
	hiddenSet    = "\x00set"    // set(t, k, v) → t: t[k] = v when k could grow an array
	hiddenSized  = "\x00sized"  // sized(t) → t: a constructor that ends in f() or ...
)

// hiddenNames is the order of the wrapper's locals; a Program's upvalue key indexes into it.
var hiddenNames = []string{hiddenTick, hiddenConcat, hiddenSet, hiddenSized}

const (
	// maxSyntaxDepth bounds how deeply statements and expressions nest, so neither the rewriter
	// nor gopher-lua's recursive compiler can be driven into a Go stack overflow.
	maxSyntaxDepth = 1000
	// maxConcatArgs bounds one concat call; longer chains nest (the compiler has 200 registers).
	maxConcatArgs = 64
	// safeIndex is the largest constant integer key left as a plain assignment: gopher-lua fills
	// the array part up to an integer key with nils, so t[k] = v with a far k allocates k slots
	// in one instruction. Larger or computed keys go through set, which charges the gap.
	safeIndex = 16
	// maxWeight caps the weight a tick reports.
	maxWeight = 1 << 20
)

// rewriteError stops a rewrite with a compile error.
type rewriteError struct {
	line int
	msg  string
}

// rewriter turns a parsed chunk into the sandboxed form. weight counts the allocation sites of
// the body being rewritten (tables, fields, closures, assignments, calls): code outside loops
// and nested functions runs once per tick, so the sum bounds what one tick can allocate.
type rewriter struct {
	depth  int
	weight int
	temps  int
	nodes  int
	stop   func() error // see compileLimits
}

// rewriteChunk returns the chunk wrapped as
//
//	local <hidden names>
//	return function(...) <tick> <chunk, rewritten> end
//
// The outer function is never run: the engine makes the inner function from its prototype and
// gives it the hidden functions as upvalues.
func rewriteChunk(chunk []ast.Stmt, stop func() error) (out []ast.Stmt, err error) {
	rw := &rewriter{stop: stop}
	defer func() {
		if r := recover(); r != nil {
			if cs, ok := r.(compileStop); ok {
				err = cs.err
				return
			}
			re, ok := r.(rewriteError)
			if !ok {
				panic(r)
			}
			err = &CompileError{Line: re.line, Message: re.msg}
		}
	}()
	last := 0
	if len(chunk) > 0 {
		last = lastLine(chunk[len(chunk)-1])
	}
	body := rw.body(chunk, 0)
	fn := &ast.FunctionExpr{ParList: &ast.ParList{HasVargs: true, Names: []string{}}, Stmts: body}
	fn.SetLine(0)
	fn.SetLastLine(last)
	decl := &ast.LocalAssignStmt{Names: append([]string(nil), hiddenNames...), Exprs: []ast.Expr{}}
	ret := &ast.ReturnStmt{Exprs: []ast.Expr{fn}}
	return []ast.Stmt{decl, ret}, nil
}

func lastLine(s ast.Stmt) int {
	if l := s.LastLine(); l > s.Line() {
		return l
	}
	return s.Line()
}

func (rw *rewriter) enter(line int) {
	rw.depth++
	if rw.depth > maxSyntaxDepth {
		panic(rewriteError{line: line, msg: "chunk has too many syntax levels"})
	}
	rw.nodes++
	if rw.stop != nil && rw.nodes%1024 == 0 {
		if err := rw.stop(); err != nil {
			panic(compileStop{err})
		}
	}
}

func (rw *rewriter) leave() { rw.depth-- }

// body rewrites a function or loop body: its own weight, and a tick in front.
func (rw *rewriter) body(stmts []ast.Stmt, line int) []ast.Stmt {
	saved := rw.weight
	rw.weight = 0
	out := rw.block(stmts)
	w := rw.weight
	rw.weight = saved
	return append([]ast.Stmt{tickStmt(w, line)}, out...)
}

func tickStmt(weight, line int) ast.Stmt {
	if weight > maxWeight {
		weight = maxWeight
	}
	var args []ast.Expr
	if weight > 0 {
		args = []ast.Expr{number(weight, line)}
	}
	return callStmt(call(hiddenTick, line, args...), line)
}

func (rw *rewriter) block(stmts []ast.Stmt) []ast.Stmt {
	out := make([]ast.Stmt, 0, len(stmts))
	for _, s := range stmts {
		out = append(out, rw.stmt(s)...)
	}
	return out
}

func (rw *rewriter) stmt(s ast.Stmt) []ast.Stmt {
	rw.enter(s.Line())
	defer rw.leave()
	switch st := s.(type) {
	case *ast.AssignStmt:
		return rw.assign(st)
	case *ast.LocalAssignStmt:
		rw.exprs(st.Exprs)
	case *ast.FuncCallStmt:
		st.Expr = rw.expr(st.Expr)
	case *ast.DoBlockStmt:
		st.Stmts = rw.block(st.Stmts)
	case *ast.WhileStmt:
		saved := rw.weight
		rw.weight = 0
		st.Condition = rw.expr(st.Condition)
		body := rw.block(st.Stmts)
		st.Stmts = append([]ast.Stmt{tickStmt(rw.weight, st.Line())}, body...)
		rw.weight = saved
	case *ast.RepeatStmt:
		saved := rw.weight
		rw.weight = 0
		body := rw.block(st.Stmts)
		st.Condition = rw.expr(st.Condition)
		st.Stmts = append([]ast.Stmt{tickStmt(rw.weight, st.Line())}, body...)
		rw.weight = saved
	case *ast.IfStmt:
		st.Condition = rw.expr(st.Condition)
		st.Then = rw.block(st.Then)
		st.Else = rw.block(st.Else)
	case *ast.NumberForStmt:
		st.Init = rw.expr(st.Init)
		st.Limit = rw.expr(st.Limit)
		if st.Step != nil {
			st.Step = rw.expr(st.Step)
		}
		st.Stmts = rw.body(st.Stmts, st.Line())
	case *ast.GenericForStmt:
		rw.exprs(st.Exprs)
		saved := rw.weight
		rw.weight = 1 // the iterator call
		body := rw.block(st.Stmts)
		st.Stmts = append([]ast.Stmt{tickStmt(rw.weight, st.Line())}, body...)
		rw.weight = saved
	case *ast.FuncDefStmt:
		if st.Name.Func != nil {
			st.Name.Func = rw.expr(st.Name.Func)
		}
		if st.Name.Receiver != nil {
			st.Name.Receiver = rw.expr(st.Name.Receiver)
		}
		rw.weight += 3 // the closure and its slot
		st.Func.Stmts = rw.body(st.Func.Stmts, st.Func.Line())
	case *ast.ReturnStmt:
		rw.exprs(st.Exprs)
	case *ast.GotoStmt:
		// A backward goto is a loop without a loop statement: tick before every goto.
		return []ast.Stmt{tickStmt(0, st.Line()), st}
	}
	return []ast.Stmt{s}
}

func (rw *rewriter) exprs(es []ast.Expr) {
	for i, e := range es {
		es[i] = rw.expr(e)
	}
}

func (rw *rewriter) expr(e ast.Expr) ast.Expr {
	rw.enter(e.Line())
	defer rw.leave()
	switch ex := e.(type) {
	case *ast.StringConcatOpExpr:
		return rw.concat(ex)
	case *ast.TableExpr:
		return rw.table(ex)
	case *ast.FunctionExpr:
		rw.weight += 2
		ex.Stmts = rw.body(ex.Stmts, ex.Line())
	case *ast.FuncCallExpr:
		rw.weight++
		if ex.Func != nil {
			ex.Func = rw.expr(ex.Func)
		}
		if ex.Receiver != nil {
			ex.Receiver = rw.expr(ex.Receiver)
		}
		rw.exprs(ex.Args)
	case *ast.AttrGetExpr:
		ex.Object = rw.expr(ex.Object)
		ex.Key = rw.expr(ex.Key)
	case *ast.LogicalOpExpr:
		ex.Lhs = rw.expr(ex.Lhs)
		ex.Rhs = rw.expr(ex.Rhs)
	case *ast.RelationalOpExpr:
		ex.Lhs = rw.expr(ex.Lhs)
		ex.Rhs = rw.expr(ex.Rhs)
	case *ast.ArithmeticOpExpr:
		ex.Lhs = rw.expr(ex.Lhs)
		ex.Rhs = rw.expr(ex.Rhs)
	case *ast.UnaryMinusOpExpr:
		ex.Expr = rw.expr(ex.Expr)
	case *ast.UnaryNotOpExpr:
		ex.Expr = rw.expr(ex.Expr)
	case *ast.UnaryLenOpExpr:
		ex.Expr = rw.expr(ex.Expr)
	}
	return e
}

// concat turns a chain a .. b .. c (right associative) into concat(a, b, c): one call, one
// allocation, checked against the budget before it is made.
func (rw *rewriter) concat(ex *ast.StringConcatOpExpr) ast.Expr {
	line := ex.Line()
	var ops []ast.Expr
	var cur ast.Expr = ex
	for {
		c, ok := cur.(*ast.StringConcatOpExpr)
		if !ok {
			ops = append(ops, cur)
			break
		}
		ops = append(ops, c.Lhs)
		cur = c.Rhs
	}
	for i, op := range ops {
		ops[i] = single(rw.expr(op))
	}
	// Long chains nest from the right, which concatenates in the same order.
	n := len(ops) - maxConcatArgs
	if n < 0 {
		n = 0
	}
	acc := call(hiddenConcat, line, ops[n:]...)
	for n > 0 {
		m := n - (maxConcatArgs - 1)
		if m < 0 {
			m = 0
		}
		args := append(append([]ast.Expr(nil), ops[m:n]...), acc)
		acc = call(hiddenConcat, line, args...)
		n = m
	}
	return acc
}

// table rewrites a constructor. Fields whose key could be a far integer move into set calls
// (evaluated after the other fields); a constructor that ends in a call or ... is wrapped in
// sized, which charges the values it received.
func (rw *rewriter) table(ex *ast.TableExpr) ast.Expr {
	line := ex.Line()
	rw.weight += 2 + len(ex.Fields)
	lastField := len(ex.Fields) - 1
	expands := lastField >= 0 && ex.Fields[lastField].Key == nil && isMultiValue(ex.Fields[lastField].Value)
	var keep, moved []*ast.Field
	for i, f := range ex.Fields {
		if f.Key != nil {
			f.Key = rw.expr(f.Key)
		}
		f.Value = rw.expr(f.Value)
		if f.Key == nil && i != lastField {
			f.Value = single(f.Value) // only the last field spreads its values
		}
		if f.Key != nil && !safeKey(f.Key) {
			moved = append(moved, f)
		} else {
			keep = append(keep, f)
		}
	}
	if len(moved) == 0 && !expands {
		return ex
	}
	ex.Fields = keep
	var out ast.Expr = ex
	if expands {
		out = single(call(hiddenSized, line, ex))
	}
	for _, f := range moved {
		out = single(call(hiddenSet, line, out, f.Key, single(f.Value)))
	}
	return out
}

// assign rewrites t[k] = v whose key could grow an array into set(t, k, v). A multiple
// assignment keeps Lua's order: targets' tables and keys, then values, then the stores.
func (rw *rewriter) assign(st *ast.AssignStmt) []ast.Stmt {
	unsafeTarget := false
	for _, l := range st.Lhs {
		if ag, ok := l.(*ast.AttrGetExpr); ok {
			rw.weight++ // a table slot (a plain name is a local, or a global set once)
			ag.Object = rw.expr(ag.Object)
			ag.Key = rw.expr(ag.Key)
			unsafeTarget = unsafeTarget || !safeKey(ag.Key)
		}
	}
	rw.exprs(st.Rhs)
	if !unsafeTarget {
		return []ast.Stmt{st}
	}
	line := st.Line()
	if len(st.Lhs) == 1 && len(st.Rhs) == 1 {
		ag := st.Lhs[0].(*ast.AttrGetExpr)
		return []ast.Stmt{callStmt(call(hiddenSet, line, ag.Object, ag.Key, single(st.Rhs[0])), line)}
	}
	var holders []string
	var holderExprs []ast.Expr
	values := make([]string, len(st.Lhs))
	var stores []ast.Stmt
	for i, l := range st.Lhs {
		values[i] = rw.temp()
		v := ident(values[i], line)
		switch target := l.(type) {
		case *ast.AttrGetExpr:
			o, k := rw.temp(), rw.temp()
			holders = append(holders, o, k)
			holderExprs = append(holderExprs, single(target.Object), single(target.Key))
			if safeKey(target.Key) {
				ag := &ast.AttrGetExpr{Object: ident(o, line), Key: ident(k, line)}
				ag.SetLine(line)
				stores = append(stores, assignStmt(ag, v, line))
			} else {
				stores = append(stores, callStmt(call(hiddenSet, line, ident(o, line), ident(k, line), v), line))
			}
		default:
			stores = append(stores, assignStmt(l, v, line))
		}
	}
	var stmts []ast.Stmt
	if len(holders) > 0 {
		stmts = append(stmts, localStmt(holders, holderExprs, line))
	}
	stmts = append(stmts, localStmt(values, st.Rhs, line))
	stmts = append(stmts, stores...)
	do := &ast.DoBlockStmt{Stmts: stmts}
	do.SetLine(line)
	do.SetLastLine(line)
	return []ast.Stmt{do}
}

func (rw *rewriter) temp() string {
	rw.temps++
	return "\x00t" + strconv.Itoa(rw.temps)
}

// safeKey reports whether a constant key cannot make gopher-lua grow an array by more than a
// few slots: strings, booleans, non-integers and small integers.
func safeKey(e ast.Expr) bool {
	switch k := e.(type) {
	case *ast.StringExpr, *ast.TrueExpr, *ast.FalseExpr, *ast.NilExpr:
		return true
	case *ast.NumberExpr:
		f, ok := parseLuaNumber(k.Value)
		if !ok {
			return false
		}
		return f != math.Trunc(f) || f <= safeIndex
	}
	return false
}

// parseLuaNumber reads a numeric literal as the lexer gives it (decimal or 0x hex).
func parseLuaNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		u, err := strconv.ParseUint(s[2:], 16, 64)
		return float64(u), err == nil
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// isMultiValue reports whether e can produce several values (a call or ...).
func isMultiValue(e ast.Expr) bool {
	switch ex := e.(type) {
	case *ast.FuncCallExpr:
		return !ex.AdjustRet
	case *ast.Comma3Expr:
		return !ex.AdjustRet
	}
	return false
}

// single truncates a call or ... to its first value, as parentheses do.
func single(e ast.Expr) ast.Expr {
	switch ex := e.(type) {
	case *ast.FuncCallExpr:
		ex.AdjustRet = true
	case *ast.Comma3Expr:
		ex.AdjustRet = true
	}
	return e
}

func ident(name string, line int) *ast.IdentExpr {
	id := &ast.IdentExpr{Value: name}
	id.SetLine(line)
	return id
}

func number(n, line int) *ast.NumberExpr {
	e := &ast.NumberExpr{Value: strconv.Itoa(n)}
	e.SetLine(line)
	return e
}

func call(name string, line int, args ...ast.Expr) *ast.FuncCallExpr {
	c := &ast.FuncCallExpr{Func: ident(name, line), Args: args}
	c.SetLine(line)
	return c
}

func callStmt(c *ast.FuncCallExpr, line int) ast.Stmt {
	s := &ast.FuncCallStmt{Expr: c}
	s.SetLine(line)
	return s
}

func assignStmt(lhs, rhs ast.Expr, line int) ast.Stmt {
	s := &ast.AssignStmt{Lhs: []ast.Expr{lhs}, Rhs: []ast.Expr{rhs}}
	s.SetLine(line)
	return s
}

func localStmt(names []string, exprs []ast.Expr, line int) ast.Stmt {
	s := &ast.LocalAssignStmt{Names: names, Exprs: exprs}
	s.SetLine(line)
	return s
}
