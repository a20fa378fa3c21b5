//go:build unix

package doctest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/script"
)

// sessionTimeout bounds one file's blocks; the whole test must stay well under a minute.
const sessionTimeout = 45 * time.Second

var (
	binDir string // where the test's binaries are built

	buildMu  sync.Mutex
	builtBin = map[string]string{} // package → binary
	buildErr = map[string]error{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchboard-doctest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// build compiles the main package pkg (./cmd/switchboard, ./examples/NAME) once per test run.
func build(t *testing.T, root, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := builtBin[pkg]; ok {
		return bin
	}
	if err, ok := buildErr[pkg]; ok {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr[pkg] = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		t.Fatal(buildErr[pkg])
	}
	builtBin[pkg] = bin
	return bin
}

// TestDocs runs every code block of README.md, docs/*.md and docs/*/*.md, each file on its own
// server.
func TestDocs(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the documentation's examples need %s, which is not installed: %v", tool, err)
		}
	}
	root := repoRoot(t)
	var files []string
	for _, pattern := range []string{"*.md", "*/*.md"} {
		fs, err := filepath.Glob(filepath.Join(root, "docs", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	sort.Strings(files)
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	bin := build(t, root, "./cmd/switchboard")
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			runDocs(t, root, bin, rel)
		})
	}
	// A reader who follows the README and then the dynamic-services walkthrough on the same
	// server must not trip over names the first one took.
	t.Run("README.md+docs/dynamic-services.md", func(t *testing.T) {
		t.Parallel()
		runDocs(t, root, bin, "README.md", "docs/dynamic-services.md")
	})
}

// counts is what happened to a file's blocks, for the report.
type counts map[string]int

func (c counts) String() string {
	return fmt.Sprintf("%d run, %d lua compiled, %d text, %d skipped, %d replaced by a started example",
		c[kindShell]+c[kindConsole], c[kindLua], c[kindText], c[kindSkip], c[kindExample])
}

// runDocs runs the blocks of files, in order, in one session against one fresh server.
func runDocs(t *testing.T, root, bin string, files ...string) {
	var blocks []block
	for _, f := range files {
		text, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		bs, err := parseMarkdown(f, string(text))
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, bs...)
	}
	for _, note := range applyNeeds(blocks, missing) {
		t.Log(note)
	}
	seen := counts{}
	var examples []string
	for i := range blocks {
		b := &blocks[i]
		k, err := b.kind()
		if err != nil {
			t.Fatal(err)
		}
		seen[k]++
		switch k {
		case kindLua:
			if _, err := script.Compile(b.file, strings.Join(b.lines, "\n")); err != nil {
				at := b.line
				if ce, ok := errors.AsType[*script.CompileError](err); ok && ce.Line > 0 {
					at = b.line + ce.Line
				}
				t.Errorf("%s:%d (block %d): the Lua does not compile: %v", b.file, at, b.n, err)
			}
		case kindExample:
			examples = append(examples, b.marker.example)
		}
	}
	defer func() { t.Logf("%s: %d blocks: %s", strings.Join(files, "+"), len(blocks), seen) }()
	if seen[kindShell]+seen[kindConsole]+seen[kindExample] == 0 {
		return
	}

	work := t.TempDir()
	srv := startServer(t, bin, filepath.Join(work, "data"))
	for _, name := range examples {
		startExample(t, build(t, root, "./examples/"+name), name, srv, t.TempDir())
	}
	sess, err := buildSession(blocks, srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(sess.blocks) == 0 {
		return
	}
	tools := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(tools, "switchboard")); err != nil {
		t.Fatal(err)
	}
	scriptFile, failFile, atFile := filepath.Join(tools, "session.sh"), filepath.Join(tools, "failed"), filepath.Join(tools, "at")
	if err := os.WriteFile(scriptFile, []byte(sess.script), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", scriptFile)
	cmd.Dir = work
	cmd.Env = append(cleanEnv(),
		"PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SWITCHBOARD_SERVER=http://"+srv.addr,
		"DOCTEST_BINARY="+bin,
		"DOCTEST_FAIL="+failFile,
		"DOCTEST_AT="+atFile,
	)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	// The session's own background jobs die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck // usually gone already
	}

	o := cutOutput(out.String())
	for i, st := range sess.steps {
		got, ran := o.stepOut[i]
		if !ran {
			break
		}
		if msg := checkStep(st, got, o.stepRC[i]); msg != "" {
			t.Errorf("%s:%d (block %d): %s", st.block.file, st.line, st.block.n, msg)
		}
	}
	if runErr == nil {
		return
	}
	if ctx.Err() != nil {
		t.Errorf("the blocks did not finish within %v: %s (a long-running command needs <!-- doctest: skip (reason) -->)\nthe last block that started:\n%s",
			sessionTimeout, running(sess, atFile), lastBlock(sess, o))
		return
	}
	t.Errorf("%s\nthe server's log:\n%s", failure(sess, o, failFile, runErr), tail(srv.logs.String(), 3000))
}

