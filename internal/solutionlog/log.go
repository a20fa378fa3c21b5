package solutionlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/followers"
	"github.com/switchboardhq/switchboard/internal/metrics"
	"github.com/switchboardhq/switchboard/internal/script"
)

// Stream is the hub's log stream; each solution writes to subject sb.logs.<solution>.
const (
	Stream        = "SB_LOGS"
	subjectPrefix = "sb.logs."
)

// Defaults of Options.
const (
	DefaultMaxAge                  = 7 * 24 * time.Hour
	DefaultMaxBytes                = 256 << 20
	DefaultPerSolution             = 10_000
	DefaultQueue                   = 8192
	DefaultMaxFollowers            = 64
	DefaultMaxFollowersPerSolution = 4
	DefaultWarnEvery               = 30 * time.Second
)

// Options configure a Log. Zero values take the defaults.
type Options struct {
	// MaxAge and MaxBytes bound the whole stream: older entries go, and the oldest go first
	// when it is full.
	MaxAge   time.Duration
	MaxBytes int64
	// PerSolution is how many entries one solution keeps at most; its oldest go first, so a
	// noisy solution cannot push out another's entries.
	PerSolution int64
	// Queue is how many entries may wait to be published; beyond it they are dropped and
	// counted, never waited for.
	Queue int
	// MaxFollowers and MaxFollowersPerSolution bound the live followers (?follow=1).
	MaxFollowers, MaxFollowersPerSolution int
	// WarnEvery is how often dropped entries are reported in the hub's log.
	WarnEvery time.Duration
	Logger    *slog.Logger
	Metrics   *metrics.Metrics // may be nil
}

