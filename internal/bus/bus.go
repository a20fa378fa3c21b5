// Package bus owns Switchboard's one engine: a NATS connection with JetStream, either to an
// embedded nats-server running in this process or to an outside NATS (cluster).
package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says where the engine is. The zero value runs an embedded server with state under ./data.
type Config struct {
	// URL of an outside NATS; empty runs the embedded server.
	URL string
	// DataDir holds the embedded server's JetStream files (under DataDir/jetstream).
	DataDir string
	// Listen is the embedded server's client address for outside programs ("host:port");
	// empty keeps it in-process only.
	Listen string
	// Name is this instance's name on the bus (the connection name and the embedded server name).
	Name string
	// Token is required of every client of the embedded server when Listen is set; without it
	// anyone reaching the port could read every solution's state.
	Token string
	// Replicas for streams and buckets this instance creates (1 to MaxReplicas); 0 means as
	// many as the NATS cluster places, up to DefaultMaxReplicas (1 on the embedded server).
	// Open refuses more than the servers can place.
	Replicas int
	// MQTT, when set, opens the embedded server's MQTT listener (see MQTTConfig).
	MQTT *MQTTConfig
	// Domain is the embedded server's JetStream domain, by which servers joined as leaf nodes
	// (edge nodes, each with a domain of its own) tell its JetStream from theirs; "" is "hub".
	// It names the API ($JS.<domain>.API), not where streams are stored: a data dir made
	// without a domain keeps its streams.
	Domain string
	// Leaf, when set, opens the embedded server's leaf node listener (see LeafConfig).
	Leaf *LeafConfig
}

// DefaultDomain is the embedded server's JetStream domain unless Config.Domain says otherwise.
const DefaultDomain = "hub"

// PublishAckTimeout bounds the wait for JetStream to acknowledge an asynchronous publish. A
// stream whose cluster lost its quorum never answers, and the client would keep each such
// publish pending for good: its caller waiting (an event's sender with no answer) and, once
// enough are pending, every later asynchronous publish of the connection stalled.
const PublishAckTimeout = 10 * time.Second

// Bus is a live connection to NATS with JetStream.
type Bus struct {
	cfg      Config
	server   *server.Server // nil when URL is set
	mqtt     *mqttAuth      // nil without an MQTT listener
	mqttAddr string         // where it is bound
	leafAddr string         // where the leaf node listener is bound
	nc       *nats.Conn
	js       jetstream.JetStream
	closed   chan struct{} // closed when the connection is closed, after a drain finished
	health   health        // the last JetStream check (Health)
	// disconnects counts the connection's losses, so caches fed by subscriptions can tell that
	// they may have missed messages.
	disconnects atomic.Uint64
}

