package solutionlog

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/script"
)

// benchRun runs src on a pooled engine, each run writing to l when it is not nil.
func benchRun(b *testing.B, src string, l *Log) {
	e := script.NewEngine(script.Options{HeapLimit: -1})
	b.Cleanup(e.Close)
	p, err := script.Compile("bench", src)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		run := script.Run{Solution: "bench"}
		if l != nil {
			run.Log = l.Writer("bench", "endpoint GET /bench", "0123456789abcdef01234567")
		}
		if _, err := e.Run(ctx, p, run); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if l != nil {
		b.ReportMetric(float64(l.dropped.Load())/float64(b.N), "dropped/op")
	}
}

const printScript = `print("hello from the benchmark") return 1`

// BenchmarkRunTrivial is a pooled trivial run, the reference of the others.
func BenchmarkRunTrivial(b *testing.B) { benchRun(b, `return 1`, nil) }

// BenchmarkRunPrintNowhere is the run with its print going nowhere (no log, the engine's
// logger off): what calling print costs, before any logging.
func BenchmarkRunPrintNowhere(b *testing.B) { benchRun(b, printScript, nil) }

// BenchmarkRunPrintOwnCost is a pooled run printing one line, to a log whose publisher takes
// the entries as the real one does (woken, then gathering for batchWait) and throws them away:
// what the run itself pays for its print (must stay within 2x of BenchmarkRunTrivial).
func BenchmarkRunPrintOwnCost(b *testing.B) {
	l := &Log{o: Options{}.withDefaults(), queue: make(chan Entry, DefaultQueue), wake: make(chan struct{}, 1)}
	stop := make(chan struct{})
	go func() {
		for {
			l.asleep.Store(true)
			if len(l.queue) == 0 {
				select {
				case <-l.wake:
				case <-stop:
					return
				}
			}
			l.asleep.Store(false)
			time.Sleep(batchWait)
			for len(l.queue) > 0 {
				<-l.queue
			}
		}
	}()
	b.Cleanup(func() { close(stop) })
	benchRun(b, printScript, l)
}

// BenchmarkRunPrintStored is the same run with its entry published to the log stream of an
// embedded NATS server in this process: the publisher and the server share the CPUs with the
// runs, and in a loop this tight the entries come faster than they can be stored, so most are
// dropped (dropped/op).
func BenchmarkRunPrintStored(b *testing.B) { benchRun(b, printScript, openLog(b, Options{})) }
