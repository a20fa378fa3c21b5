package main

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// amqp: a durable queue of persistent messages, published with confirms; read with manual
// acknowledgements and a prefetch, one ack (multiple) for each batch of what had arrived, as
// the connector does.
type amqpBroker struct {
	url  string
	conn *amqp.Connection
	// chans are the publishers' channels, in confirm mode: each publish takes one.
	chans chan *amqp.Channel
}

func newAMQP(_ context.Context, c config) (broker, error) {
	conn, err := amqp.DialConfig(c.amqp, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("amqp: %w", err)
	}
	b := &amqpBroker{url: c.amqp, conn: conn, chans: make(chan *amqp.Channel, c.clients+1)}
	for range c.clients + 1 { // one more for the probes
		ch, err := conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("amqp publisher channel: %w", err)
		}
		b.chans <- ch
	}
	return b, nil
}

func (b *amqpBroker) close() { b.conn.Close() }

func (b *amqpBroker) dest(_ context.Context, tag string) (destination, error) {
	ch, err := b.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("amqp channel: %w", err)
	}
	defer ch.Close()
	q := "connload-" + tag
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		return nil, fmt.Errorf("amqp declare %s: %w", q, err)
	}
	return &amqpDest{b: b, queue: q}, nil
}

type amqpDest struct {
	b     *amqpBroker
	queue string
}

func (d *amqpDest) publish(ctx context.Context, id string, body []byte) error {
	var ch *amqp.Channel
	select {
	case ch = <-d.b.chans:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { d.b.chans <- ch }()
	conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", d.queue, true, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent, MessageId: id, Body: body})
	if err != nil {
		return err
	}
	ok, err := conf.WaitContext(ctx)
	if err == nil && !ok {
		err = fmt.Errorf("message %s nacked", id)
	}
	return err
}

func (d *amqpDest) consume(ctx context.Context, inFlight int, got func([]byte)) (func(), error) {
	conn, err := amqp.DialConfig(d.b.url, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("amqp: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Qos(inFlight, 0, false)
	}
	var deliveries <-chan amqp.Delivery
	if err == nil {
		deliveries, err = ch.Consume(d.queue, "", false, false, false, false, nil)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("amqp consume %s: %w", d.queue, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		batch := make([]amqp.Delivery, 0, inFlight)
		for dl := range deliveries {
			batch = append(batch[:0], dl)
		more:
			for len(batch) < inFlight {
				select {
				case dl, ok := <-deliveries:
					if !ok {
						break more
					}
					batch = append(batch, dl)
				default:
					break more
				}
			}
			for _, dl := range batch {
				got(dl.Body)
			}
			if ch.Ack(batch[len(batch)-1].DeliveryTag, true) != nil {
				return
			}
		}
	}()
	return func() { conn.Close(); <-done }, nil
}

func (d *amqpDest) connector(inFlight int) (string, map[string]any) {
	return "amqp", map[string]any{"url": d.b.url, "queue": d.queue, "prefetch": inFlight}
}

func (d *amqpDest) close(context.Context) {
	if ch, err := d.b.conn.Channel(); err == nil {
		ch.QueueDelete(d.queue, false, false, false) //nolint:errcheck // best effort
		ch.Close()
	}
}
