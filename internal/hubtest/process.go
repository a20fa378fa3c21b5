package hubtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
)

// childEnv carries the config of a hub run in a child process (see StartProcess).
const childEnv = "SWITCHBOARD_HUBTEST_CHILD"

// childReady is what a child process prints once its hub serves, before its address.
const childReady = "hubtest-child-ready "

// ServeIfChild runs a hub and never returns when this process was started by StartProcess;
// otherwise it returns at once. A test package using StartProcess calls it first thing in
// TestMain.
func ServeIfChild() {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return
	}
	var cfg hub.Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "hubtest child: config:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := hub.New(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubtest child: config:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err = h.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubtest child: start:", err)
		os.Exit(2)
	}
	fmt.Println(childReady + h.Addr())
	// The parent holds stdin open while it wants the hub; its end (the parent closing it, or
	// dying) closes the hub.
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // any end is the end
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "hubtest child: close:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// StartProcess runs a hub in a child process (this test binary again, whose TestMain calls
// ServeIfChild), so that Kill can stop it as a crash would: no lease given up, no connection
// closed politely, nothing flushed but what the kernel has. Restart then starts an in-process
// hub on the same data directory and port. opts change the config as for Start.
func StartProcess(t testing.TB, opts ...func(*hub.Config)) *Server {
	t.Helper()
	cfg := testConfig(t, FreeAddr(t))
	for _, o := range opts {
		o(&cfg)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("hubtest child config: %v", err)
	}
	s := &Server{cfg: cfg, DataDir: cfg.DataDir, AdminToken: cfg.AdminToken, Logs: &LogBuffer{}}
	ready := make(chan string, 1)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	cmd.Stdout = &readyWatch{ready: ready}
	cmd.Stderr = s.Logs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hub process: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // how it ended is in its output, or was asked for
		close(exited)
	}()
	s.proc = &process{cmd: cmd, stdin: stdin, exited: exited}
	t.Cleanup(func() { s.Close(t) })
	select {
	case addr := <-ready:
		s.URL = "http://" + addr
		s.cfg.Addr = addr
	case <-exited:
		s.closed = true
		t.Fatalf("hub process ended before serving (does TestMain call hubtest.ServeIfChild?): %s", lastLines(s.Logs.String(), 20))
	case <-time.After(time.Minute):
		t.Fatalf("hub process not serving within a minute: %s", lastLines(s.Logs.String(), 20))
	}
	return s
}

// process is a hub running in a child process.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}
}

// Kill ends a hub started by StartProcess with SIGKILL and waits for the process to go.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if s.proc == nil {
		t.Fatal("Kill: the hub does not run in a process of its own (see StartProcess)")
	}
	if s.closed {
		return
	}
	s.closed = true
	if err := s.proc.cmd.Process.Kill(); err != nil {
		t.Errorf("kill hub process: %v", err)
	}
	<-s.proc.exited
	s.proc.stdin.Close()
	s.proc = nil
}

// stop asks the child to close its hub (by closing its stdin) and waits, killing it after
// a while.
func (p *process) stop(t testing.TB) {
	t.Helper()
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("hub process still running 30s after it was asked to stop: killed")
		p.cmd.Process.Kill() //nolint:errcheck // gone already, at worst
		<-p.exited
	}
}

// readyWatch passes on the address a child prints once it serves.
type readyWatch struct {
	ready chan<- string
	buf   []byte
}

func (w *readyWatch) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		line, rest, ok := strings.Cut(string(w.buf), "\n")
		if !ok {
			break
		}
		w.buf = []byte(rest)
		if addr, ok := strings.CutPrefix(line, childReady); ok {
			select {
			case w.ready <- addr:
			default:
			}
		}
	}
	return len(p), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
