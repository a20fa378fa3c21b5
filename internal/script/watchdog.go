package script

import (
	"fmt"
	"runtime/metrics"
	"time"
)

// The watchdog ends runs past their deadline or whose caller went away (signal.go), and is
// the last line of defence for memory: every watchInterval it reads the
// process heap from runtime/metrics, and when that is above Options.HeapLimit it stops the run
// that held the most memory at its last measurement (the tick sees the stop at its next check).
// It then waits for a garbage collection to finish before it stops another, so one spike
// costs one run, not all of them. Runs holding less than minVictim are never stopped: they
// cannot be the cause, and stopping them would not help.
//
// The same goroutine publishes the bytes the process has allocated so far (Engine.allocs).
// A run compares it with the value at its last walk: when the process has allocated more than
// the run's estimate leaves room for, the estimate may be low, and the run walks again. This
// costs runs nothing per tick (an atomic load every checkEvery ticks) and bounds what any
// allocation the estimate does not foresee can add between two walks.
const (
	watchInterval = 10 * time.Millisecond
	minVictim     = 1 << 20
)

const (
	heapMetric   = "/memory/classes/heap/objects:bytes"
	cyclesMetric = "/gc/cycles/total:gc-cycles"
	allocsMetric = "/gc/heap/allocs:bytes"
)

func (e *Engine) watch() {
	defer close(e.done)
	samples := []metrics.Sample{{Name: heapMetric}, {Name: cyclesMetric}, {Name: allocsMetric}}
	metrics.Read(samples)
	heapOK := true
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			e.log.Warn("script heap watchdog disabled: the runtime does not report " + s.Name)
			heapOK = false
		}
	}
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	var waitFor uint64 // no stop before this many GC cycles
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		e.signalRuns(time.Now())
		if !heapOK {
			continue
		}
		metrics.Read(samples)
		heap, cycles := samples[0].Value.Uint64(), samples[1].Value.Uint64()
		e.allocs.Store(samples[2].Value.Uint64())
		if e.opt.HeapLimit <= 0 || heap <= uint64(e.opt.HeapLimit) || cycles < waitFor {
			continue
		}
		if e.stopLargest(heap) {
			waitFor = cycles + 1
		}
	}
}

// stopLargest stops the run holding the most memory, if one holds enough to matter.
func (e *Engine) stopLargest(heap uint64) bool {
	e.mu.Lock()
	var (
		victim   *state
		gen      uint64
		most     int64
		lim      Limits
		solution string
	)
	for st := range e.states {
		st.mu.Lock()
		r := st.cur.Load()
		if r != nil && r.stop.Load() == nil {
			if m := r.mem.Load(); m > most {
				victim, gen, most, lim, solution = st, r.gen, m, r.limits, r.solution
			}
		}
		st.mu.Unlock()
	}
	e.mu.Unlock()
	if victim == nil || most < minVictim {
		return false
	}
	le := newLimitError(lim, LimitMemory, fmt.Sprintf(
		"the process heap of %s is above the engine's limit of %s; this run held %s",
		formatBytes(int64(heap)), formatBytes(e.opt.HeapLimit), formatBytes(most)))
	if !victim.kill(gen, le) {
		return false
	}
	e.log.Warn("script run stopped: process heap above the limit", "solution", solution,
		"heap", int64(heap), "limit", e.opt.HeapLimit, "run_memory", most)
	return true
}