// Open starts the embedded server (unless cfg.URL is set), connects and checks JetStream answers.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	b := &Bus{cfg: cfg, closed: make(chan struct{})}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { b.disconnects.Add(1) }),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}
	if cfg.URL == "" {
		if (cfg.MQTT != nil || cfg.Leaf != nil) && cfg.Token == "" {
			// With devices or nodes logging in, every client authenticates, the hub's own in-process
			// one too: with a token no one else ever sees.
			raw := make([]byte, 24)
			if _, err := rand.Read(raw); err != nil {
				return nil, fmt.Errorf("bus token: %w", err)
			}
			cfg.Token = hex.EncodeToString(raw)
			b.cfg.Token = cfg.Token
		}
		ns, auth, err := startEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		b.server, b.mqtt = ns, auth
		if cfg.MQTT != nil || cfg.Leaf != nil {
			if b.mqttAddr, b.leafAddr, err = boundAddrs(ns, cfg); err != nil {
				b.shutdownServer()
				return nil, err
			}
		}
		opts = append(opts, nats.InProcessServer(ns))
		if cfg.Listen != "" || auth != nil {
			opts = append(opts, nats.Token(cfg.Token))
		}
	} else if cfg.MQTT != nil {
		return nil, errors.New("an MQTT listener needs the embedded server: configure MQTT on the outside NATS server instead")
	} else if cfg.Leaf != nil {
		return nil, errors.New("a leaf node listener needs the embedded server: configure leaf nodes on the outside NATS server instead")
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("connect to nats %q: %w", b.describe(), err)
	}
	b.nc = nc
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(PublishAckTimeout))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b.js = js
	if err := retryUnanswered(ctx, func(ctx context.Context) error {
		_, err := js.AccountInfo(ctx)
		return err
	}); err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream on %s is not available (run nats-server with -js): %w", b.describe(), err)
	}
	if err := b.settleReplicas(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func startEmbedded(cfg Config) (*server.Server, *mqttAuth, error) {
	dir := cfg.DataDir
	if dir == "" {
		dir = "data"
	}
	storeDir, err := filepath.Abs(filepath.Join(dir, "jetstream"))
	if err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	domain := cfg.Domain
	if domain == "" {
		domain = DefaultDomain
	}
	o := &server.Options{
		ServerName:      cfg.Name,
		JetStream:       true,
		JetStreamDomain: domain,
		StoreDir:        storeDir,
		// Replies to the server's own JetStream requests (a stream sourcing from a node's
		// domain) name that domain, so that a node may be allowed to answer its own only.
		FeatureFlags: map[string]bool{server.FeatureFlagJsAPIReplyFormatV2: true},
		NoSigs:       true,
		NoLog:        true,
		DontListen:   true,
		// The hub's KV values (scripts) can be up to a few MiB.
		MaxPayload: 8 << 20,
	}
	if cfg.Listen != "" {
		host, portStr, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("nats-listen %q: %w", cfg.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, nil, fmt.Errorf("nats-listen %q: port: %w", cfg.Listen, err)
		}
		if len(cfg.Token) < 16 {
			return nil, nil, errors.New("nats-listen: a token of at least 16 characters is required")
		}
		o.DontListen = false
		o.Host, o.Port = host, port
		o.Authorization = cfg.Token
	}
	var auth *mqttAuth
	if cfg.MQTT != nil || cfg.Leaf != nil {
		var mc MQTTConfig
		if cfg.MQTT != nil {
			mc = *cfg.MQTT
			host, port, err := listenAddr("mqtt-listen", mc.Listen)
			if err != nil {
				return nil, nil, err
			}
			// The MQTT listener accepts connections even with DontListen (which is about the
			// NATS client port).
			o.MQTT.Host, o.MQTT.Port = host, port
			o.MQTT.AckWait = mc.AckWait
		}
		auth, err = newMQTTAuth(mc, cfg.Leaf, cfg.Token)
		if err != nil {
			return nil, nil, err
		}
		if cfg.Leaf != nil {
			host, port, err := listenAddr("leaf-listen", cfg.Leaf.Listen)
			if err != nil {
				return nil, nil, err
			}
			if cfg.Leaf.Login == nil {
				return nil, nil, errors.New("leaf-listen: no login to decide who connects")
			}
			// No leaf users configured: the server asks auth about leaf logins too.
			o.LeafNode.Host, o.LeafNode.Port = host, port
			if cfg.Leaf.TLS != nil {
				o.LeafNode.TLSConfig, o.LeafNode.TLSTimeout = cfg.Leaf.TLS, 5
			}
		}
		// Every client, NATS, MQTT or leaf node, goes through auth.
		o.Authorization = ""
		o.CustomClientAuthentication = auth
	}
	ns, err := server.NewServer(o)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded nats: %w", err)
	}
	if auth != nil {
		auth.srv = ns
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, nil, errors.New("embedded nats did not become ready in 10s")
	}
	return ns, auth, nil
}

func (b *Bus) describe() string {
	if b.cfg.URL != "" {
		return Redacted(b.cfg.URL)
	}
	return "embedded"
}

// Embedded reports whether this bus runs the in-process server.
func (b *Bus) Embedded() bool { return b.server != nil }

