package script

import (
	"errors"
	"fmt"
	"io"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Program is a compiled script: immutable and safe for concurrent use by any number of runs.
type Program struct {
	Name  string
	proto *lua.FunctionProto
	upkey string // which hidden functions the main function takes as upvalues, in order
	// indexed are the service-shaped globals the program only indexes (unknownservice.go).
	indexed map[string]bool
}

// Compile parses, sandboxes and compiles src. name is the chunk name errors carry
// ("name:line: message"). The error is a *CompileError; a source over MaxSourceBytes, or one
// whose compile would take too long (see compilecost.go), is one too.
func Compile(name, src string) (*Program, error) {
	proto, upkey, err := compileProto(name, src, scriptLimits)
	if err != nil {
		return nil, err
	}
	return &Program{Name: name, proto: proto, upkey: upkey, indexed: indexedGlobals(proto)}, nil
}

// compileProto turns source into the prototype of its sandboxed main function. Code loaded at
// run time goes through here too, so it gets the same rewriting as the main chunk.
func compileProto(name, src string, lim compileLimits) (proto *lua.FunctionProto, upkey string, err error) {
	defer func() {
		// gopher-lua's parser and compiler panic on some inputs; a script never crashes the host.
		if r := recover(); r != nil {
			proto, upkey = nil, ""
			err = &CompileError{Message: fmt.Sprintf("%s: cannot compile: %v", name, r)}
		}
	}()
	if strings.HasPrefix(src, "\x1b") {
		return nil, "", &CompileError{Message: name + ": attempt to load a binary chunk"}
	}
	if len(src) > lim.source {
		return nil, "", &CompileError{Message: fmt.Sprintf("%s: source is %s; the limit is %s",
			name, formatBytes(int64(len(src))), formatBytes(int64(lim.source)))}
	}
	in := &stopReader{r: strings.NewReader(src), stop: lim.stop}
	chunk, err := parse.Parse(in, name)
	if in.err != nil {
		return nil, "", in.err
	}
	if err != nil {
		return nil, "", parseError(name, src, err)
	}
	if chunk == nil {
		return nil, "", &CompileError{Message: name + ": cannot parse"}
	}
	wrapped, err := rewriteChunk(chunk, lim.stop)
	if err == nil {
		err = compileCost(wrapped, lim)
	}
	if err != nil {
		var ce *CompileError
		if errors.As(err, &ce) {
			if ce.Line > 0 {
				ce.Message = fmt.Sprintf("%s:%d: %s", name, ce.Line, ce.Message)
			} else {
				ce.Message = name + ": " + ce.Message
			}
		}
		return nil, "", err
	}
	if lim.stop != nil {
		if err := lim.stop(); err != nil {
			return nil, "", err
		}
	}
	outer, err := lua.Compile(wrapped, name)
	if err != nil {
		var le *lua.CompileError
		if errors.As(err, &le) {
			return nil, "", &CompileError{Line: le.Line, Message: fmt.Sprintf("%s:%d: %s", name, le.Line, le.Message)}
		}
		return nil, "", &CompileError{Message: name + ": " + err.Error()}
	}
	if len(outer.FunctionPrototypes) != 1 {
		return nil, "", &CompileError{Message: name + ": cannot compile: unexpected chunk shape"}
	}
	inner := outer.FunctionPrototypes[0]
	dropArg(inner)
	key := make([]byte, len(inner.DbgUpvalues))
	for i, up := range inner.DbgUpvalues {
		idx := -1
		for j, h := range hiddenNames {
			if up == h {
				idx = j
			}
		}
		if idx < 0 {
			return nil, "", &CompileError{Message: fmt.Sprintf("%s: cannot compile: unexpected upvalue %q", name, up)}
		}
		key[i] = byte(idx)
	}
	return inner, string(key), nil
}

// dropArg turns off Lua 5.1's compatibility `arg` table in every vararg function of p, as in
// Lua 5.2: gopher-lua would build one (with a 2 KiB map for its `n`) on every call of a
// function that does not use `...`, and for every run of the main chunk.
func dropArg(p *lua.FunctionProto) {
	p.IsVarArg &^= lua.VarArgNeedsArg
	for _, c := range p.FunctionPrototypes {
		dropArg(c)
	}
}

// parseError turns gopher-lua's parse error into Lua's form: "name:line: message near 'token'".
func parseError(name, src string, err error) error {
	var pe *parse.Error
	if !errors.As(err, &pe) {
		return &CompileError{Message: name + ": " + strings.TrimSpace(err.Error())}
	}
	msg := strings.TrimSpace(pe.Message)
	line := pe.Pos.Line
	near := "'" + pe.Token + "'"
	if line <= 0 { // at end of input
		line = strings.Count(src, "\n") + 1
		near = "<eof>"
	}
	return &CompileError{Line: line, Message: fmt.Sprintf("%s:%d: %s near %s", name, line, msg, near)}
}

// stopReader feeds the parser, asking stop before each read (gopher-lua reads 4 KiB at a
// time), so a long parse ends when the run's time does. It then reports the end of the input:
// the caller looks at err, whatever the parser made of the truncated source.
type stopReader struct {
	r    io.Reader
	stop func() error
	err  error
}

func (s *stopReader) Read(p []byte) (int, error) {
	if s.stop != nil && s.err == nil {
		s.err = s.stop()
	}
	if s.err != nil {
		return 0, io.EOF
	}
	return s.r.Read(p)
}
