package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
)

// Stream is the hub's metrics stream; each solution's samples go to sb.metrics.<solution>.
const (
	Stream        = "SB_METRICS"
	subjectPrefix = "sb.metrics."
)

// Bounds of the stream and of reading it.
const (
	// DefaultInterval is how often each instance samples.
	DefaultInterval = 10 * time.Second
	// DefaultMaxBytes bounds the whole stream; the oldest samples go first when it is full.
	DefaultMaxBytes = 128 << 20
	// PerSolution bounds one solution's samples: an hour of 10s samples from 22 instances.
	PerSolution = 8192
	// maxSampleBytes bounds one stored sample: MaxSeries handlers and connectors with their
	// names and counts are well under it.
	maxSampleBytes = 64 << 10
	// maxAge keeps a little more than MaxWindow, so a window's first step is whole.
	maxAge = MaxWindow + time.Minute
	// maxReads bounds the reads running at once, on this instance, whoever asks.
	maxReads  = 8
	fetchSize = 256
)

// Options configure a History. Zero values take the defaults.
type Options struct {
	// Interval is how often instances sample: reads refuse finer steps.
	Interval time.Duration
	MaxBytes int64
	Logger   *slog.Logger
}

// History stores and reads the samples of every instance.
type History struct {
	o      Options
	js     jetstream.JetStream
	stream jetstream.Stream
	reads  chan struct{}
}

// Open creates or updates the metrics stream.
func Open(ctx context.Context, b *bus.Bus, o Options) (*History, error) {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &History{o: o, js: b.JetStream(), reads: make(chan struct{}, maxReads)}
	var err error
	h.stream, err = h.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              Stream,
		Description:       "Switchboard solutions' metrics of the last hour",
		Subjects:          []string{subjectPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Replicas:          b.Replicas(),
		MaxAge:            maxAge,
		MaxBytes:          o.MaxBytes,
		MaxMsgsPerSubject: PerSolution,
		MaxMsgSize:        maxSampleBytes,
		Discard:           jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("metrics history: stream %s: %w", Stream, err)
	}
	return h, nil
}

// Interval is how often instances sample.
func (h *History) Interval() time.Duration { return h.o.Interval }

func subject(sol string) string { return subjectPrefix + sol }

// publish stores the samples of one interval, waiting for the stream's acknowledgements
// until ctx ends; it returns how many were not stored, with the first error.
func (h *History) publish(ctx context.Context, samples map[string]*Sample) (int, error) {
	var futures []jetstream.PubAckFuture
	failed := 0
	var first error
	fail := func(err error) {
		failed++
		if first == nil {
			first = err
		}
	}
	for sol, s := range samples {
		data, err := json.Marshal(s)
		if err != nil {
			fail(fmt.Errorf("encode sample of %s: %w", sol, err))
			continue
		}
		f, err := h.js.PublishAsync(subject(sol), data)
		if err != nil {
			fail(fmt.Errorf("publish sample of %s: %w", sol, err))
			continue
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			fail(fmt.Errorf("publish sample: %w", err))
		case <-ctx.Done():
			fail(fmt.Errorf("publish sample: %w", ctx.Err()))
		}
	}
	return failed, first
}

// Read sums the samples of sol in q's window, from every instance, into q's steps. q must be
// valid (see Validate); a zero End is now.
func (h *History) Read(ctx context.Context, sol string, q Query) (Answer, error) {
	if err := q.Validate(h.o.Interval); err != nil {
		return Answer{}, err
	}
	if q.End.IsZero() {
		q.End = time.Now()
	}
	select {
	case h.reads <- struct{}{}:
		defer func() { <-h.reads }()
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	}
	agg := newAggregator(q)
	start := agg.start
	// A sample is stored after its time: nothing of the window is stored before its start.
	c, err := h.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     subject(sol),
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &start,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	})
	if err != nil {
		return Answer{}, fmt.Errorf("read metrics of %s: %w", sol, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.stream.DeleteConsumer(dctx, c.CachedInfo().Name) // else it goes after InactiveThreshold
	}()
	// The subject holds at most PerSolution samples: that bounds the reading.
	for scanned := 0; scanned < PerSolution; {
		batch, err := c.FetchNoWait(min(fetchSize, PerSolution-scanned))
		if err != nil {
			return Answer{}, fmt.Errorf("read metrics of %s: %w", sol, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var s Sample
			if json.Unmarshal(m.Data(), &s) != nil {
				continue // not a sample: nothing to count
			}
			agg.add(s)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return Answer{}, fmt.Errorf("read metrics of %s: %w", sol, err)
		}
		if got == 0 {
			break
		}
		scanned += got
		if err := ctx.Err(); err != nil {
			return Answer{}, err
		}
	}
	return agg.answer(sol), nil
}

// Drop removes the samples of a deleted solution.
func (h *History) Drop(ctx context.Context, sol string) error {
	if h == nil {
		return nil
	}
	err := h.stream.Purge(ctx, jetstream.WithPurgeSubject(subject(sol)))
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("drop metrics of %s: %w", sol, err)
	}
	return nil
}
