package events

import (
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// OrderByPattern is what a handler's order_by must match: "topic", "subject",
// "correlation_id", or "data." and a path into the event's data.
var OrderByPattern = regexp.MustCompile(`^(topic|subject|correlation_id|data(\.[A-Za-z0-9_-]{1,64}){1,8})$`)

// ordered runs an ordered handler's deliveries: those of one key one at a time, in the order
// the stream holds them, retrying in place; different keys run side by side, up to the
// handler's max in flight. Deliveries waiting their turn are held here, at most maxHeld (a
// token of held each, taken before the delivery is fetched), and kept in progress so that the
// server does not send them again meanwhile.
type ordered struct {
	w       *worker
	maxHeld int
	held    chan struct{} // a token per delivery held, running or waiting
	stopped chan struct{} // closed by handBack: runs waiting to retry hand their event back
	runs    sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	queues    map[string][]jetstream.Msg // waiting deliveries by key
	scheduled map[string]bool            // keys running or in waiting
	waiting   []string                   // keys with deliveries and no run slot yet
	running   int
	seqs      map[uint64]bool // stream sequences held: a delivery sent again meanwhile is dropped
}

func newOrdered(w *worker) *ordered {
	n := max(64, 4*w.h.inFlight())
	o := &ordered{w: w, maxHeld: n, held: make(chan struct{}, n), stopped: make(chan struct{}),
		queues: map[string][]jetstream.Msg{}, scheduled: map[string]bool{}, seqs: map[uint64]bool{}}
	go o.keepAlive()
	return o
}

// push queues a delivery behind those of its key; the caller holds a token for it.
func (o *ordered) push(m jetstream.Msg) {
	key := o.w.h.orderKey(m.Data())
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		<-o.held
		m.Nak() //nolint:errcheck // redelivered after ackWait anyway
		return
	}
	if seq != 0 && o.seqs[seq] {
		// Sent again while held here (it waited longer than ackWait): the copy held runs.
		<-o.held
		return
	}
	if seq != 0 {
		o.seqs[seq] = true
	}
	o.queues[key] = append(o.queues[key], m)
	if !o.scheduled[key] {
		o.scheduled[key] = true
		o.waiting = append(o.waiting, key)
	}
	o.dispatch()
}

// dispatch starts runs for waiting keys while slots are free; o.mu is held.
func (o *ordered) dispatch() {
	for !o.closed && o.running < o.w.h.inFlight() && len(o.waiting) > 0 {
		key := o.waiting[0]
		o.waiting = o.waiting[1:]
		o.running++
		o.runs.Add(1)
		go o.run(key)
	}
}

// run handles key's deliveries in order; after each it yields its slot to another key
// waiting, so one busy key does not keep the others out.
func (o *ordered) run(key string) {
	defer o.runs.Done()
	for {
		o.mu.Lock()
		q := o.queues[key]
		if o.closed || len(q) == 0 {
			o.running--
			o.mu.Unlock()
			return
		}
		m := q[0]
		o.queues[key] = q[1:]
		o.mu.Unlock()

		o.w.d.handle(o.w.d.runCtx, o.w, m, true)

		o.mu.Lock()
		if md, err := m.Metadata(); err == nil {
			delete(o.seqs, md.Sequence.Stream)
		}
		<-o.held
		if len(o.queues[key]) == 0 {
			delete(o.queues, key)
			delete(o.scheduled, key)
			o.running--
			o.dispatch()
			o.mu.Unlock()
			return
		}
		if len(o.waiting) > 0 {
			o.waiting = append(o.waiting, key)
			o.running--
			o.dispatch()
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
	}
}

// handBack ends the runs (one waiting to retry hands its event back), waits for them, then
// returns every delivery not started to the server, each key's in order: the instance taking
// over runs them before anything after them.
func (o *ordered) handBack() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	close(o.stopped)
	o.mu.Unlock()
	o.runs.Wait()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, q := range o.queues {
		for _, m := range q {
			m.Nak() //nolint:errcheck // redelivered after ackWait anyway
			<-o.held
		}
	}
	o.queues, o.waiting, o.seqs = map[string][]jetstream.Msg{}, nil, map[uint64]bool{}
}

// keepAlive tells the server that held deliveries are in progress.
func (o *ordered) keepAlive() {
	t := time.NewTicker(ackWait / 3)
	defer t.Stop()
	for {
		select {
		case <-o.stopped:
			return
		case <-t.C:
			o.mu.Lock()
			for _, q := range o.queues {
				for _, m := range q {
					m.InProgress() //nolint:errcheck // at worst the event runs again
				}
			}
			o.mu.Unlock()
		}
	}
}

// orderKey is the key an event (as stored) is ordered by; an event without it has the key
// "", so such events are ordered among themselves.
func (h Handler) orderKey(raw []byte) string {
	var e struct {
		Topic         string          `json:"topic"`
		Subject       string          `json:"subject"`
		CorrelationID string          `json:"correlation_id"`
		Data          json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return ""
	}
	switch h.OrderBy {
	case "topic":
		return e.Topic
	case "subject":
		return e.Subject
	case "correlation_id":
		return e.CorrelationID
	}
	var v any
	if json.Unmarshal(e.Data, &v) != nil {
		return ""
	}
	for seg := range strings.SplitSeq(strings.TrimPrefix(h.OrderBy, "data."), ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[seg]
	}
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return "s:" + v
	default:
		b, _ := json.Marshal(v)
		return "j:" + string(b)
	}
}
