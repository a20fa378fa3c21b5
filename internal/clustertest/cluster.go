// Package clustertest runs a NATS cluster with JetStream on loopback, in this process: three
// (or more) nats-servers on 127.0.0.1, each with its own client and route ports and store
// directory, routed to each other. End-to-end tests start Switchboard instances on it, and
// bench/cluster serves it to processes; a node can be stopped and started again for fault tests.
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options say what cluster to start; zero values are filled by New.
type Options struct {
	// Nodes is how many servers; default 3.
	Nodes int
	// Dir holds each node's store directory (Dir/<node name>); required.
	Dir string
	// Name is the cluster's name; default "switchboard-test".
	Name string
	// Host the servers listen on; default 127.0.0.1.
	Host string
	// Ready bounds how long New waits for the cluster to elect a JetStream meta leader; default 30s.
	Ready time.Duration
}

// Cluster is a running NATS cluster.
type Cluster struct {
	opts  Options
	mu    sync.Mutex
	nodes []*node
}

type node struct {
	name        string
	port, route int
	srv         *server.Server // nil while stopped
}

// Start runs a 3-node cluster in t's temporary directory and stops it when the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := New(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start nats cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// New starts the cluster and waits until every node is ready and JetStream has a meta leader
// that sees every node.
func New(ctx context.Context, o Options) (*Cluster, error) {
	if o.Dir == "" {
		return nil, errors.New("clustertest: Options.Dir is required")
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Name == "" {
		o.Name = "switchboard-test"
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Ready == 0 {
		o.Ready = 30 * time.Second
	}
	c := &Cluster{opts: o}
	// Ports are chosen up front, since every node's routes name every other's, and are kept
	// across restarts, so that the client URLs stay valid.
	ports, err := freePorts(o.Host, 2*o.Nodes)
	if err != nil {
		return nil, err
	}
	for i := range o.Nodes {
		c.nodes = append(c.nodes, &node{name: "n" + strconv.Itoa(i+1), port: ports[2*i], route: ports[2*i+1]})
	}
	for i := range c.nodes {
		if err := c.start(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func freePorts(host string, n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) options(n *node) *server.Options {
	var routes []string
	for _, other := range c.nodes {
		if other != n {
			routes = append(routes, fmt.Sprintf("nats-route://%s:%d", c.opts.Host, other.route))
		}
	}
	return &server.Options{
		ServerName: n.name,
		Host:       c.opts.Host,
		Port:       n.port,
		JetStream:  true,
		StoreDir:   filepath.Join(c.opts.Dir, n.name),
		Cluster:    server.ClusterOpts{Name: c.opts.Name, Host: c.opts.Host, Port: n.route},
		Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		NoSigs:     true,
		NoLog:      true,
		// Switchboard's KV values (scripts) can be up to a few MiB, as on its embedded server.
		MaxPayload: 8 << 20,
	}
}

func (c *Cluster) start(i int) error {
	n := c.nodes[i]
	srv, err := server.NewServer(c.options(n))
	if err != nil {
		return fmt.Errorf("nats node %s: %w", n.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("nats node %s did not accept connections in 10s", n.name)
	}
	c.mu.Lock()
	n.srv = srv
	c.mu.Unlock()
	return nil
}

// URLs is the client URLs of every node, comma-separated, as nats.Connect takes them.
func (c *Cluster) URLs() string {
	var us []string
	for _, n := range c.nodes {
		us = append(us, c.URL(n.name))
	}
	return strings.Join(us, ",")
}

// URL is one node's client URL.
func (c *Cluster) URL(name string) string {
	for _, n := range c.nodes {
		if n.name == name {
			return (&url.URL{Scheme: "nats", Host: net.JoinHostPort(c.opts.Host, strconv.Itoa(n.port))}).String()
		}
	}
	return ""
}

// Names is the nodes' server names (n1, n2, ...).
func (c *Cluster) Names() []string {
	var names []string
	for _, n := range c.nodes {
		names = append(names, n.name)
	}
	return names
}

// Server is a running node's server, nil while it is stopped or when there is no such node.
func (c *Cluster) Server(name string) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.name == name {
			return n.srv
		}
	}
	return nil
}

// WaitReady waits until every running node sees a JetStream meta leader, and the leader counts
// every running node among its peers.
func (c *Cluster) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Ready)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if c.ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats cluster: no JetStream meta leader seeing every node: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func (c *Cluster) ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	running, leaders := 0, 0
	var peers int
	for _, n := range c.nodes {
		if n.srv == nil {
			continue
		}
		running++
		if !n.srv.JetStreamIsClustered() || !n.srv.JetStreamIsCurrent() {
			return false
		}
		if n.srv.JetStreamIsLeader() {
			leaders++
			peers = len(n.srv.JetStreamClusterPeers())
		}
	}
	return leaders == 1 && peers == running
}

// Stop shuts one node down (its store stays); Restart brings it back.
func (c *Cluster) Stop(name string) error {
	c.mu.Lock()
	var srv *server.Server
	for _, n := range c.nodes {
		if n.name == name {
			srv, n.srv = n.srv, nil
		}
	}
	c.mu.Unlock()
	if srv == nil {
		return fmt.Errorf("nats node %q is not running", name)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	return nil
}

// Restart starts a stopped node again on its ports and store, and waits for the cluster.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	for i, n := range c.nodes {
		if n.name != name {
			continue
		}
		c.mu.Lock()
		running := n.srv != nil
		c.mu.Unlock()
		if running {
			return fmt.Errorf("nats node %q is running", name)
		}
		if err := c.start(i); err != nil {
			return err
		}
		return c.WaitReady(ctx)
	}
	return fmt.Errorf("no nats node %q", name)
}

// Close shuts every node down.
func (c *Cluster) Close() {
	c.mu.Lock()
	var srvs []*server.Server
	for _, n := range c.nodes {
		if n.srv != nil {
			srvs = append(srvs, n.srv)
			n.srv = nil
		}
	}
	c.mu.Unlock()
	for _, s := range srvs {
		s.Shutdown()
	}
	for _, s := range srvs {
		s.WaitForShutdown()
	}
}
