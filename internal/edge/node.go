package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NodeConfig is what a node needs to run.
type NodeConfig struct {
	// HubURL is the hub's leaf node listener (nats-leaf://host:port or nats://host:port).
	HubURL string
	// User and Password log the node in to the hub.
	User, Password string
	// DataDir holds the node's JetStream files (under DataDir/jetstream).
	DataDir string
	// Domain is the node's JetStream domain (see Domain).
	Domain string
	// OutboxMaxMsgs and OutboxMaxBytes bound what the outbox holds that the hub has not
	// taken; when full, it keeps what it has (the oldest) and refuses the newest, counting them
	// (see Node.Publish). 0 is the default.
	OutboxMaxMsgs, OutboxMaxBytes int64
	// ReconnectWait is how long the node waits between attempts to reach the hub; 0 is 1s.
	ReconnectWait time.Duration
	// TLS, for a hub URL tls://host:port, says whom the node trusts (nil: the system's roots).
	TLS *tls.Config
}

// Defaults and bounds of a node.
const (
	DefaultOutboxMaxMsgs  = 100_000
	DefaultOutboxMaxBytes = 256 << 20
	// MaxPayload bounds a message a node publishes.
	MaxPayload = 1 << 20
)

// Node is a running edge node: its own server, its JetStream, a leaf connection to the hub
// (kept up while the hub can be reached) and an in-process client.
type Node struct {
	cfg NodeConfig
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	kv  jetstream.KeyValue

	mu      sync.Mutex // serialises Publish: the count of refused messages goes before the next one
	dropped uint64     // refused by the full outbox, not yet told to the hub; kept in droppedFile
}

// droppedFile keeps Node.dropped across restarts, in the data dir.
const droppedFile = "outbox-dropped"

// ErrOutboxFull is Publish's error when the outbox holds as much as it may of what the hub
// has not taken: the message is dropped, and counted.
var ErrOutboxFull = errors.New("the outbox is full: the message was dropped (and counted for the hub)")

// StartNode starts the node's server and opens its outbox and assignment bucket. It does not
// wait for the hub: the node works without it.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if err := checkDomain(cfg.Domain); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if cfg.OutboxMaxMsgs < 0 || cfg.OutboxMaxBytes < 0 {
		return nil, errors.New("node: outbox bounds: want 0 (the default) or more")
	}
	if cfg.OutboxMaxMsgs == 0 {
		cfg.OutboxMaxMsgs = DefaultOutboxMaxMsgs
	}
	if cfg.OutboxMaxBytes == 0 {
		cfg.OutboxMaxBytes = DefaultOutboxMaxBytes
	}
	if cfg.ReconnectWait <= 0 {
		cfg.ReconnectWait = time.Second
	}
	hub, err := url.Parse(cfg.HubURL)
	if err != nil || hub.Host == "" || (hub.Scheme != "nats-leaf" && hub.Scheme != "nats" && hub.Scheme != "tls") {
		return nil, fmt.Errorf("node: hub url %q: want nats-leaf://host:port or tls://host:port", cfg.HubURL)
	}
	remote := &server.RemoteLeafOpts{URLs: []*url.URL{hub}}
	if hub.Scheme == "tls" {
		remote.TLS, remote.TLSTimeout = true, 5
		remote.TLSConfig = cfg.TLS
		if remote.TLSConfig == nil {
			remote.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	hub.User = url.UserPassword(cfg.User, cfg.Password)
	if cfg.DataDir == "" {
		return nil, errors.New("node: data dir: empty")
	}
	storeDir, err := filepath.Abs(filepath.Join(cfg.DataDir, "jetstream"))
	if err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return nil, fmt.Errorf("node: create data dir: %w", err)
	}
	o := &server.Options{
		ServerName:      cfg.Domain,
		JetStream:       true,
		JetStreamDomain: cfg.Domain,
		StoreDir:        storeDir,
		// No client port: the node's own programs connect in process.
		DontListen: true,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: MaxPayload,
		// Flow control subjects of the node's consumers name its domain, so that the hub
		// may be allowed to answer this node's only (see Grant).
		// Acknowledgement subjects name it too (v2 format), so that the hub may be allowed to
		// acknowledge this node's messages only.
		FeatureFlags: map[string]bool{server.FeatureFlagJsAPIReplyFormatV2: true, server.FeatureFlagJsAckFormatV2: true},
		LeafNode: server.LeafNodeOpts{
			ReconnectInterval: cfg.ReconnectWait,
			Remotes:           []*server.RemoteLeafOpts{remote},
		},
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("node: server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("node: server did not become ready in 10s")
	}
	n := &Node{cfg: cfg, srv: srv}
	if err := n.loadDropped(); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.open(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) open(ctx context.Context) error {
	nc, err := nats.Connect("", nats.InProcessServer(n.srv), nats.Name(n.cfg.Domain))
	if err != nil {
		return fmt.Errorf("node: connect: %w", err)
	}
	n.nc = nc
	if n.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("node: jetstream: %w", err)
	}
	_, err = n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     OutboxStream,
		Subjects: []string{outboxSubject(n.cfg.Domain, ">")},
		Storage:  jetstream.FileStorage,
		// What the hub took (acknowledged) goes; the bounds hold only what it has not, and a
		// full outbox keeps its oldest, so that what the hub gets has no hole in it.
		Retention:  jetstream.WorkQueuePolicy,
		Discard:    jetstream.DiscardNew,
		MaxMsgs:    n.cfg.OutboxMaxMsgs,
		MaxBytes:   n.cfg.OutboxMaxBytes,
		MaxMsgSize: MaxPayload,
		// Publish's msgID: a message sent again (after a lost PubAck) is stored once.
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("node: outbox: %w", err)
	}
	n.kv, err = n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   AssignBucket,
		Storage:  jetstream.FileStorage,
		History:  1,
		MaxBytes: 16 << 20,
	})
	if err != nil {
		return fmt.Errorf("node: bucket %s: %w", AssignBucket, err)
	}
	return nil
}

