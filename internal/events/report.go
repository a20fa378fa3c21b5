package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// deliveriesBucket is the KV bucket of durable events' delivery records, one per (event,
// handler), keyed <solution>.<event id, base64url>.<handler>.<topic>. Records expire with the
// events they describe.
const deliveriesBucket = "sb_deliveries"

// States of a durable event's run of one handler.
const (
	StatePending      = "pending"       // stored, not yet run (or run for less than runningAfter)
	StateRunning      = "running"       // an instance has been running it for runningAfter or more
	StateSucceeded    = "succeeded"     // ran without error
	StateRetrying     = "retrying"      // failed; another attempt is due at next_attempt_at
	StateDeadLettered = "dead-lettered" // failed its last attempt; parked in SB_DLQ
	StateDropped      = "dropped"       // not run: its handler was deleted or left the topic
	StateExpired      = "expired"       // not run (again): its Expires had passed
)

// Delivery is where one handler's run of a durable event stands.
type Delivery struct {
	Handler  string `json:"handler"`
	Topic    string `json:"topic"`
	State    string `json:"state"`
	Attempts uint64 `json:"attempts"`
	// LastError and ErrorID are those of the last failed attempt; ErrorID finds the whole
	// error in the solution's log.
	LastError string `json:"last_error,omitempty"`
	ErrorID   string `json:"error_id,omitempty"`
	// Duration is how long the last attempt ran.
	Duration Duration `json:"duration"`
	// Replays is how often the event came back from the dead letters before this run.
	Replays       int        `json:"replays,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// Report is a durable event's delivery report: one Delivery per handler it fanned out to.
type Report struct {
	ID       string     `json:"id"`
	Solution string     `json:"solution"`
	Handlers []Delivery `json:"handlers"`
}

func deliveryKey(sol, id, handler, topic string) string {
	return sol + "." + encodeID(id) + "." + handler + "." + topic
}

// encodeID makes an event id (any printable ASCII) one KV key token.
func encodeID(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// openDeliveries opens the bucket, creating it when missing, and starts the writer of
// delivery records.
func (d *Dispatcher) openDeliveries(ctx context.Context) error {
	kv, err := d.o.Bus.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: deliveriesBucket, Description: "Switchboard durable event deliveries",
		TTL: EventsMaxAge, History: 1,
	})
	if err != nil {
		return err
	}
	d.deliveries = kv
	d.records = make(chan record, recordQueue)
	d.recordsDone = make(chan struct{})
	go d.writeRecords(d.records)
	return nil
}

// Delivery records are written behind the runs, in order, many per round trip: a run's
// outcome is its acknowledgement, and the record only tells of it.
const (
	recordQueue   = 4096
	recordBatch   = 256
	recordTimeout = 5 * time.Second
)

type record struct{ key, data []byte }

// fanOut is the record of the handlers e fans out to, stored with the event: a report
// shows those without a record of their own yet as pending.
func (d *Dispatcher) fanOut(e Event, handlers []string) pending {
	data, _ := json.Marshal(fanOutRecord{Topic: e.Topic, Handlers: handlers, At: time.Now().UTC()})
	return pending{subject: kvSubject(fanOutKey(e.Solution, e.ID, e.Topic)), data: data}
}

type fanOutRecord struct {
	Topic    string    `json:"topic"`
	Handlers []string  `json:"handlers"`
	At       time.Time `json:"at"`
}

// fanOutKey sorts before every handler's record of the event: '_' starts no handler name.
func fanOutKey(sol, id, topic string) string { return sol + "." + encodeID(id) + "._." + topic }

func kvSubject(key string) string { return "$KV." + deliveriesBucket + "." + key }

// record queues where a run stands, to be written behind it; when the queue is full the
// caller waits, so records are slowed rather than lost.
func (d *Dispatcher) record(ctx context.Context, e Event, dl Delivery) {
	dl.Topic = e.Topic
	dl.UpdatedAt = time.Now().UTC()
	data, _ := json.Marshal(dl)
	r := record{key: []byte(deliveryKey(e.Solution, e.ID, dl.Handler, e.Topic)), data: data}
	d.recordsMu.RLock()
	defer d.recordsMu.RUnlock()
	if d.recordsClosed {
		return // only a run outliving Close: its outcome stands, unrecorded
	}
	select {
	case d.records <- r:
	case <-ctx.Done():
	}
}

// recordNow writes where a run stands and waits for it: what a redelivery reads back.
func (d *Dispatcher) recordNow(ctx context.Context, e Event, dl Delivery) {
	dl.Topic = e.Topic
	dl.UpdatedAt = time.Now().UTC()
	data, _ := json.Marshal(dl)
	if _, err := d.deliveries.Put(ctx, deliveryKey(e.Solution, e.ID, dl.Handler, e.Topic), data); err != nil {
		d.log.Warn("delivery record not written", "solution", e.Solution, "event", e.ID, "handler", dl.Handler, "err", err)
	}
}

// attemptsMade reads how many runs of an event the handler has made, and the state its
// record is in, for a delivery of it in its replays-th life (records of an earlier life do
// not count).
func (d *Dispatcher) attemptsMade(ctx context.Context, e Event, p parcel) (uint64, string) {
	ent, err := d.deliveries.Get(ctx, deliveryKey(e.Solution, e.ID, p.handler, e.Topic))
	if err != nil {
		return 0, ""
	}
	var dl Delivery
	if json.Unmarshal(ent.Value(), &dl) != nil || dl.Replays != p.replays {
		return 0, ""
	}
	return dl.Attempts, dl.State
}

// writeRecords publishes queued records until the queue is closed, waiting for each batch's
// acknowledgements; a failure is only logged, as the next record of the run repairs it.
func (d *Dispatcher) writeRecords(records <-chan record) {
	defer close(d.recordsDone)
	js := d.o.Bus.JetStream()
	futures := make([]jetstream.PubAckFuture, 0, recordBatch)
	for r := range records {
		batch := []record{r}
	more:
		for len(batch) < recordBatch {
			select {
			case r, ok := <-records:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		futures = futures[:0]
		for _, r := range batch {
			f, err := js.PublishAsync(kvSubject(string(r.key)), r.data)
			if err != nil {
				d.log.Warn("delivery record not written", "key", string(r.key), "err", err)
				continue
			}
			futures = append(futures, f)
		}
		timeout := time.NewTimer(recordTimeout)
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				d.log.Warn("delivery record not written", "subject", f.Msg().Subject, "err", err)
			case <-timeout.C:
				// The connection is gone (the hub stopping) or the server is stuck: these
				// records are lost, the runs they tell of are not.
				d.log.Warn("delivery records not confirmed", "after", recordTimeout)
				goto next
			}
		}
	next:
		timeout.Stop()
	}
}

// closeRecords writes what is queued and stops the writer; no run may record after it.
func (d *Dispatcher) closeRecords() {
	d.setupMu.Lock()
	ready := d.ready
	d.setupMu.Unlock()
	d.recordsMu.Lock()
	closing := ready && !d.recordsClosed
	d.recordsClosed = true
	d.recordsMu.Unlock()
	if closing {
		close(d.records)
		<-d.recordsDone
	}
}

// Report returns the delivery report of a durable event of sol: every handler it fanned out
// to, by handler and topic. An event unknown (never enqueued, or expired) is ErrNotFound.
func (d *Dispatcher) Report(ctx context.Context, sol, id string) (Report, error) {
	if err := solution.ValidateID(sol); err != nil {
		return Report{}, renamed(err, "solution") // a malformed id could widen the key filter
	}
	if err := validateID(id); err != nil {
		return Report{}, err
	}
	if err := d.setup(ctx); err != nil {
		return Report{}, err
	}
	lister, err := d.deliveries.ListKeysFiltered(ctx, sol+"."+encodeID(id)+".>")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return Report{}, fmt.Errorf("list deliveries of event %s: %w", id, err)
	}
	r := Report{ID: id, Solution: sol, Handlers: []Delivery{}}
	type ht struct{ handler, topic string }
	seen := map[ht]bool{}
	var fanouts []fanOutRecord
	if lister != nil {
		for key := range lister.Keys() {
			ent, err := d.deliveries.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue // expired meanwhile
			}
			if err != nil {
				return Report{}, fmt.Errorf("read delivery of event %s: %w", id, err)
			}
			if strings.HasPrefix(key, sol+"."+encodeID(id)+"._.") {
				var f fanOutRecord
				if err := json.Unmarshal(ent.Value(), &f); err != nil {
					d.log.Error("skip unreadable fan-out record", "key", key, "err", err)
					continue
				}
				fanouts = append(fanouts, f)
				continue
			}
			var dl Delivery
			if err := json.Unmarshal(ent.Value(), &dl); err != nil {
				d.log.Error("skip unreadable delivery record", "key", key, "err", err)
				continue
			}
			seen[ht{dl.Handler, dl.Topic}] = true
			r.Handlers = append(r.Handlers, dl)
		}
	}
	for _, f := range fanouts {
		for _, h := range f.Handlers {
			if !seen[ht{h, f.Topic}] {
				seen[ht{h, f.Topic}] = true
				r.Handlers = append(r.Handlers, Delivery{Handler: h, Topic: f.Topic, State: StatePending, UpdatedAt: f.At})
			}
		}
	}
	if len(r.Handlers) == 0 {
		return Report{}, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	sort.Slice(r.Handlers, func(i, j int) bool {
		a, b := r.Handlers[i], r.Handlers[j]
		return a.Handler < b.Handler || (a.Handler == b.Handler && a.Topic < b.Topic)
	})
	return r, nil
}