func (o Options) withDefaults() Options {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.PerSolution <= 0 {
		o.PerSolution = DefaultPerSolution
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.MaxFollowers <= 0 {
		o.MaxFollowers = DefaultMaxFollowers
	}
	if o.MaxFollowersPerSolution <= 0 {
		o.MaxFollowersPerSolution = DefaultMaxFollowersPerSolution
	}
	if o.WarnEvery <= 0 {
		o.WarnEvery = DefaultWarnEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Log writes and reads solutions' logs. A nil *Log writes nothing.
type Log struct {
	o      Options
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	queue  chan Entry

	dropped  atomic.Uint64 // entries not kept since the last warning
	failed   atomic.Uint64 // publishes that failed since the last warning
	stop     chan struct{}
	flush    chan chan struct{}
	wake     chan struct{} // a token when entries wait; the publisher sleeps on it
	asleep   atomic.Bool   // the publisher waits for a token (writers awake give none)
	done     chan struct{}
	stopOnce sync.Once

	followers *followers.Slots
}

// Open creates or updates the log stream with o's bounds and starts the publisher.
func Open(ctx context.Context, b *bus.Bus, o Options) (*Log, error) {
	o = o.withDefaults()
	l := &Log{
		o: o, queue: make(chan Entry, o.Queue), stop: make(chan struct{}), done: make(chan struct{}), flush: make(chan chan struct{}), wake: make(chan struct{}, 1),
		followers: followers.New(o.MaxFollowersPerSolution, o.MaxFollowers, ErrTooManyFollowers, ErrFollowersFull),
	}
	l.nc, l.js = b.Conn(), b.JetStream()
	var err error
	l.stream, err = l.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              Stream,
		Description:       "Switchboard solution logs",
		Subjects:          []string{subjectPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Replicas:          b.Replicas(),
		MaxAge:            o.MaxAge,
		MaxBytes:          o.MaxBytes,
		MaxMsgsPerSubject: o.PerSolution,
		MaxMsgSize:        maxEntryBytes,
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
	})
	if err != nil {
		return nil, fmt.Errorf("solution logs: stream %s: %w", Stream, err)
	}
	go l.publish()
	return l, nil
}

// maxEntryBytes bounds one stored entry: its bounded texts plus JSON overhead and escaping.
const maxEntryBytes = 64 << 10

func subject(sol string) string { return subjectPrefix + sol }

// Writer is the Run.Log of one run: entries of solution sol from source, with the request id.
func (l *Log) Writer(sol, source, requestID string) script.RunLog {
	if l == nil {
		return nil
	}
	return func(level slog.Level, msg string, fields map[string]any) {
		e := Entry{Time: time.Now().UTC(), Level: LevelName(level), Solution: sol, Source: source, RequestID: requestID, Message: msg}
		if len(fields) > 0 {
			// Encoded now: the run may change its tables once this returns.
			if raw, err := json.Marshal(fields); err == nil {
				e.Fields = raw
			}
		}
		l.Write(e)
	}
}

// Write queues e for publishing; when the queue is full it is dropped and counted. It never
// blocks.
func (l *Log) Write(e Entry) {
	if l == nil {
		return
	}
	select {
	case l.queue <- e:
	default:
		l.dropped.Add(1)
		l.count("queue_full")
		return
	}
	if l.asleep.Load() && l.asleep.CompareAndSwap(true, false) {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

func (l *Log) count(reason string) {
	if l.o.Metrics != nil {
		l.o.Metrics.LogsDropped.WithLabelValues(reason).Inc()
	}
}

// publish drains the queue and reports dropped entries now and then. Entries are published
// without asking for an acknowledgement: the stream discards its oldest entries rather than
// refusing new ones, so acknowledgements would tell little and cost a round trip and a
// reply each; Sync asks for one when a caller must know entries are stored.
func (l *Log) publish() {
	defer close(l.done)
	tick := time.NewTicker(l.o.WarnEvery)
	defer tick.Stop()
	gather := time.NewTimer(batchWait)
	gather.Stop()
	for {
		// Asleep, a writer wakes it; it looks at the queue once more first, as a writer may
		// have queued just before it said so.
		l.asleep.Store(true)
		woken := len(l.queue) > 0
		if !woken {
			select {
			case <-l.wake:
				woken = true
			case <-tick.C:
				l.warnDropped()
			case ack := <-l.flush:
				l.asleep.Store(false)
				l.drain()
				close(ack)
			case <-l.stop:
				l.asleep.Store(false)
				l.drain()
				l.warnDropped()
				return
			}
		}
		l.asleep.Store(false)
		if woken {
			// Entries come in bursts (a run prints several, runs run at once): waking once
			// for many costs the runs less than a switch to this goroutine for each.
			gather.Reset(batchWait)
			select {
			case <-gather.C:
			case <-l.stop:
				gather.Stop()
			}
			l.drain()
		}
	}
}

// batchWait is how long the publisher lets entries gather once woken.
const batchWait = 2 * time.Millisecond

// drain publishes what is queued now.
func (l *Log) drain() {
	for {
		select {
		case e := <-l.queue:
			l.send(e)
		default:
			return
		}
	}
}

// Sync waits until what was written before it is stored, or ctx ends: the queue is
// published, then a marker (on a subject no solution id can name) with an acknowledgement,
// which the stream gives once it stored what came before it on the connection.
func (l *Log) Sync(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case l.flush <- ack:
	case <-l.done:
		return errors.New("solution log closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, err := l.js.Publish(ctx, syncSubject, nil); err != nil {
		return fmt.Errorf("solution logs: sync: %w", err)
	}
	return nil
}

// syncSubject holds Sync's markers; "_" is never in a solution id, so no solution reads it.
const syncSubject = subjectPrefix + "_sync"

func (l *Log) send(e Entry) {
	e.Seq = 0
	e.Shape()
	data, err := json.Marshal(e)
	if err != nil {
		l.dropped.Add(1)
		l.count("encode")
		return
	}
	if err := l.nc.Publish(subject(e.Solution), data); err != nil {
		l.failed.Add(1)
		l.count("publish_failed")
	}
}

func (l *Log) warnDropped() {
	if n := l.dropped.Swap(0) + l.failed.Swap(0); n > 0 {
		l.o.Logger.Warn("solution log entries dropped: the log could not keep up or the server refused them", "entries", n)
	}
}

// Close publishes what is queued, waits (until ctx ends, at most closeWait) for the server to
// have it, and ends the followers. Writes after Close are dropped.
func (l *Log) Close(ctx context.Context) {
	if l == nil {
		return
	}
	l.EndFollowers()
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	ctx, cancel := context.WithTimeout(ctx, closeWait)
	defer cancel()
	_ = l.nc.FlushWithContext(ctx) // the server gone: the entries are lost either way
}

// closeWait bounds how long Close waits for the server to have the last entries.
const closeWait = 5 * time.Second

// Drop removes every entry of a deleted solution.
func (l *Log) Drop(ctx context.Context, sol string) error {
	if l == nil {
		return nil
	}
	err := l.stream.Purge(ctx, jetstream.WithPurgeSubject(subject(sol)))
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("drop logs of %s: %w", sol, err)
	}
	return nil
}