// Publish stores data under the subject suffix in the outbox, durably, hub reachable or not;
// msgID (optional) makes a second Publish of the same message within two minutes a no-op.
// It returns the message's sequence in the outbox. When the outbox is full the message is
// dropped, counted and ErrOutboxFull returned; the count goes to the hub, as a message of
// subject LostSubject, before the next message the outbox takes.
func (n *Node) Publish(ctx context.Context, suffix string, data []byte, msgID string) (uint64, error) {
	if err := checkSuffix(suffix); err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	if suffix == LostSubject {
		return 0, fmt.Errorf("publish: subject %q is the node's own", suffix)
	}
	if len(msgID) > maxMsgIDLen {
		return 0, fmt.Errorf("publish: msg id: %d bytes, at most %d", len(msgID), maxMsgIDLen)
	}
	if len(data) > MaxPayload-1024 {
		return 0, fmt.Errorf("publish: %d bytes, at most %d", len(data), MaxPayload-1024)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dropped > 0 {
		_, err := n.js.Publish(ctx, outboxSubject(n.cfg.Domain, LostSubject), []byte(strconv.FormatUint(n.dropped, 10)))
		switch {
		case outboxFull(err):
			return 0, n.drop(suffix)
		case err != nil:
			return 0, fmt.Errorf("publish %s: the count of dropped messages: %w", suffix, err)
		}
		n.dropped = 0
		if err := n.saveDropped(); err != nil {
			return 0, err
		}
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := n.js.Publish(ctx, outboxSubject(n.cfg.Domain, suffix), data, opts...)
	switch {
	case outboxFull(err):
		return 0, n.drop(suffix)
	case err != nil:
		return 0, fmt.Errorf("publish %s: %w", suffix, err)
	}
	return ack.Sequence, nil
}

// drop counts a message the full outbox refused; n.mu is held.
func (n *Node) drop(suffix string) error {
	n.dropped++
	if err := n.saveDropped(); err != nil {
		return err
	}
	return fmt.Errorf("publish %s: %w", suffix, ErrOutboxFull)
}

// outboxFull says whether err is the outbox refusing a message for its bounds.
func outboxFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (strings.Contains(apiErr.Description, "maximum messages exceeded") ||
		strings.Contains(apiErr.Description, "maximum bytes exceeded"))
}

func (n *Node) saveDropped() error {
	path := filepath.Join(n.cfg.DataDir, droppedFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(n.dropped, 10)), 0o600); err != nil {
		return fmt.Errorf("node: keep the count of dropped messages: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("node: keep the count of dropped messages: %w", err)
	}
	return nil
}

func (n *Node) loadDropped() error {
	raw, err := os.ReadFile(filepath.Join(n.cfg.DataDir, droppedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node: read the count of dropped messages: %w", err)
	}
	if n.dropped, err = strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64); err != nil {
		return fmt.Errorf("node: %s: %w", droppedFile, err)
	}
	return nil
}

// Dropped is how many messages the full outbox has refused that the hub has not yet been
// told of.
func (n *Node) Dropped() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dropped
}

// Assignment is the value the hub last put under key, read locally.
func (n *Node) Assignment(ctx context.Context, key string) ([]byte, error) {
	e, err := n.kv.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("assignment %s: %w", key, err)
	}
	return e.Value(), nil
}

// WatchAssignment follows key of the assignment bucket: its value now (once the watch has
// caught up) and each new one, until ctx ends.
func (n *Node) WatchAssignment(ctx context.Context, key string) (jetstream.KeyWatcher, error) {
	w, err := n.kv.Watch(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("watch assignment %s: %w", key, err)
	}
	return w, nil
}

// Connected reports whether the node's leaf connection to the hub is up.
func (n *Node) Connected() bool { return n.srv.NumLeafNodes() > 0 }

// Close closes the client and stops the server.
func (n *Node) Close() {
	if n.nc != nil {
		n.nc.Close()
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}