// checkStep says what is wrong with a step's output, or "".
func checkStep(st step, got string, rc int) string {
	if len(st.expect) == 0 {
		if rc != 0 {
			return fmt.Sprintf("`%s` exited %d; the document shows no output, so it must succeed; it printed:\n%s", st.command, rc, indent(got))
		}
		return ""
	}
	if expectRE(st.expect).MatchString(got) {
		return ""
	}
	return fmt.Sprintf("`%s` printed\n%s\nwhich lacks what the document shows (in order; … is any text):\n%s", st.command, indent(got), indent(strings.Join(st.expect, "\n")))
}

// failure describes the command that ended the session.
func failure(sess *session, o outcome, failFile string, runErr error) string {
	b, err := os.ReadFile(failFile)
	parts := strings.SplitN(string(b), "\n", 3)
	if err != nil || len(parts) < 3 {
		return fmt.Sprintf("the session failed (%v) and did not say where; the last block that started:\n%s", runErr, lastBlock(sess, o))
	}
	line := atoi(parts[1])
	cmdText := strings.TrimSpace(parts[2])
	if line < 1 || line > len(sess.src) || sess.src[line-1] == nil {
		return fmt.Sprintf("`%s` exited %s (%v); the last block that started:\n%s", cmdText, parts[0], runErr, lastBlock(sess, o))
	}
	b0 := sess.src[line-1]
	return fmt.Sprintf("%s:%d (block %d): `%s` exited %s; the block printed:\n%s",
		b0.file, sess.doc[line-1], b0.n, cmdText, parts[0], indent(blockOutput(sess, o, b0)))
}

// running names the command the session was running when it was stopped.
func running(sess *session, atFile string) string {
	b, err := os.ReadFile(atFile)
	parts := strings.SplitN(string(b), "\n", 2)
	if err != nil || len(parts) < 2 {
		return "no command had started"
	}
	line, cmdText := atoi(parts[0]), strings.TrimSpace(parts[1])
	if line < 1 || line > len(sess.src) || sess.src[line-1] == nil {
		return fmt.Sprintf("`%s` was running", cmdText)
	}
	b0 := sess.src[line-1]
	return fmt.Sprintf("%s:%d (block %d): `%s` was running", b0.file, sess.doc[line-1], b0.n, cmdText)
}

func blockOutput(sess *session, o outcome, b *block) string {
	for i, sb := range sess.blocks {
		if sb == b {
			return o.blockOut[i]
		}
	}
	return ""
}

func lastBlock(sess *session, o outcome) string {
	if o.last < 0 {
		return "(none)"
	}
	b := sess.blocks[o.last]
	return fmt.Sprintf("%s, which printed:\n%s", b.where(), indent(o.blockOut[o.last]))
}

func indent(s string) string {
	s = strings.TrimRight(markRE.ReplaceAllString(s, "\n"), "\n")
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// cleanEnv is the test's environment without SWITCHBOARD_* settings, which would change what
// the documented commands do.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") && !strings.HasPrefix(kv, "DOCTEST_") {
			env = append(env, kv)
		}
	}
	return env
}

// server is a switchboard process started for one file.
type server struct {
	addr     string
	data     string
	regToken string
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process runs cmd until the test ends and returns once a line of its output matches ready,
// with the match's first group.
func process(t *testing.T, what string, cmd *exec.Cmd, ready *regexp.Regexp, logs *syncBuffer) string {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // how it ended is in its log
		pw.Close()
		close(done)
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n")) //nolint:errcheck // memory
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr) //nolint:errcheck // keep the process from blocking on a full pipe
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have exited
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // last resort
			<-done
		}
	})
	select {
	case v := <-found:
		return v
	case <-done:
		t.Fatalf("%s exited before it was ready:\n%s", what, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready after 30s:\n%s", what, logs)
	}
	return ""
}

var readyRE = regexp.MustCompile(`switchboard ready.*addr=http://(\S+)`)

// startServer runs `switchboard serve` on a free port with its state in data, where it writes
// its tokens as on a reader's first start.
func startServer(t *testing.T, bin, data string) *server {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Dir = filepath.Dir(data)
	cmd.Env = append(cleanEnv(), "SWITCHBOARD_LOG_LEVEL=info")
	s := &server{data: data, logs: &syncBuffer{}}
	s.addr = process(t, "switchboard serve", cmd, readyRE, s.logs)
	reg, err := os.ReadFile(filepath.Join(data, "registration-token"))
	if err != nil {
		t.Fatalf("the server wrote no registration token: %v", err)
	}
	s.regToken = strings.TrimSpace(string(reg))
	return s
}

var registeredRE = regexp.MustCompile(`servicekit: registered.*service=(\S+)`)

// startExample runs examples/<name> against srv and waits until it has registered.
func startExample(t *testing.T, bin, name string, srv *server, dir string) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(),
		"PORT="+port,
		"SERVICE_HOST=127.0.0.1",
		"SWITCHBOARD_URL=http://"+srv.addr,
		"SWITCHBOARD_REGISTRATION_TOKEN="+srv.regToken,
		"SWITCHBOARD_SERVICE_TOKEN_FILE="+filepath.Join(dir, name+".token"),
	)
	logs := &syncBuffer{}
	if got := process(t, "examples/"+name, cmd, registeredRE, logs); got != name {
		t.Fatalf("examples/%s registered as %q", name, got)
	}
}

// freePort is a port nothing listened on a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return "", errors.New("find a free port: " + err.Error())
	}
	return port, nil
}
