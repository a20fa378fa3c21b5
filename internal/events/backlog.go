package events

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// backlogTimeout bounds the stream query one scrape makes.
const backlogTimeout = 2 * time.Second

var backlogDesc = prometheus.NewDesc("switchboard_event_handler_backlog",
	"Durable event work items not yet done (waiting, running or waiting for a retry), by solution and handler: the consumer lag.",
	[]string{"solution", "handler"}, nil)

// BacklogCollector reports the durable work waiting per handler, read from the work stream
// when scraped, so every instance reports the cluster-wide backlog. Only handlers with work
// waiting have a series.
func (d *Dispatcher) BacklogCollector() prometheus.Collector { return backlog{d} }

type backlog struct{ d *Dispatcher }

func (b backlog) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc }

func (b backlog) Collect(ch chan<- prometheus.Metric) {
	counts, err := b.d.Backlog(context.Background())
	if err != nil {
		b.d.log.Warn("event backlog not reported", "err", err)
		return
	}
	for sub, n := range counts {
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n), sub[0], sub[1])
	}
}

// Backlog counts the durable events not yet done, by [solution, handler]: waiting, running
// or waiting for a retry, as each handler's consumer counts them.
func (d *Dispatcher) Backlog(ctx context.Context) (map[[2]string]uint64, error) {
	d.setupMu.Lock()
	ready := d.ready
	d.setupMu.Unlock()
	if !ready {
		return nil, nil // nothing was ever enqueued or started here
	}
	ctx, cancel := context.WithTimeout(ctx, backlogTimeout)
	defer cancel()
	st, err := d.o.Bus.JetStream().Stream(ctx, EventsStream)
	if err != nil {
		return nil, err
	}
	out := map[[2]string]uint64{}
	infos := st.ListConsumers(ctx)
	for info := range infos.Info() {
		sol, handler, ok := consumerOf(info.Name)
		if n := info.NumPending + uint64(info.NumAckPending); ok && n > 0 {
			out[[2]string{sol, handler}] = n
		}
	}
	if err := infos.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
