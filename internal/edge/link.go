package edge

import (
	"context"
	"errors"
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

// Delivery is one message of a node, as the hub hands it on.
type Delivery struct {
	// Subject is the suffix the node published under.
	Subject string
	Data    []byte
	// MsgID is the node's message id ("" when it gave none).
	MsgID string
	// NodeSeq is the message's sequence in the node's outbox.
	NodeSeq uint64
	// Lost is how many of the node's messages before this one the hub never got: the count a
	// message of subject LostSubject carries (its full outbox refused them), or a gap in
	// the outbox's sequence.
	Lost uint64
}

// Link is the hub's side of one node: the node's domain, where the hub takes the messages of
// its outbox and writes its assignment. It has a connection of its own, whose replies the
// node is allowed to send (see Grant).
type Link struct {
	domain string
	nc     *nats.Conn
	closed chan struct{}       // closed with the connection
	node   jetstream.JetStream // the node's domain, across the leaf connection

	lost      atomic.Uint64
	stop      chan struct{} // ends the receiving
	done      chan struct{} // closed when the receiving ended
	closeOnce sync.Once
	mu        sync.Mutex
	kv        jetstream.KeyValue
}

// hubConsumer is the durable consumer, on the node's outbox, through which the hub takes the
// node's messages.
const hubConsumer = "hub"

// OpenLink opens the hub's side of the node of domain; nothing is asked of the node yet.
func OpenLink(dial Dialer, domain string) (*Link, error) {
	if err := checkDomain(domain); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	l := &Link{domain: domain, closed: make(chan struct{})}
	nc, err := dial(nats.CustomInboxPrefix(linkPrefix(domain)+".reply"), nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(l.closed) }))
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", domain, err)
	}
	l.nc = nc
	if l.node, err = jetstream.NewWithDomain(nc, domain); err != nil {
		nc.Close()
		return nil, fmt.Errorf("link %s: %w", domain, err)
	}
	return l, nil
}

// Receive hands each of the node's messages to handle, in order, from where the last Receive
// of this domain stopped; a message is acknowledged once handle returned nil and offered again
// (after a pause) otherwise. The hub asks the node for them itself, through a durable consumer
// on the node's outbox (its state kept by the node), once a second while the node is away: a
// node coming back is served within a second, and no request lost on the way holds it up.
// It returns at once.
func (l *Link) Receive(ctx context.Context, handle func(context.Context, Delivery) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		return fmt.Errorf("link %s: already receiving", l.domain)
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.receive(ctx, handle)
	return nil
}

// pause waits d, or until the link stops; it says whether to go on.
func (l *Link) pause(d time.Duration) bool {
	select {
	case <-l.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// consumer is the hub's consumer on the node's outbox, and the outbox sequence acknowledged
// last through it.
func (l *Link) consumer(ctx context.Context) (jetstream.Consumer, uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := l.node.CreateOrUpdateConsumer(cctx, OutboxStream, jetstream.ConsumerConfig{
		Durable:   hubConsumer,
		AckPolicy: jetstream.AckExplicitPolicy,
		// One at a time: a message offered again does not overtake the next one.
		MaxAckPending: 1,
		// A message on its way when the link broke (its fetch gone, or its acknowledgement
		// lost) holds up the rest until then: short. One handled longer is offered again, and
		// stored once all the same (the hub's events are deduplicated by id).
		AckWait: 5 * time.Second,
	})
	if err != nil {
		return nil, 0, err
	}
	info, err := c.Info(cctx)
	if err != nil {
		return nil, 0, err
	}
	if info.AckFloor.Consumer == 0 {
		// Nothing taken yet: whatever the outbox dropped before its first message is lost.
		return c, 0, nil
	}
	return c, info.AckFloor.Stream, nil
}

// receive fetches one message at a time until Close.
func (l *Link) receive(ctx context.Context, handle func(context.Context, Delivery) error) {
	defer close(l.done)
	var c jetstream.Consumer
	var last uint64 // the outbox sequence acknowledged last, for counting gaps
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		if c == nil {
			var err error
			if c, last, err = l.consumer(ctx); err != nil {
				c = nil
				if !l.pause(time.Second) { // the node is away
					return
				}
				continue
			}
		}
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			c = nil
			if !l.pause(200 * time.Millisecond) {
				return
			}
			continue
		}
		got := false
		for m := range batch.Messages() {
			got = true
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
		if !got && batch.Error() != nil && !errors.Is(batch.Error(), nats.ErrTimeout) {
			c = nil // the node went away, or its consumer did: make it again
			if !l.pause(200 * time.Millisecond) {
				return
			}
		}
	}
}

// delivery reads m as a message of the outbox; last is the outbox sequence acknowledged
// before it (0: none yet).
func (l *Link) delivery(m jetstream.Msg, last uint64) (Delivery, error) {
	md, err := m.Metadata()
	if err != nil {
		return Delivery{}, err
	}
	pre := "edge." + l.domain + "."
	if !strings.HasPrefix(m.Subject(), pre) {
		return Delivery{}, fmt.Errorf("subject %q is not of the node", m.Subject())
	}
	seq := md.Sequence.Stream
	d := Delivery{Subject: strings.TrimPrefix(m.Subject(), pre), Data: m.Data(), MsgID: m.Headers().Get(jetstream.MsgIDHeader), NodeSeq: seq}
	if last > 0 && seq > last+1 {
		d.Lost = seq - last - 1 // removed from the outbox before the hub had them
	}
	if d.Subject == LostSubject {
		n, err := strconv.ParseUint(string(d.Data), 10, 64)
		if err != nil {
			return Delivery{}, fmt.Errorf("count of dropped messages %q: %w", d.Data, err)
		}
		d.Lost += n
	}
	return d, nil
}

// Lost is how many of the node's messages the hub never got, as far as this Link has seen.
func (l *Link) Lost() uint64 { return l.lost.Load() }

// Assign puts value under key in the node's assignment bucket, in the node's domain: it
// fails when the node is not connected.
func (l *Link) Assign(ctx context.Context, key string, value []byte) (uint64, error) {
	kv, err := l.bucket(ctx)
	if err != nil {
		return 0, fmt.Errorf("assign %s on %s: %w", key, l.domain, err)
	}
	rev, err := kv.Put(ctx, key, value)
	if err != nil {
		return 0, fmt.Errorf("assign %s on %s: %w", key, l.domain, err)
	}
	return rev, nil
}

// Prune deletes the keys of the node's assignment bucket under prefix that keep refuses: what
// the node no longer needs (the code of versions it no longer runs).
func (l *Link) Prune(ctx context.Context, prefix string, keep func(key string) bool) error {
	kv, err := l.bucket(ctx)
	if err != nil {
		return fmt.Errorf("prune %s: %w", l.domain, err)
	}
	keys, err := kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return fmt.Errorf("prune %s: %w", l.domain, err)
	}
	var failed error
	for k := range keys.Keys() {
		if !keep(k) {
			if err := kv.Purge(ctx, k); err != nil && failed == nil {
				failed = fmt.Errorf("prune %s on %s: %w", k, l.domain, err)
			}
		}
	}
	return failed
}

// bucket is the node's assignment bucket, across the leaf connection.
func (l *Link) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	l.mu.Lock()
	kv := l.kv
	l.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	kv, err := l.node.KeyValue(ctx, AssignBucket)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.kv = kv
	l.mu.Unlock()
	return kv, nil
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
