// Package proc runs a hosted service of kind python or process as a child process, speaking
// the process protocol with it: JSON lines, the orchestrator's requests on the child's
// standard input, the child's answers and requests on its standard output; what it writes on
// standard error is logged. A python service runs under switchboard_runner.py with
// base_service.py's CustomService, whose method names are microServiceBus.com's; a process
// service is any executable speaking the same lines.
package proc

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed python/base_service.py python/switchboard_runner.py
var pythonFiles embed.FS

// Kinds this package runs.
const (
	KindPython  = "python"
	KindProcess = "process"
)

// Bounds and defaults.
const (
	DefaultMaxLine     = 1 << 20
	DefaultInitTimeout = 30 * time.Second
	// requestTimeout bounds how long a child's request (SubmitAction, SubmitMessage) may wait
	// for the orchestrator: the child waits for its answer.
	requestTimeout = 30 * time.Second
	maxStderrLine  = 4 << 10
)

// Handler is what the child's requests reach: the orchestrator on its node.
type Handler interface {
	Log(level slog.Level, msg string)
	Alert(message, faultCode, faultDescription string)
	SubmitAction(ctx context.Context, destination, action string, message any) error
	SubmitMessage(ctx context.Context, message any) error
}

// Config says what to run.
type Config struct {
	// Dir is where the instance's files are written; it must exist, and is the child's
	// working directory.
	Dir  string
	Kind string
	// Class is the service's name: a python service's class, and the name of its file.
	Class string
	Code  string
	// ID is the instance's name, the first argument of CustomService's constructor.
	ID       string
	Settings map[string]any
	Static   map[string]any
	Security map[string]string
	// Python is the interpreter of python services; "" is python3.
	Python  string
	Handler Handler
	// MaxLine bounds a line the child writes; a longer one ends it. 0 is DefaultMaxLine.
	MaxLine int
}

// Process is a running child.
type Process struct {
	cfg  Config
	cmd  *exec.Cmd
	wmu  sync.Mutex
	in   io.WriteCloser
	seq  int64
	mu   sync.Mutex
	wait map[int64]chan reply
	// exited is closed once the child has exited and its output is read.
	exited  chan struct{}
	exitErr error
}

type reply struct {
	err error
}

// Launch writes the service's files into cfg.Dir, starts the child and has it make the
// service (its constructor runs); it returns once the child said it is ready, or failed.
func Launch(ctx context.Context, cfg Config) (*Process, error) {
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	// The child runs in Dir: the paths it is given must not be relative to where we are.
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", cfg.ID, err)
	}
	cfg.Dir = dir
	var argv []string
	file := ""
	switch cfg.Kind {
	case KindPython:
		for _, name := range []string{"base_service.py", "switchboard_runner.py"} {
			b, _ := pythonFiles.ReadFile("python/" + name)
			if err := os.WriteFile(filepath.Join(cfg.Dir, name), b, 0o600); err != nil {
				return nil, fmt.Errorf("launch %s: %w", cfg.ID, err)
			}
		}
		file = filepath.Join(cfg.Dir, cfg.Class+".py")
		if err := os.WriteFile(file, []byte(cfg.Code), 0o600); err != nil {
			return nil, fmt.Errorf("launch %s: %w", cfg.ID, err)
		}
		argv = []string{cmpOr(cfg.Python, "python3"), "-u", "switchboard_runner.py"}
	case KindProcess:
		file = filepath.Join(cfg.Dir, "service")
		if err := os.WriteFile(file, []byte(cfg.Code), 0o700); err != nil {
			return nil, fmt.Errorf("launch %s: %w", cfg.ID, err)
		}
		argv = []string{file}
	default:
		return nil, fmt.Errorf("launch %s: kind %q is not run as a process", cfg.ID, cfg.Kind)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cfg.Dir
	// The hub's environment holds its tokens: the child gets only what a program needs.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cfg.Dir, "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errOut, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("launch %s: %w", cfg.ID, err)
	}
	p := &Process{cfg: cfg, cmd: cmd, in: in, wait: map[int64]chan reply{}, exited: make(chan struct{})}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); p.readOut(out) }()
	go func() { defer readers.Done(); p.readErr(errOut) }()
	go func() {
		readers.Wait()
		p.exitErr = cmd.Wait()
		p.mu.Lock()
		for seq, ch := range p.wait {
			ch <- reply{err: fmt.Errorf("the service's process ended: %v", exitText(p.exitErr))}
			delete(p.wait, seq)
		}
		p.mu.Unlock()
		close(p.exited)
	}()
	init := map[string]any{"op": "init", "file": file, "class": cfg.Class, "id": cfg.ID,
		"config": map[string]any{"settings": orEmpty(cfg.Settings), "static": orEmpty(cfg.Static), "security": cfg.Security}}
	ictx, cancel := context.WithTimeout(ctx, DefaultInitTimeout)
	defer cancel()
	if err := p.call(ictx, init); err != nil {
		p.kill()
		return nil, fmt.Errorf("start %s: %w", cfg.ID, err)
	}
	return p, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// send writes one message, giving it the next sequence number when it wants an answer.
func (p *Process) send(msg map[string]any, answer chan reply) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if answer != nil {
		p.mu.Lock()
		p.seq++
		msg["seq"] = p.seq
		p.wait[p.seq] = answer
		p.mu.Unlock()
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	_, err = p.in.Write(append(b, '\n'))
	return err
}

