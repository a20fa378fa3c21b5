package proc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Handler that keeps what it was given, and says when it got something.
type recorder struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
	refuse  error // SubmitAction's answer
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) add(line string) {
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) Log(level slog.Level, msg string) { r.add("log " + level.String() + " " + msg) }
func (r *recorder) Alert(m, code, desc string)       { r.add("alert " + m + "|" + code + "|" + desc) }
func (r *recorder) SubmitAction(_ context.Context, dest, action string, msg any) error {
	r.add(fmt.Sprintf("action %s %s %v", dest, action, msg))
	return r.refuse
}
func (r *recorder) SubmitMessage(_ context.Context, msg any) error {
	r.add(fmt.Sprintf("message %v", msg))
	return nil
}

// waitFor waits until a recorded line contains want.
func (r *recorder) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		for _, l := range r.lines {
			if strings.Contains(l, want) {
				r.mu.Unlock()
				return
			}
		}
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("no line with %q in %q", want, r.snapshot())
		}
	}
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH: python services cannot run here")
	}
}

func launch(t *testing.T, class string, h Handler) *Process {
	t.Helper()
	code, err := os.ReadFile("testdata/" + class + ".py")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Launch(context.Background(), Config{Dir: t.TempDir(), Kind: KindPython, Class: class, Code: string(code), ID: strings.ToLower(class) + "_py",
		Settings: map[string]any{"nodeName": "pi-1", "tags": []string{"gpio"}, "solution": "plant", "flow": "readings"},
		Static:   map[string]any{"gpio_pin": 4}, Security: map[string]string{"api_key": "s3cret-value"}, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill(); <-p.Exited() })
	return p
}

// TestSeedExample: the documentation's example class runs unchanged: Start logs Started, Stop
// logs Stopped, and the process ends.
func TestSeedExample(t *testing.T) {
	needPython(t)
	r := newRecorder()
	p := launch(t, "YOUR_SERVICE_NAME", r)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "log DEBUG Started")
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	r.waitFor(t, "log DEBUG Stopped")
	if got := r.snapshot(); len(got) != 2 {
		t.Fatalf("recorded %q; want Started and Stopped only", got)
	}
}

// TestBuiltins: properties and settings, SubmitMessage in order (a JSON string sent as its
// JSON), SubmitAction, ThrowError, Warning, print to the log; an unknown action is an error.
func TestBuiltins(t *testing.T) {
	needPython(t)
	r := newRecorder()
	p := launch(t, "Gauge", r)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "log DEBUG Started on pi-1 pin 4")
	r.waitFor(t, "message map[n:5 pin:4]")
	var msgs []string
	for _, l := range r.snapshot() {
		if strings.HasPrefix(l, "message ") {
			msgs = append(msgs, l)
		}
	}
	if want := "message map[n:1 pin:4]"; len(msgs) != 5 || msgs[0] != want {
		t.Fatalf("messages %q; want 5 in order", msgs)
	}
	ctx := context.Background()
	if err := p.Action(ctx, "ping", "hello"); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "log DEBUG ping received hello")
	r.waitFor(t, "action other_py pong map[got:hello]")
	r.refuse = errors.New("no service other_py on this node")
	if err := p.Action(ctx, "ping", "again"); err == nil || !strings.Contains(err.Error(), "no service other_py") {
		t.Fatalf("an action whose SubmitAction was refused: %v", err)
	}
	if err := p.Action(ctx, "alarm", nil); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "alert Unable to read GPIO|666|key length 12")
	if err := p.Action(ctx, "nothing_here", nil); err == nil || !strings.Contains(err.Error(), "no method 'nothing_here'") {
		t.Fatalf("unknown action: %v", err)
	}
	if err := p.Action(ctx, "__init__", nil); err == nil {
		t.Fatal("a private method was callable as an action")
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "log WARN Stopping")
	for _, l := range r.snapshot() {
		if strings.Contains(l, "s3cret-value") {
			t.Fatalf("the security value reached the log: %q", l)
		}
	}
}

// TestStopDeadline: a Stop that never returns is killed at the deadline.
func TestStopDeadline(t *testing.T) {
	needPython(t)
	r := newRecorder()
	p := launch(t, "Stuck", r)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "Started")
	start := time.Now()
	if err := p.Stop(300 * time.Millisecond); !errors.Is(err, ErrKilled) {
		t.Fatalf("stop: %v; want ErrKilled", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("the process still runs after the kill")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("stop took %s", took)
	}
}

// TestBadService: a service whose code does not load is an error of Launch naming why; a
// process that writes an endless line is ended; nothing of the hub's environment reaches it.
func TestBadService(t *testing.T) {
	needPython(t)
	_, err := Launch(context.Background(), Config{Dir: t.TempDir(), Kind: KindPython, Class: "Broken", Code: "class Broken(:\n", ID: "b", Handler: newRecorder()})
	if err == nil || !strings.Contains(err.Error(), "SyntaxError") {
		t.Fatalf("broken code: %v", err)
	}
	_, err = Launch(context.Background(), Config{Dir: t.TempDir(), Kind: KindPython, Class: "Other", Code: "class Something: pass\n", ID: "o", Handler: newRecorder()})
	if err == nil || !strings.Contains(err.Error(), "Other") {
		t.Fatalf("class not in its file: %v", err)
	}

	t.Setenv("SWITCHBOARD_ADMIN_TOKEN", "admin-token-of-the-hub")
	r := newRecorder()
	script := "#!/bin/sh\nread init\necho '{\"op\":\"done\",\"seq\":1}'\nenv >&2\nhead -c 3000000 /dev/zero | tr '\\0' x\necho\nsleep 30\n"
	p, err := Launch(context.Background(), Config{Dir: t.TempDir(), Kind: KindProcess, Class: "Flood", Code: script, ID: "f", Handler: r, MaxLine: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		p.kill()
		t.Fatal("a process writing an endless line was not ended")
	}
	r.waitFor(t, "its process is ended")
	for _, l := range r.snapshot() {
		if strings.Contains(l, "admin-token-of-the-hub") {
			t.Fatal("the hub's environment reached the service")
		}
	}
}

// TestRelativeDir: an instance folder given relative to the working directory (an agent's
// --data ./agent) works: the child runs there and is given absolute paths.
func TestRelativeDir(t *testing.T) {
	needPython(t)
	code, err := os.ReadFile("testdata/YOUR_SERVICE_NAME.py")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("agent/instances/x", 0o700); err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	p, err := Launch(context.Background(), Config{Dir: "agent/instances/x", Kind: KindPython, Class: "YOUR_SERVICE_NAME", Code: string(code), ID: "x", Handler: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "log DEBUG Started")
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}
