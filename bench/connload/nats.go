package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// nats: core NATS subjects, at most once: the raw consumer is a plain subscription; the
// connector takes what its subscription's buffer (max_in_flight) holds, in batches.
type natsCoreBroker struct {
	url string
	nc  *nats.Conn
}

func natsConnect(url string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name("connload"), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	return nc, nil
}

func newNATSCore(_ context.Context, c config) (broker, error) {
	nc, err := natsConnect(c.nats)
	if err != nil {
		return nil, err
	}
	return &natsCoreBroker{url: c.nats, nc: nc}, nil
}

func (b *natsCoreBroker) close() { b.nc.Close() }

func (b *natsCoreBroker) dest(_ context.Context, tag string) (destination, error) {
	return &natsCoreDest{b: b, subject: "connload." + tag}, nil
}

type natsCoreDest struct {
	b       *natsCoreBroker
	subject string
}

// publish hands the message to the client's buffer: core NATS says nothing back.
func (d *natsCoreDest) publish(_ context.Context, _ string, body []byte) error {
	return d.b.nc.Publish(d.subject, body)
}

func (d *natsCoreDest) consume(_ context.Context, _ int, got func([]byte)) (func(), error) {
	nc, err := natsConnect(d.b.url)
	if err != nil {
		return nil, err
	}
	if _, err := nc.Subscribe(d.subject, func(m *nats.Msg) { got(m.Data) }); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats subscribe: %w", err)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats flush: %w", err)
	}
	return nc.Close, nil
}

func (d *natsCoreDest) connector(inFlight int) (string, map[string]any) {
	return "nats", map[string]any{"url": d.b.url, "subjects": []string{d.subject}, "max_in_flight": inFlight}
}

func (d *natsCoreDest) close(context.Context) {}

// natsjs: a file-backed JetStream stream, published with acknowledgement and a message id;
// read by a durable pull consumer with explicit acks, at most max_in_flight pulled at once.
type natsJSBroker struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newNATSJetStream(ctx context.Context, c config) (broker, error) {
	nc, err := natsConnect(c.nats)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = js.AccountInfo(actx)
		cancel()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats %s: jetstream: %w", c.nats, err)
	}
	return &natsJSBroker{url: c.nats, nc: nc, js: js}, nil
}

func (b *natsJSBroker) close() { b.nc.Close() }

func (b *natsJSBroker) dest(ctx context.Context, tag string) (destination, error) {
	name := "CONNLOAD_" + strings.ToUpper(strings.ReplaceAll(tag, "-", "_"))
	subj := "connloadjs." + tag
	if _, err := b.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		return nil, fmt.Errorf("nats create stream %s: %w", name, err)
	}
	return &natsJSDest{b: b, stream: name, subject: subj}, nil
}

type natsJSDest struct {
	b       *natsJSBroker
	stream  string
	subject string
}

func (d *natsJSDest) publish(ctx context.Context, id string, body []byte) error {
	_, err := d.b.js.Publish(ctx, d.subject, body, jetstream.WithMsgID(id))
	return err
}

func (d *natsJSDest) consume(ctx context.Context, inFlight int, got func([]byte)) (func(), error) {
	cons, err := d.b.js.CreateConsumer(ctx, d.stream, jetstream.ConsumerConfig{Durable: "raw",
		AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: inFlight * 4, AckWait: 30 * time.Second,
		DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, fmt.Errorf("nats create consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(inFlight))
	if err != nil {
		return nil, fmt.Errorf("nats consume: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := it.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if err != nil {
				continue // a missed heartbeat and the like: the iterator goes on
			}
			got(m.Data())
			m.Ack() //nolint:errcheck // a lost ack only redelivers, counted once
		}
	}()
	return func() { it.Stop(); <-done }, nil
}

func (d *natsJSDest) connector(inFlight int) (string, map[string]any) {
	return "nats", map[string]any{"url": d.b.url, "max_in_flight": inFlight,
		"jetstream": map[string]any{"stream": d.stream, "consumer": "switchboard", "deliver": "all"}}
}

func (d *natsJSDest) close(ctx context.Context) { d.b.js.DeleteStream(ctx, d.stream) } //nolint:errcheck // best effort
