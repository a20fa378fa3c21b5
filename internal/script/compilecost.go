package script

import (
	"fmt"
	"math"

	"github.com/yuin/gopher-lua/ast"
)

// Compile bounds. gopher-lua's compiler finds a constant by scanning its function's list of
// constants, a name by scanning the names in scope, and resolves gotos by scanning the
// function's gotos, so its time grows with the product of uses and what they are looked up
// in: 800 KB of distinct constants took 70 s. The walk below estimates those look-ups on the
// tree the compiler will see, and refuses a chunk over the bounds before compiling it.
const (
	// MaxSourceBytes bounds the source of a script (Compile).
	MaxSourceBytes = 1 << 20
	// MaxLoadBytes bounds the source that load and loadstring compile during a run: compiling
	// cannot be interrupted, so it must be short next to the run's time limit.
	MaxLoadBytes = 256 << 10
	// MaxConstants bounds the distinct constants (strings, numbers, global names) of one function.
	MaxConstants = 4096
	// maxCompileWork bounds the estimated look-ups compiling one script takes (about 0.1 s).
	maxCompileWork = 16 << 20
	// maxLoadWork bounds them for code loaded during a run (about 10 ms).
	maxLoadWork = 2 << 20
)

// compileLimits are the bounds one compile works within.
type compileLimits struct {
	source int
	work   int64
	// stop, when set, is asked now and then whether to give up (the run's time is up); its
	// error ends the compile.
	stop func() error
}

var scriptLimits = compileLimits{source: MaxSourceBytes, work: maxCompileWork}

// compileStop ends a compile from inside a walk.
type compileStop struct{ err error }

type constKey struct {
	s     string
	n     float64
	isNum bool
}

type costFunc struct {
	line   int
	main   bool
	consts map[constKey]int
	gotos  int64
}

// costWalker estimates gopher-lua's compile work (see the constants above).
type costWalker struct {
	lim      compileLimits
	fn       *costFunc
	depth    int              // functions nested
	names    int              // local names in scope, in this function and those around it
	scope    map[string][]int // name → the positions (in names) it is declared at
	work     int64
	nodes    int
	err      *CompileError // the first bound passed
	errFn    *costFunc     // the first function with too many constants
	constErr bool          // err is about errFn's constants
}

// compileCost walks the rewritten chunk; it returns a *CompileError for a chunk over the
// bounds, or stop's error.
func compileCost(chunk []ast.Stmt, lim compileLimits) (err error) {
	w := &costWalker{lim: lim, scope: map[string][]int{}}
	defer func() {
		if r := recover(); r != nil {
			cs, ok := r.(compileStop)
			if !ok {
				panic(r)
			}
			err = cs.err
		}
	}()
	w.fn = &costFunc{consts: map[constKey]int{}}
	w.block(chunk)
	if w.err != nil {
		return w.err
	}
	return nil
}

func (w *costWalker) node() {
	w.nodes++
	if w.lim.stop != nil && w.nodes%1024 == 0 {
		if err := w.lim.stop(); err != nil {
			panic(compileStop{err})
		}
	}
}

func (w *costWalker) spend(n int64, line int) {
	w.work += n
	if w.work > w.lim.work && w.err == nil {
		w.err = &CompileError{Line: line, Message: fmt.Sprintf(
			"too costly to compile: more than %d look-ups of constants, names and labels (the limit); use fewer distinct constants or gotos in one function, or split the code into functions",
			w.lim.work)}
	}
}

// constant is the compiler's ConstIndex: a scan of the function's constants.
func (w *costWalker) constant(k constKey, line int) {
	fn := w.fn
	if i, ok := fn.consts[k]; ok {
		w.spend(int64(i)+1, line)
		return
	}
	w.spend(int64(len(fn.consts))+1, line)
	fn.consts[k] = len(fn.consts)
	if len(fn.consts) == MaxConstants+1 && w.errFn == nil {
		w.errFn = fn // the message, with the final count, is made when the function ends
	}
}

func (w *costWalker) declare(name string) {
	w.scope[name] = append(w.scope[name], w.names)
	w.names++
}

// mark and restore bracket a scope: the names declared in it go out of scope.
type scopeMark struct {
	names []string
	n     int
}

func (w *costWalker) declareAll(m *scopeMark, names ...string) {
	for _, n := range names {
		w.declare(n)
		m.names = append(m.names, n)
	}
}

func (w *costWalker) restore(m *scopeMark) {
	for i := len(m.names) - 1; i >= 0; i-- {
		n := m.names[i]
		s := w.scope[n]
		if len(s) == 1 {
			delete(w.scope, n)
		} else {
			w.scope[n] = s[:len(s)-1]
		}
	}
	w.names -= len(m.names)
}

// ident is a name's resolution: a scan of the names in scope, innermost first; a global
// becomes a constant.
func (w *costWalker) ident(name string, line int) {
	if s, ok := w.scope[name]; ok {
		w.spend(int64(w.names-s[len(s)-1]), line)
		return
	}
	w.spend(int64(w.names+w.depth)+1, line)
	w.constant(constKey{s: name}, line)
}

func (w *costWalker) block(stmts []ast.Stmt) {
	var m scopeMark
	for _, s := range stmts {
		w.stmt(s, &m)
	}
	if w.fn.gotos > 0 { // the block's end resolves its pending gotos
		w.spend(w.fn.gotos, 0)
	}
	w.restore(&m)
}

