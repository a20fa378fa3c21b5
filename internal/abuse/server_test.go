package abuse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary is the switchboard built for this run; empty when it could not be built.
var (
	binary   string
	buildErr error
)

func TestMain(m *testing.M) {
	if runtime.GOOS != "linux" {
		fmt.Println("abuse: skipped, the measurements read /proc")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "switchboard-abuse-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary, buildErr = build(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles cmd/switchboard without the race detector: the figures must be those of the
// binary users run.
func build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "switchboard")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/switchboard")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	return bin, nil
}

const adminToken = "abuse-admin-token-0123456789"

// server is one switchboard process.
type server struct {
	URL      string
	Addr     string // host:port of the HTTP listener
	RegToken string
	cmd      *exec.Cmd
	pid      int
	logs     *lockedBuffer
	done     chan struct{}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var readyLine = regexp.MustCompile(`switchboard ready.*addr=http://(\S+)`)

// start runs `switchboard serve` on a free port with its own data directory, with extra flags;
// the process is stopped when the test ends.
func start(t *testing.T, flags ...string) *server {
	t.Helper()
	return launch(t, t.TempDir(), "127.0.0.1:0", flags...)
}

// launch runs `switchboard serve` on addr with the data directory data, with extra flags;
// the process is stopped when the test ends.
func launch(t *testing.T, data, addr string, flags ...string) *server {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("build switchboard: %v", buildErr)
	}
	args := append([]string{"serve", "--addr", addr, "--data", data,
		"--admin-token", adminToken, "--registration-token", "abuse-registration-token-0123456789"}, flags...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "SWITCHBOARD_LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &lockedBuffer{}, done: make(chan struct{}), RegToken: "abuse-registration-token-0123456789"}
	cmd.Stdout = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start switchboard: %v", err)
	}
	s.pid = cmd.Process.Pid
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.Write([]byte(line + "\n")) //nolint:errcheck // memory
			if m := readyLine.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(s.done) }() //nolint:errcheck // the exit is looked at through done
	t.Cleanup(func() { s.stop(t) })
	select {
	case addr := <-ready:
		s.Addr, s.URL = addr, "http://"+addr
	case <-s.done:
		t.Fatalf("switchboard exited before it was ready:\n%s", s.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("switchboard not ready after 60s:\n%s", s.logs)
	}
	return s
}

func (s *server) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have exited
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill() //nolint:errcheck // last resort
		<-s.done
		t.Errorf("switchboard did not stop within 20s of SIGINT")
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would, and waits for it
// to be gone.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill switchboard: %v", err)
	}
	<-s.done
}

// alive fails the test when the process has exited (a crash, an OOM kill).
func (s *server) alive(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		t.Fatalf("switchboard exited (%v); its last logs:\n%s", s.cmd.ProcessState, tail(s.logs.String(), 4000))
	default:
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// status reads a field of /proc/PID/status in bytes (VmHWM, VmRSS).
func (s *server) status(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		t.Fatalf("read status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("parse %s %q: %v", field, v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, s.pid)
	return 0
}

// peak is the most the process has held since it started (VmHWM).
func (s *server) peak(t *testing.T) int64 { return s.status(t, "VmHWM") }

// cpu is the CPU time the process has used (user + system).
func (s *server) cpu(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		t.Fatalf("read stat: %v", err)
	}
	// The command name may hold spaces: fields start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clkTck
}

// busy is the CPU the process uses over window, measured after it had settle to stop what
// it was doing.
func (s *server) busy(t *testing.T, settle, window time.Duration) time.Duration {
	t.Helper()
	time.Sleep(settle) // the bound under test: how soon work stops after its client left
	before := s.cpu(t)
	time.Sleep(window) // a measurement window, not a synchronisation
	return s.cpu(t) - before
}

// response is an answer read whole.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	Took   time.Duration
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.Status, truncate(string(r.Body), 300))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

var client = &http.Client{Timeout: 2 * time.Minute}

// do sends a request with a bearer token (none when empty); body is nil, []byte, string or
// anything else sent as JSON.
func (s *server) do(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	r, err := s.try(context.Background(), method, path, token, body, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (s *server) try(ctx context.Context, method, path, token string, body any, header http.Header) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b, Took: time.Since(began)}, nil
}

// solution creates a solution, optionally with limits, and returns its token.
func (s *server) solution(t *testing.T, id string, limits map[string]any) string {
	t.Helper()
	r := s.do(t, "POST", "/api/v1/solutions", adminToken, map[string]any{"id": id})
	if r.Status != http.StatusCreated {
		t.Fatalf("create solution %s: %s", id, r)
	}
	var out struct{ Token string }
	json.Unmarshal(r.Body, &out) //nolint:errcheck // checked below
	if limits != nil {
		if r := s.do(t, "PATCH", "/api/v1/solutions/"+id, adminToken, map[string]any{"limits": limits}); r.Status != http.StatusOK {
			t.Fatalf("set limits of %s: %s", id, r)
		}
	}
	return out.Token
}

// endpoint deploys an endpoint, failing the test unless it is accepted.
func (s *server) endpoint(t *testing.T, sol, method, path, script string) {
	t.Helper()
	r := s.do(t, "POST", "/api/v1/solutions/"+sol+"/endpoints", adminToken,
		map[string]any{"method": method, "path": path, "script": script})
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("deploy %s %s on %s: %s", method, path, sol, r)
	}
}

// bystander is another solution whose endpoint is asked every interval while an attack runs;
// it records every answer that is not a quick 200.
type bystander struct {
	mu       sync.Mutex
	asked    int
	failures []string
	slowest  time.Duration
	stopped  chan struct{}
	cancel   context.CancelFunc
}

// watch starts asking GET /apps/{sol}/ping (which must answer "pong") until the returned
// bystander is stopped.
func (s *server) watch(t *testing.T, sol string) *bystander {
	t.Helper()
	s.endpoint(t, sol, "GET", "/ping", `return "pong"`)
	ctx, cancel := context.WithCancel(context.Background())
	b := &bystander{stopped: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(b.stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			r, err := s.try(rctx, "GET", "/apps/"+sol+"/ping", "", nil, nil)
			rcancel()
			if ctx.Err() != nil {
				return
			}
			b.mu.Lock()
			b.asked++
			switch {
			case err != nil:
				b.failures = append(b.failures, err.Error())
			case r.Status != http.StatusOK || string(r.Body) != "pong":
				b.failures = append(b.failures, r.String())
			}
			if err == nil && r.Took > b.slowest {
				b.slowest = r.Took
			}
			b.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return b
}

// check stops the bystander and fails the test if it was refused, failed or saw no answer.
func (b *bystander) check(t *testing.T, what string) {
	t.Helper()
	b.cancel()
	<-b.stopped
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Logf("%s: another solution answered %d times, slowest %v", what, b.asked, b.slowest.Round(time.Millisecond))
	if b.asked == 0 {
		t.Errorf("%s: another solution was never answered", what)
	}
	if len(b.failures) > 0 {
		t.Errorf("%s: another solution failed %d of %d times, first: %s", what, len(b.failures), b.asked, b.failures[0])
	}
}

const mib = 1 << 20

func mb(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/mib) }
