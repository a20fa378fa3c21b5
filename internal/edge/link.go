package edge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dialer opens a connection to the hub's NATS with the given options (bus.Bus.Connect).
type Dialer func(opts ...nats.Option) (*nats.Conn, error)

// LinkConfig bounds the hub's copy of a node's outbox.
type LinkConfig struct {
	// MaxMsgs and MaxBytes bound the hub's stream of the node's messages; 0 is the node
	// outbox's default.
	MaxMsgs, MaxBytes int64
	// Replicas of the hub's stream; 0 is 1.
	Replicas int
}

// Delivery is one message of a node, as the hub hands it on.
type Delivery struct {
	// Subject is the suffix the node published under.
	Subject string
	Data    []byte
	// MsgID is the node's message id ("" when it gave none).
	MsgID string
	// NodeSeq is the message's sequence in the node's outbox.
	NodeSeq uint64
	// Lost is how many of the node's messages before this one the hub never got (the
	// outbox's bound dropped them first).
	Lost uint64
}

// Link is the hub's side of one node: a stream in the hub's domain sourcing the node's
// outbox, and the node's domain for writing its assignment. It has a connection of its own,
// whose replies the node is allowed to send (see Grant).
type Link struct {
	domain string
	nc     *nats.Conn
	closed chan struct{}       // closed with the connection
	hub    jetstream.JetStream // the hub's own domain
	node   jetstream.JetStream // the node's domain, across the leaf connection

	lost      atomic.Uint64
	cfg       jetstream.StreamConfig // the hub stream's
	stop      chan struct{}          // ends the watch
	done      chan struct{}          // closed when the watch ended
	closeOnce sync.Once
	mu        sync.Mutex
	consumer  jetstream.ConsumeContext
	kv        jetstream.KeyValue
}

const (
	// hubConsumer is the durable consumer handing the node's messages on.
	hubConsumer = "hub"
	// streamSourceHeader is where the server notes a sourced message's origin and sequence.
	streamSourceHeader = "Nats-Stream-Source"
)

// OpenLink makes (or updates) the hub's stream sourcing the outbox of the node of domain; the
// node's messages flow into it whenever the node is connected, and resume where they stopped.
func OpenLink(ctx context.Context, dial Dialer, domain string, cfg LinkConfig) (*Link, error) {
	if err := checkDomain(domain); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	if cfg.MaxMsgs <= 0 {
		cfg.MaxMsgs = DefaultOutboxMaxMsgs
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultOutboxMaxBytes
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	l := &Link{domain: domain, closed: make(chan struct{})}
	nc, err := dial(nats.CustomInboxPrefix(linkPrefix(domain)+".reply"), nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(l.closed) }))
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", domain, err)
	}
	l.nc = nc
	if l.hub, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("link %s: %w", domain, err)
	}
	if l.node, err = jetstream.NewWithDomain(nc, domain); err != nil {
		nc.Close()
		return nil, fmt.Errorf("link %s: %w", domain, err)
	}
	l.cfg = jetstream.StreamConfig{
		Name:      hubStream(domain),
		Storage:   jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxMsgs:   cfg.MaxMsgs,
		MaxBytes:  cfg.MaxBytes,
		Replicas:  cfg.Replicas,
		// The hub stream remembers the last outbox sequence it stored; after any break it
		// asks the node for the next one: in order, none twice.
		Sources: []*jetstream.StreamSource{{
			Name: OutboxStream,
			External: &jetstream.ExternalStream{
				APIPrefix:     apiPrefix(domain),
				DeliverPrefix: linkPrefix(domain) + ".deliver",
			},
		}},
	}
	if _, err = l.hub.CreateOrUpdateStream(ctx, l.cfg); err != nil {
		nc.Close()
		return nil, fmt.Errorf("link %s: stream: %w", domain, err)
	}
	return l, nil
}

