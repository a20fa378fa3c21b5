package connector

import (
	"context"
	"strconv"
	"testing"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/script"
)

// BenchmarkSink measures what a connector pays to store its messages: Sink.Publish into the
// events of an embedded bus, in batches as a source hands them over (1: the JetStream source,
// one message at a time; 16: the other brokers' default in flight). The handler subscribed
// to the topic does not run (the dispatcher is not started): this is the store alone.
func BenchmarkSink(b *testing.B) {
	ctx := context.Background()
	bs, err := bus.Open(ctx, bus.Config{DataDir: b.TempDir(), Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	store, err := events.OpenStore(ctx, bs, quiet())
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := store.Put(ctx, events.Handler{Solution: "demo", Name: "count", Topics: []string{"bench.sink"},
		Script: `Keystore.incr({key = "n"})`}); err != nil {
		b.Fatal(err)
	}
	d := events.NewDispatcher(events.DispatcherOptions{Store: store, Bus: bs, Logger: quiet(),
		Limits: func(string) (script.Limits, bool) { return script.Limits{}, true }})
	defer d.Close()

	for _, batch := range []int{1, 16, 128} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			c := Connector{Solution: "demo", Name: "bench-" + strconv.Itoa(batch), Type: "mqtt", Topic: "bench.sink"}
			s := &sink{r: &runner{m: &Manager{log: quiet()}, c: c}, pub: d}
			msgs := make([]Message, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				for j := range n {
					id := strconv.Itoa(i + j)
					msgs[j] = Message{ID: id, Data: []byte(`{"k":"t","i":` + id + `}`), Subject: "bench/sink"}
				}
				if err := s.Publish(ctx, msgs[:n]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if st := s.r.status; st.Published != uint64(b.N) || st.Rejected != 0 {
				b.Fatalf("published %d, rejected %d of %d", st.Published, st.Rejected, b.N)
			}
		})
	}
}