// call sends msg and waits for the child's done.
func (p *Process) call(ctx context.Context, msg map[string]any) error {
	ch := make(chan reply, 1)
	if err := p.send(msg, ch); err != nil {
		return fmt.Errorf("the service's process does not read its input: %w", err)
	}
	select {
	case r := <-ch:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start calls the service's Start, which may run as long as it likes: it returns at once, and
// a Start that fails is logged.
func (p *Process) Start() error {
	ch := make(chan reply, 1)
	if err := p.send(map[string]any{"op": "start"}, ch); err != nil {
		return err
	}
	go func() {
		select {
		case r := <-ch:
			if r.err != nil {
				p.cfg.Handler.Log(slog.LevelError, "Start failed: "+r.err.Error())
			}
		case <-p.exited:
		}
	}()
	return nil
}

// Action calls the service's method action with message, and waits until it returned.
func (p *Process) Action(ctx context.Context, action string, message any) error {
	return p.call(ctx, map[string]any{"op": "action", "action": action, "message": message})
}

// ErrKilled is a Stop that did not end the child by its deadline: it was killed.
var ErrKilled = errors.New("the service did not stop by its deadline and was killed")

// Stop calls the service's Stop and waits for the child to end, up to deadline; past it, the
// child and what it started are killed (ErrKilled).
func (p *Process) Stop(deadline time.Duration) error {
	t := time.NewTimer(deadline)
	defer t.Stop()
	_ = p.send(map[string]any{"op": "stop"}, make(chan reply, 1))
	select {
	case <-p.exited:
		return nil
	case <-t.C:
		p.kill()
		<-p.exited
		return ErrKilled
	}
}

// Exited is closed once the child has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// kill ends the child's process group.
func (p *Process) kill() {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck // gone already is fine
	}
	p.in.Close()
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// wire is a line of the child's.
type wire struct {
	Op               string          `json:"op"`
	Seq              int64           `json:"seq"`
	Error            string          `json:"error"`
	Trace            string          `json:"trace"`
	Level            string          `json:"level"`
	Message          json.RawMessage `json:"message"`
	Destination      string          `json:"destination"`
	Action           string          `json:"action"`
	FaultCode        *string         `json:"fault_code"`
	FaultDescription *string         `json:"fault_description"`
}

// readOut handles the child's lines in order: its requests are answered one at a time, so
// what it submits keeps its order.
func (p *Process) readOut(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), p.cfg.MaxLine)
	for sc.Scan() {
		var w wire
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			p.cfg.Handler.Log(slog.LevelWarn, "the service wrote a line that is not the protocol's JSON: "+clip(sc.Text(), 200))
			continue
		}
		p.handle(w)
	}
	if err := sc.Err(); err != nil {
		p.cfg.Handler.Log(slog.LevelError, fmt.Sprintf("the service's output was not read on (%v); its process is ended", err))
		p.kill()
		io.Copy(io.Discard, r) //nolint:errcheck // draining until the process is gone
	}
}

func (p *Process) handle(w wire) {
	h := p.cfg.Handler
	switch w.Op {
	case "done":
		p.mu.Lock()
		ch, ok := p.wait[w.Seq]
		delete(p.wait, w.Seq)
		p.mu.Unlock()
		if ok {
			var err error
			if w.Error != "" {
				err = errors.New(w.Error)
				if w.Trace != "" {
					h.Log(slog.LevelDebug, strings.TrimSpace(w.Trace))
				}
			}
			ch <- reply{err: err}
		}
	case "log":
		level := slog.LevelDebug
		if w.Level == "warning" {
			level = slog.LevelWarn
		}
		h.Log(level, text(w.Message))
	case "error":
		h.Alert(text(w.Message), deref(w.FaultCode), deref(w.FaultDescription))
	case "submit_action", "submit_message":
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		var err error
		msg := value(w.Message)
		if w.Op == "submit_action" {
			err = h.SubmitAction(ctx, w.Destination, w.Action, msg)
		} else {
			err = h.SubmitMessage(ctx, msg)
		}
		cancel()
		answer := map[string]any{"op": "reply", "seq": w.Seq}
		if err != nil {
			answer["error"] = err.Error()
		}
		_ = p.send(answer, nil)
	default:
		h.Log(slog.LevelWarn, fmt.Sprintf("the service sent an unknown op %q", clip(w.Op, 40)))
	}
}

// value is a message as the child sent it; a string holding a JSON object or array is that
// JSON (the seed's services send json.dumps of their payload).
func value(raw json.RawMessage) any {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	if s, ok := v.(string); ok {
		t := strings.TrimSpace(s)
		if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(t)) {
			var inner any
			if json.Unmarshal([]byte(t), &inner) == nil {
				return inner
			}
		}
	}
	return v
}

func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// readErr logs what the child writes on standard error (its print()s), a line at a time.
// A line longer than maxStderrLine is logged in pieces: what the child writes is never held
// whole.
func (p *Process) readErr(r io.Reader) {
	br := bufio.NewReaderSize(r, maxStderrLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			p.cfg.Handler.Log(slog.LevelDebug, strings.TrimRight(string(line), "\r\n"))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
