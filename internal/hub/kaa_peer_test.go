package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The bounds of the Kaa peer's processes: a stuck node fails the test instead of hanging it.
const (
	peerDeadline = 90 * time.Second // one process, start to end
	peerWait     = 20 * time.Second // one line of its output
)

// kaaPeer drives testdata/kaa-peer/peer.js: a Kaa-style 23/AIP peer that encodes and decodes
// AutomationInvocations with avsc, an Avro implementation independent of Switchboard's, and
// moves them with nats.js.
type kaaPeer struct {
	dir        string // the installed peer (SWITCHBOARD_TEST_KAA_PEER)
	url, token string // the NATS it talks to
}

// peerInvocation is an AutomationInvocation as peer.js takes and prints it: the payload in
// base64, nil for Avro's null.
type peerInvocation struct {
	Subject       string  `json:"subject,omitempty"` // where it was received
	CorrelationID string  `json:"correlationId"`
	Timestamp     int64   `json:"timestamp"`
	Timeout       int64   `json:"timeout"`
	TenantID      string  `json:"tenantId"`
	Payload       *string `json:"payload"`
	Error         string  `json:"error,omitempty"` // what avsc said of bytes it could not decode
}

// kaaPeerDir is the installed peer, skipping the test when there is none.
func kaaPeerDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SWITCHBOARD_TEST_KAA_PEER")
	if dir == "" {
		t.Skip("SWITCHBOARD_TEST_KAA_PEER is not set (the folder of testdata/kaa-peer after npm ci); .ci/run sets it when node and npm are installed")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skipf("SWITCHBOARD_TEST_KAA_PEER is set but node is not installed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "avsc")); err != nil {
		t.Fatalf("SWITCHBOARD_TEST_KAA_PEER=%s has no avsc installed (run npm ci there): %v", dir, err)
	}
	return dir
}

func (p kaaPeer) command(ctx context.Context, mode, subject string, more ...string) *exec.Cmd {
	args := []string{filepath.Join(p.dir, "peer.js"), mode, "--url", p.url, "--subject", subject}
	if p.token != "" {
		args = append(args, "--token", p.token)
	}
	cmd := exec.CommandContext(ctx, "node", append(args, more...)...)
	cmd.WaitDelay = 5 * time.Second // past the deadline, output pipes are closed too
	return cmd
}

// publish sends inv to subject, as a Kaa trigger service would.
func (p kaaPeer) publish(t *testing.T, subject string, inv peerInvocation) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerDeadline)
	defer cancel()
	js, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := p.command(ctx, "publish", subject, "--invocation", string(js)).CombinedOutput(); err != nil {
		t.Fatalf("kaa peer publish to %s: %v\n%s", subject, err, out)
	}
}

// peerSubscription is a running `peer.js subscribe`.
type peerSubscription struct {
	subject string
	lines   chan []byte
	stderr  bytes.Buffer // read only after done
	done    chan struct{}
	err     error // of the process; read only after done
}

// subscribe starts a peer that takes count invocations off subject, and returns once its
// subscription is on the server.
func (p kaaPeer) subscribe(t *testing.T, subject string, count int) *peerSubscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerDeadline)
	s := &peerSubscription{subject: subject, lines: make(chan []byte), done: make(chan struct{})}
	cmd := p.command(ctx, "subscribe", subject, "--count", strconv.Itoa(count))
	cmd.Stderr = &s.stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		cancel()
		t.Fatalf("start kaa peer: %v", err)
	}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case s.lines <- bytes.Clone(sc.Bytes()):
			case <-ctx.Done():
			}
		}
		s.err = cmd.Wait()
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	if line := s.line(t); string(line) != `{"ready":true}` {
		t.Fatalf("kaa peer subscribe: %s, want its ready line", line)
	}
	return s
}

// line is the peer's next line of output, failing the test when none comes in time.
func (s *peerSubscription) line(t *testing.T) []byte {
	t.Helper()
	timer := time.NewTimer(peerWait)
	defer timer.Stop()
	select {
	case l := <-s.lines:
		return l
	case <-s.done:
		t.Fatalf("kaa peer on %s ended early (%v): %s", s.subject, s.err, s.stderr.String())
	case <-timer.C:
		t.Fatalf("kaa peer on %s: nothing printed in %s", s.subject, peerWait)
	}
	return nil
}

// next is the next invocation the peer received, failing the test on what avsc could not decode.
func (s *peerSubscription) next(t *testing.T) peerInvocation {
	t.Helper()
	line := s.line(t)
	var inv peerInvocation
	if err := json.Unmarshal(line, &inv); err != nil {
		t.Fatalf("kaa peer printed %s: %v", line, err)
	}
	if inv.Error != "" {
		t.Fatalf("avsc could not decode what arrived on %s: %s", inv.Subject, inv.Error)
	}
	return inv
}