// Receive hands each of the node's messages to handle, in order, from where the last
// Receive of this domain stopped; a message is acknowledged once handle returned nil and
// offered again (after a pause) otherwise. It returns once consuming started.
func (l *Link) Receive(ctx context.Context, handle func(context.Context, Delivery) error) error {
	c, err := l.hub.CreateOrUpdateConsumer(ctx, hubStream(l.domain), jetstream.ConsumerConfig{
		Durable:   hubConsumer,
		AckPolicy: jetstream.AckExplicitPolicy,
		// One at a time: a message offered again does not overtake the next one.
		MaxAckPending: 1,
		AckWait:       30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("link %s: consumer: %w", l.domain, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		return fmt.Errorf("link %s: already receiving", l.domain)
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.receive(ctx, c, handle)
	return nil
}

// receive fetches one message at a time until Close.
func (l *Link) receive(ctx context.Context, c jetstream.Consumer, handle func(context.Context, Delivery) error) {
	defer close(l.done)
	var last uint64 // the node sequence handed on last, for counting gaps
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			select {
			case <-l.stop:
				return
			case <-time.After(time.Second): // the hub's connection is down: try again
			}
			continue
		}
		for m := range batch.Messages() {
			d, err := l.delivery(m, last)
			if err != nil {
				// Not a message of the outbox; nothing can handle it.
				_ = m.Term()
				continue
			}
			if err := handle(ctx, d); err != nil {
				_ = m.NakWithDelay(time.Second)
				continue
			}
			// Acknowledged and confirmed before the next one: a restart does not hand it again.
			if err := m.DoubleAck(ctx); err != nil {
				continue
			}
			if d.Lost > 0 {
				l.lost.Add(d.Lost)
			}
			last = d.NodeSeq
		}
	}
}

// delivery reads m as the hub's copy of an outbox message; last is the node sequence handed
// on before it (0 at the start).
func (l *Link) delivery(m jetstream.Msg, last uint64) (Delivery, error) {
	src := m.Headers().Get(streamSourceHeader)
	seq, err := sourceSeq(src)
	if err != nil {
		return Delivery{}, err
	}
	pre := "edge." + l.domain + "."
	if !strings.HasPrefix(m.Subject(), pre) {
		return Delivery{}, fmt.Errorf("subject %q is not of the node", m.Subject())
	}
	d := Delivery{Subject: strings.TrimPrefix(m.Subject(), pre), Data: m.Data(), MsgID: m.Headers().Get(jetstream.MsgIDHeader), NodeSeq: seq}
	if last == 0 {
		// At the start, the hub stream's first message tells what came before it.
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream == 1 && seq > 1 {
			d.Lost = seq - 1
		}
	} else if seq > last+1 {
		d.Lost = seq - last - 1
	}
	return d, nil
}

// sourceSeq is the origin sequence in a Nats-Stream-Source header ("<stream id> <seq> …").
func sourceSeq(h string) (uint64, error) {
	f := strings.Fields(h)
	if len(f) < 2 {
		return 0, fmt.Errorf("source header %q", h)
	}
	return strconv.ParseUint(f[1], 10, 64)
}

// Lost is how many of the node's messages the hub never got, as far as this Link has seen.
func (l *Link) Lost() uint64 { return l.lost.Load() }

// Assign puts value under key in the node's assignment bucket, in the node's domain: it
// fails when the node is not connected.
func (l *Link) Assign(ctx context.Context, key string, value []byte) (uint64, error) {
	l.mu.Lock()
	kv := l.kv
	l.mu.Unlock()
	if kv == nil {
		var err error
		if kv, err = l.node.KeyValue(ctx, AssignBucket); err != nil {
			return 0, fmt.Errorf("assign %s on %s: %w", key, l.domain, err)
		}
		l.mu.Lock()
		l.kv = kv
		l.mu.Unlock()
	}
	rev, err := kv.Put(ctx, key, value)
	if err != nil {
		return 0, fmt.Errorf("assign %s on %s: %w", key, l.domain, err)
	}
	return rev, nil
}

// Close stops receiving and closes the link's connection; the hub's stream stays.
func (l *Link) Close() { l.closeOnce.Do(l.close) }

func (l *Link) close() {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.mu.Unlock()
	if stop != nil {
		// The message being handled finishes, and its acknowledgement goes out, first.
		close(stop)
		<-done
	}
	if err := l.nc.Drain(); err != nil {
		l.nc.Close()
		return
	}
	select {
	case <-l.closed:
	case <-time.After(10 * time.Second):
		l.nc.Close()
	}
}