func (w *costWalker) stmt(s ast.Stmt, m *scopeMark) {
	w.node()
	line := s.Line()
	switch st := s.(type) {
	case *ast.AssignStmt:
		w.exprs(st.Rhs)
		for _, l := range st.Lhs {
			w.expr(l)
		}
	case *ast.LocalAssignStmt:
		if len(st.Names) == 1 && len(st.Exprs) == 1 {
			if _, ok := st.Exprs[0].(*ast.FunctionExpr); ok { // local function f: f is in scope in its body
				w.declareAll(m, st.Names...)
				w.expr(st.Exprs[0])
				return
			}
		}
		w.exprs(st.Exprs)
		w.declareAll(m, st.Names...)
	case *ast.FuncCallStmt:
		w.expr(st.Expr)
	case *ast.DoBlockStmt:
		w.block(st.Stmts)
	case *ast.WhileStmt:
		w.expr(st.Condition)
		w.block(st.Stmts)
	case *ast.RepeatStmt:
		var inner scopeMark // the condition sees the body's locals
		for _, s := range st.Stmts {
			w.stmt(s, &inner)
		}
		w.expr(st.Condition)
		w.restore(&inner)
	case *ast.IfStmt:
		w.expr(st.Condition)
		w.block(st.Then)
		w.block(st.Else)
	case *ast.NumberForStmt:
		w.expr(st.Init)
		w.expr(st.Limit)
		if st.Step != nil {
			w.expr(st.Step)
		}
		var loop scopeMark
		w.declareAll(&loop, "(for index)", "(for limit)", "(for step)", st.Name)
		w.block(st.Stmts)
		w.restore(&loop)
	case *ast.GenericForStmt:
		w.exprs(st.Exprs)
		var loop scopeMark
		w.declareAll(&loop, "(for generator)", "(for state)", "(for control)")
		w.declareAll(&loop, st.Names...)
		w.block(st.Stmts)
		w.restore(&loop)
	case *ast.FuncDefStmt:
		if st.Name.Func != nil {
			w.expr(st.Name.Func)
		}
		if st.Name.Receiver != nil {
			w.expr(st.Name.Receiver)
			w.constant(constKey{s: st.Name.Method}, line)
		}
		w.function(st.Func, st.Name.Receiver != nil)
	case *ast.ReturnStmt:
		w.exprs(st.Exprs)
	case *ast.LabelStmt:
		w.spend(w.fn.gotos+1, line) // resolves the pending gotos to it
	case *ast.GotoStmt:
		w.fn.gotos++
	}
}

func (w *costWalker) exprs(es []ast.Expr) {
	for _, e := range es {
		w.expr(e)
	}
}

func (w *costWalker) expr(e ast.Expr) {
	w.node()
	line := e.Line()
	switch ex := e.(type) {
	case *ast.StringExpr:
		w.constant(constKey{s: ex.Value}, line)
	case *ast.NumberExpr:
		f, ok := parseLuaNumber(ex.Value)
		if !ok {
			f = math.NaN()
		}
		w.constant(constKey{n: f, isNum: true}, line)
	case *ast.IdentExpr:
		w.ident(ex.Value, line)
	case *ast.AttrGetExpr:
		w.expr(ex.Object)
		w.expr(ex.Key)
	case *ast.TableExpr:
		for _, f := range ex.Fields {
			if f.Key != nil {
				w.expr(f.Key)
			}
			w.expr(f.Value)
		}
	case *ast.FuncCallExpr:
		if ex.Func != nil {
			w.expr(ex.Func)
		}
		if ex.Receiver != nil {
			w.expr(ex.Receiver)
			w.constant(constKey{s: ex.Method}, line)
		}
		w.exprs(ex.Args)
	case *ast.LogicalOpExpr:
		w.expr(ex.Lhs)
		w.expr(ex.Rhs)
	case *ast.RelationalOpExpr:
		w.expr(ex.Lhs)
		w.expr(ex.Rhs)
	case *ast.StringConcatOpExpr:
		w.expr(ex.Lhs)
		w.expr(ex.Rhs)
	case *ast.ArithmeticOpExpr:
		w.expr(ex.Lhs)
		w.expr(ex.Rhs)
	case *ast.UnaryMinusOpExpr:
		w.expr(ex.Expr)
	case *ast.UnaryNotOpExpr:
		w.expr(ex.Expr)
	case *ast.UnaryLenOpExpr:
		w.expr(ex.Expr)
	case *ast.FunctionExpr:
		w.function(ex, false)
	}
}

// function walks a function body with its own constants and gotos; the names around it stay
// in scope (upvalues are found by the same scan).
func (w *costWalker) function(f *ast.FunctionExpr, method bool) {
	outer := w.fn
	w.fn = &costFunc{line: f.Line(), main: w.depth == 0, consts: map[constKey]int{}}
	w.depth++
	var params scopeMark
	if method {
		w.declareAll(&params, "self")
	}
	w.declareAll(&params, f.ParList.Names...)
	w.block(f.Stmts)
	w.restore(&params)
	w.depth--
	if w.errFn == w.fn && !w.constErr { // this message says more than the work's
		where := fmt.Sprintf("function at line %d", w.fn.line)
		if w.fn.main {
			where = "the main chunk"
		}
		w.err = &CompileError{Line: w.fn.line, Message: fmt.Sprintf("%s has %d constants; the limit is %d", where, len(w.fn.consts), MaxConstants)}
		w.constErr = true
	}
	w.fn = outer
}