// ClientURL is the address outside programs use to reach the embedded server, or the outside URL;
// empty when the embedded server listens in-process only.
func (b *Bus) ClientURL() string {
	if b.server == nil {
		return b.cfg.URL
	}
	if b.cfg.Listen == "" {
		return ""
	}
	return b.server.ClientURL()
}

// ListenAddr is the address the embedded server accepts outside programs on (host:port as
// bound); empty when it listens in-process only or the bus is outside.
func (b *Bus) ListenAddr() string {
	if b.server == nil || b.cfg.Listen == "" {
		return ""
	}
	if a := b.server.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// Connect opens another connection like the bus's own (to the embedded server in process,
// with its token): for a part that wants replies on an inbox prefix of its own.
func (b *Bus) Connect(opts ...nats.Option) (*nats.Conn, error) {
	var base []nats.Option
	if b.server != nil {
		base = append(base, nats.InProcessServer(b.server))
		if b.cfg.Token != "" {
			base = append(base, nats.Token(b.cfg.Token))
		}
	}
	nc, err := nats.Connect(b.cfg.URL, append(append(base, nats.Name(b.cfg.Name)), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %q: %w", b.describe(), err)
	}
	return nc, nil
}

// Conn is the NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the JetStream API on the connection.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Replicas is the replica count for streams and buckets created by this instance.
func (b *Bus) Replicas() int { return b.cfg.Replicas }

// KeyValue opens the bucket, creating it with cfg when it does not exist yet. Several
// instances may do this at once on a cluster: whichever creates it, the others wait for it to
// settle (see askTimeout) instead of failing or stalling.
func (b *Bus) KeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	open := func(exists bool) (jetstream.KeyValue, error) {
		return retrySettling(ctx, exists, func(ctx context.Context) (jetstream.KeyValue, error) {
			return b.js.KeyValue(ctx, cfg.Bucket)
		})
	}
	kv, err := open(false)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("open bucket %s: %w", cfg.Bucket, err)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = b.cfg.Replicas
	}
	if cfg.Storage == 0 {
		cfg.Storage = jetstream.FileStorage
	}
	kv, err = b.js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = open(true)
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// Disconnects is how many times the connection to NATS was lost since Open.
func (b *Bus) Disconnects() uint64 { return b.disconnects.Load() }

// Ready reports whether the connection is up.
func (b *Bus) Ready() bool { return b.nc != nil && b.nc.IsConnected() }

// Close drains the connection (flushing what was published) and stops the embedded server.
func (b *Bus) Close() error {
	var err error
	if b.nc != nil {
		if derr := b.nc.Drain(); derr != nil {
			if !errors.Is(derr, nats.ErrConnectionClosed) {
				err = fmt.Errorf("drain nats: %w", derr)
			}
			b.nc.Close()
		} else {
			// Drain is asynchronous: wait for the connection to close, bounded by the drain timeout.
			select {
			case <-b.closed:
			case <-time.After(35 * time.Second):
				b.nc.Close()
			}
		}
	}
	b.shutdownServer()
	return err
}

func (b *Bus) shutdownServer() {
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}

// ServerAtLeast reports whether the NATS server connected to is version major.minor or
// later: an outside server may lack what the embedded one has (consumers with several
// filters since 2.10, priority groups since 2.11).
func (b *Bus) ServerAtLeast(major, minor int) bool {
	v := strings.TrimPrefix(b.nc.ConnectedServerVersion(), "v")
	maj, rest, _ := strings.Cut(v, ".")
	mnr, _, _ := strings.Cut(rest, ".")
	x, err1 := strconv.Atoi(maj)
	y, err2 := strconv.Atoi(mnr)
	if err1 != nil || err2 != nil {
		return false
	}
	return x > major || (x == major && y >= minor)
}

// Redacted is urls (NATS URLs, comma-separated) with any credentials in them (a token, a user
// and password) replaced by "redacted", for logs and error messages.
func Redacted(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		switch {
		case err != nil && strings.Contains(p, "@"):
			parts[i] = "(a URL that does not parse)"
		case err == nil && u.User != nil:
			u.User = url.User("redacted")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
