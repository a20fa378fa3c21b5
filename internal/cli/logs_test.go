package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/apiclient"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

func TestFormatLogEntry(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	cases := []struct {
		name string
		e    apiclient.LogEntry
		want string
	}{
		{"print", apiclient.LogEntry{Time: at, Level: "info", Source: "endpoint GET /x", Message: "hello\tworld", RequestID: "r1"},
			"2026-01-02T03:04:05.006Z  info   endpoint GET /x  hello\tworld  request_id=r1\n"},
		{"fields sorted", apiclient.LogEntry{Time: at, Level: "warn", Source: "handler h", Message: "m", Fields: map[string]any{"b": "two words", "a": 1.0, "c": "x"}},
			"2026-01-02T03:04:05.006Z  warn   handler h  m  a=1  b=\"two words\"  c=x\n"},
		{"failed run", apiclient.LogEntry{Time: at, Level: "error", Source: "endpoint GET /x", Message: "x:2: boom\nmore", ErrorID: "e1", RequestID: "r1",
			Trace: "stack traceback:\n\tx:2: in main chunk\n\t[G]: ?"},
			"2026-01-02T03:04:05.006Z  error  endpoint GET /x  x:2: boom\\nmore  request_id=r1  error_id=e1\n    stack traceback:\n    x:2: in main chunk\n    [G]: ?\n"},
	}
	for _, tc := range cases {
		if got := formatLogEntry(tc.e); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestLogsUsage(t *testing.T) {
	_, url := newFakeAPI(t)
	env := clientEnv(t, url)
	runCLI(t, env, "", "logs").check(t, ExitUsage, nil, []string{"no solution given"})
	runCLI(t, env, "", "logs", "-s", "demo", "--level", "loud").check(t, ExitUsage, nil, []string{`--level "loud"`})
	runCLI(t, env, "", "logs", "-s", "demo", "--since", "yesterday").check(t, ExitUsage, nil, []string{`--since "yesterday"`})
}

// lockedBuffer is a bytes.Buffer safe to read while a command writes to it.
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

// TestLogsAgainstServer: a script that prints and fails is called on a real server; its
// entries, the failed run's trace and the error id its caller got are shown by logs, filtered
// by level and request id, as JSON, and followed live.
func TestLogsAgainstServer(t *testing.T) {
	s := hubtest.Start(t)
	token := s.CreateSolution(t, "demo")
	s.Deploy(t, "demo", "GET", "/fail", "print(\"looking up\", request.parameters.id)\nLog.info(\"user\", {id = 42})\nerror(\"no such user\")\n")
	call := func(path, reqID string) map[string]any {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.Header.Set("X-Request-Id", reqID)
		r := s.Send(t, req)
		return r.Map(t)
	}
	answer := call("/apps/demo/fail?id=7", "cli-req-1")
	errID, _ := answer["error_id"].(string)
	if errID == "" {
		t.Fatalf("no error id in %v", answer)
	}
	sync := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Hub.Logs().Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	env := map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": token, "SWITCHBOARD_DATA": t.TempDir()}

	r := runCLI(t, env, "", "logs", "-s", "demo")
	r.check(t, 0, []string{
		"  info   endpoint GET /fail  looking up\t7  request_id=cli-req-1\n",
		"  info   endpoint GET /fail  user  id=42  request_id=cli-req-1\n",
		"  error  endpoint GET /fail  demo GET /fail:3: no such user  request_id=cli-req-1  error_id=" + errID + "\n    stack traceback:\n",
		"\n    demo GET /fail:3: in main chunk\n",
	}, nil)
	if n := strings.Count(r.stdout, "endpoint GET /fail"); n != 3 {
		t.Errorf("%d entries shown, want 3:\n%s", n, r.stdout)
	}
	r = runCLI(t, env, "", "logs", "-s", "demo", "--level", "error", "--since", "10m")
	r.check(t, 0, []string{"error_id=" + errID}, nil)
	if strings.Contains(r.stdout, "looking up") {
		t.Errorf("--level error shows info entries:\n%s", r.stdout)
	}
	if r = runCLI(t, env, "", "logs", "-s", "demo", "--request-id", "nope"); r.stdout != "" {
		t.Errorf("another request's entries shown:\n%s", r.stdout)
	}
	r = runCLI(t, env, "", "logs", "-s", "demo", "--level", "error", "-o", "json")
	r.check(t, 0, nil, nil)
	var e apiclient.LogEntry
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e.ErrorID != errID || e.Line != 3 || !strings.Contains(e.Trace, "stack traceback") {
		t.Errorf("-o json: %v %+v\n%s", err, e, r.stdout)
	}
	// Another solution's token cannot read this log.
	other := s.CreateSolution(t, "other")
	runCLI(t, map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": other, "SWITCHBOARD_DATA": t.TempDir()}, "", "logs", "-s", "demo").
		check(t, ExitFailure, nil, []string{"HTTP 403"})

	// -f shows what is there, then each new entry, until interrupted.
	var out, errOut lockedBuffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		serve:  func(context.Context, hub.Config) error { return nil }}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- a.run(ctx, []string{"logs", "-s", "demo", "-f", "--level", "error"}) }()
	hubtest.Eventually(t, "the follow to show the earlier failure", func() bool { return strings.Contains(out.String(), errID) })
	second, _ := call("/apps/demo/fail?id=8", "cli-req-2")["error_id"].(string)
	hubtest.Eventually(t, "the follow to show the new failure", func() bool { return strings.Contains(out.String(), "error_id="+second) })
	cancel()
	select {
	case c := <-code:
		if c != 0 || errOut.String() != "" {
			t.Errorf("follow ended with %d: %s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end when interrupted")
	}
}
