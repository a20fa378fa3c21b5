package hubtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Broker is a broker server run by the test in a process of its own, on a port and a data
// directory of its own, so that the test may stop and start it again without troubling the
// brokers other tests share.
type Broker struct {
	t    testing.TB
	name string
	addr string
	bin  string
	args []string
	Logs *LogBuffer // what it printed, across its runs

	cmd    *exec.Cmd
	exited chan struct{}
}

// StartMosquitto runs a private Mosquitto (MQTT 3.1.1 and 5) that keeps its sessions and
// queued messages across a Stop and Start; the test is skipped when Mosquitto is not
// installed.
func StartMosquitto(t testing.TB) *Broker {
	t.Helper()
	bin := lookBroker(t, "mosquitto", "/usr/sbin/mosquitto")
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nlog_dest stderr\n", port, dir)
	if os.Geteuid() == 0 {
		text += "user root\n" // else it drops to a user that cannot write the directory
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return startBroker(t, "mosquitto", addr, bin, "-c", conf)
}

// StartRedis runs a private redis-server whose data (an append-only file, written through on
// every command) survives a Stop and Start; the test is skipped when it is not installed.
func StartRedis(t testing.TB) *Broker {
	t.Helper()
	bin := lookBroker(t, "redis-server", "/usr/bin/redis-server")
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	return startBroker(t, "redis-server", addr, bin, "--port", port, "--bind", "127.0.0.1",
		"--dir", t.TempDir(), "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no")
}

func lookBroker(t testing.TB, name string, also ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range also {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("%s is not installed: a private broker cannot be run", name)
	return ""
}

func startBroker(t testing.TB, name, addr, bin string, args ...string) *Broker {
	t.Helper()
	b := &Broker{t: t, name: name, addr: addr, bin: bin, args: args, Logs: &LogBuffer{}}
	b.Start()
	t.Cleanup(b.Stop)
	return b
}

// Addr is the broker's address (127.0.0.1:port), the same across restarts.
func (b *Broker) Addr() string { return b.addr }

// Start runs the broker (again) and waits until it accepts connections.
func (b *Broker) Start() {
	b.t.Helper()
	if b.cmd != nil {
		b.t.Fatalf("%s: started twice", b.name)
	}
	cmd := exec.Command(b.bin, b.args...)
	cmd.Stdout, cmd.Stderr = b.Logs, b.Logs
	orphanGuard(cmd)
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start %s: %v", b.name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // its output says why
		close(exited)
	}()
	b.cmd, b.exited = cmd, exited
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			b.cmd = nil
			b.t.Fatalf("%s ended on start: %s", b.name, lastLines(b.Logs.String(), 20))
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s not accepting connections on %s within 15s: %s", b.name, b.addr, lastLines(b.Logs.String(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the broker as a service manager would (SIGTERM, so it saves what it keeps) and
// waits for it to go; stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	b.t.Helper()
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // gone already, at worst
	select {
	case <-b.exited:
	case <-time.After(15 * time.Second):
		b.t.Errorf("%s still running 15s after SIGTERM: killed", b.name)
		b.cmd.Process.Kill() //nolint:errcheck // gone already, at worst
		<-b.exited
	}
	b.cmd = nil
}
