package bus

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Watch feeds apply with every entry of kv, first the current ones and then each change, on a
// goroutine counted in wg that ends when wctx ends. It returns once the current entries are
// applied, or when ctx ends first. This is how each part keeps its in-memory view of a bucket.
func Watch(ctx, wctx context.Context, wg *sync.WaitGroup, kv jetstream.KeyValue, apply func(jetstream.KeyValueEntry)) error {
	w, err := kv.WatchAll(wctx)
	if err != nil {
		return err
	}
	loaded := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer w.Stop() //nolint:errcheck // nothing to do on a failed stop at shutdown
		once := sync.OnceFunc(func() { close(loaded) })
		for {
			select {
			case <-wctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // the current entries are all delivered
					once()
					continue
				}
				apply(e)
			}
		}
	}()
	select {
	case <-loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
