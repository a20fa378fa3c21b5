package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// redis: a stream, XADD in; read through a consumer group (XREADGROUP with a count), each
// batch acknowledged with one XACK, as the connector does.
type redisBroker struct {
	url  string
	opts *redis.Options
	rdb  *redis.Client
}

func newRedis(ctx context.Context, c config) (broker, error) {
	opts, err := redis.ParseURL(c.redis)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	opts.PoolSize = c.clients + 2
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return &redisBroker{url: c.redis, opts: opts, rdb: rdb}, nil
}

func (b *redisBroker) close() { b.rdb.Close() }

func (b *redisBroker) dest(_ context.Context, tag string) (destination, error) {
	return &redisDest{b: b, stream: "connload:" + tag}, nil
}

type redisDest struct {
	b      *redisBroker
	stream string
}

func (d *redisDest) publish(ctx context.Context, _ string, body []byte) error {
	return d.b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: d.stream, Values: []any{"data", body}}).Err()
}

func (d *redisDest) consume(ctx context.Context, inFlight int, got func([]byte)) (func(), error) {
	const group, consumer = "raw", "raw-1"
	if err := d.b.rdb.XGroupCreateMkStream(ctx, d.stream, group, "0").Err(); err != nil {
		return nil, fmt.Errorf("redis create group: %w", err)
	}
	// Its own client: XREADGROUP BLOCK holds a connection, and closing it ends the read.
	reader := redis.NewClient(d.b.opts)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rctx.Err() == nil {
			streams, err := reader.XReadGroup(rctx, &redis.XReadGroupArgs{Group: group, Consumer: consumer,
				Streams: []string{d.stream, ">"}, Count: int64(inFlight), Block: time.Second}).Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return
			}
			var ids []string
			for _, st := range streams {
				for _, m := range st.Messages {
					if s, ok := m.Values["data"].(string); ok {
						got([]byte(s))
					}
					ids = append(ids, m.ID)
				}
			}
			if len(ids) > 0 {
				if reader.XAck(rctx, d.stream, group, ids...).Err() != nil {
					return
				}
			}
		}
	}()
	return func() { cancel(); reader.Close(); <-done }, nil
}

func (d *redisDest) connector(inFlight int) (string, map[string]any) {
	return "redis", map[string]any{"url": d.b.url, "stream": d.stream, "group": "switchboard",
		"start": "0", "field": "data", "count": inFlight}
}

func (d *redisDest) close(ctx context.Context) { d.b.rdb.Del(ctx, d.stream) }
