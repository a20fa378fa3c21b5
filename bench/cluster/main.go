// Command cluster runs Switchboard at cluster scale on one machine: a 3-node NATS cluster with
// JetStream on loopback (internal/clustertest, the harness the end-to-end tests use), three
// switchboard instances on it, each a process of its own on its own --addr, and a round-robin
// HTTP proxy in front of them (internal/lbproxy: an instance failing /readyz is taken out). It
// prints the URLs and runs until SIGINT or SIGTERM, then stops everything. bench/cluster.sh
// builds switchboard and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/switchboardhq/switchboard/internal/clustertest"
	"github.com/switchboardhq/switchboard/internal/lbproxy"
)

type config struct {
	bin, dir, proxy, adminToken, logLevel string
	addrs                                 []string
	replicas                              int
	keep                                  bool
	healthInterval                        time.Duration
}

func main() {
	var c config
	var addrs string
	flag.StringVar(&c.bin, "switchboard", "switchboard", "the switchboard binary to run")
	flag.StringVar(&c.dir, "dir", "", "where the NATS stores and the instances' data and logs go; empty: a temporary directory, removed at the end")
	flag.StringVar(&c.proxy, "proxy", "127.0.0.1:8080", "the round-robin proxy's address")
	flag.StringVar(&addrs, "addrs", "127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083", "the instances' --addr, comma-separated (one instance each); empty: the NATS cluster alone")
	flag.StringVar(&c.adminToken, "admin-token", "bench-admin-token-0123456789", "the admin token every instance shares")
	flag.StringVar(&c.logLevel, "log-level", "warn", "the instances' --log-level")
	flag.DurationVar(&c.healthInterval, "health-interval", 500*time.Millisecond, "how often the proxy asks each instance's /readyz")
	flag.IntVar(&c.replicas, "replicas", 0, "the instances' --replicas (0: as many as the cluster places, here 3)")
	flag.Parse()
	if addrs != "" {
		c.addrs = strings.Split(addrs, ",")
	}
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		log.Fatalf("cluster: %v", err)
	}
}

func run(ctx context.Context, c config) error {
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "switchboard-cluster-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.dir = dir
	}
	nats, err := clustertest.New(ctx, clustertest.Options{Dir: filepath.Join(c.dir, "nats")})
	if err != nil {
		return err
	}
	defer nats.Close()
	fmt.Printf("nats:     %s\n", nats.URLs())
	if len(c.addrs) == 0 {
		fmt.Println("Ctrl-C stops it.")
		<-ctx.Done()
		return nil
	}

	var instances []*instance
	defer func() {
		// SIGTERM lets each finish its requests and flush.
		for _, in := range instances {
			in.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may be gone already
		}
		for _, in := range instances {
			<-in.exited
		}
	}()
	var backends []*url.URL
	for i, addr := range c.addrs {
		name := fmt.Sprintf("sb%d", i+1)
		in, err := startInstance(c, name, addr, nats.URLs())
		if err != nil {
			return err
		}
		instances = append(instances, in)
		u := &url.URL{Scheme: "http", Host: addr}
		if err := waitReady(ctx, u.String()+"/readyz", in); err != nil {
			return fmt.Errorf("instance %s: %w (its log: %s)", name, err, filepath.Join(c.dir, name+".log"))
		}
		backends = append(backends, u)
		fmt.Printf("instance: %s (log %s)\n", u, filepath.Join(c.dir, name+".log"))
	}

	ln, err := net.Listen("tcp", c.proxy)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	front := lbproxy.New(lbproxy.Options{Backends: backends, Interval: c.healthInterval})
	defer front.Start()()
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	fmt.Printf("proxy:    http://%s (round robin over the %d instances; one not ready on /readyz is out within %v)\n", ln.Addr(), len(backends), front.DetectionTime())
	fmt.Printf("admin token: %s\n", c.adminToken)
	fmt.Println("Ctrl-C stops everything.")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// instance is a switchboard process; exited is closed once it has exited and been reaped.
type instance struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // why it exited, once exited is closed
}

func startInstance(c config, name, addr, natsURLs string) (*instance, error) {
	logFile, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(c.bin, "serve", "--addr", addr, "--data", filepath.Join(c.dir, name),
		"--nats-url", natsURLs, "--replicas", fmt.Sprint(c.replicas), "--instance-name", name,
		"--admin-token", c.adminToken, "--log-level", c.logLevel)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C reaches this program only, which stops the proxy first and
	// then the instances, rather than everything at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.bin, err)
	}
	in := &instance{cmd: cmd, exited: make(chan struct{})}
	go func() {
		in.err = cmd.Wait()
		close(in.exited)
	}()
	return in, nil
}

// waitReady polls url until it answers 200, the instance exits or 30s pass.
func waitReady(ctx context.Context, url string, in *instance) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-in.exited:
			return fmt.Errorf("exited before ready: %v", in.err)
		case <-ctx.Done():
			return errors.New("not ready in 30s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
