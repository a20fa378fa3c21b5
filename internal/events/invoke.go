package events

import (
	"context"
	"fmt"
)

// DispatchTo runs handler of e.Solution for e now, whatever topics it subscribes to, and
// returns its return value: a direct invocation (the OpenFaaS gateway's /function/{name})
// names the handler rather than a topic. A missing solution or handler is ErrNoHandler
// (wrapped); a failed run is a *HandlerError.
func (d *Dispatcher) DispatchTo(ctx context.Context, e Event, handler string) (any, error) {
	e, lim, err := d.begin(ctx, e)
	if err != nil {
		return nil, err
	}
	b, ok := d.o.Store.handler(e.Solution, handler)
	if !ok {
		return nil, fmt.Errorf("handler %s of solution %s: %w", handler, e.Solution, ErrNoHandler)
	}
	return d.run(ctx, e, b, lim)
}
