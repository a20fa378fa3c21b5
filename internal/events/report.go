package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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
	StatePending      = "pending"       // stored, not yet picked up
	StateRunning      = "running"       // an instance is running it
	StateSucceeded    = "succeeded"     // ran without error
	StateRetrying     = "retrying"      // failed; another attempt is due at next_attempt_at
	StateDeadLettered = "dead-lettered" // failed its last attempt; parked in SB_DLQ
	StateDropped      = "dropped"       // not run: its handler was deleted or left the topic
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
	Duration      Duration   `json:"duration"`
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

// openDeliveries opens the bucket, creating it when missing.
func (d *Dispatcher) openDeliveries(ctx context.Context) error {
	kv, err := d.o.Bus.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: deliveriesBucket, Description: "Switchboard durable event deliveries",
		TTL: eventsMaxAge, History: 1,
	})
	if err != nil {
		return err
	}
	d.deliveries = kv
	return nil
}

// recordPending writes a pending record unless one exists, so an event sent again does not
// reset how far its delivery got.
func (d *Dispatcher) recordPending(ctx context.Context, e Event, handler string) error {
	data, _ := json.Marshal(Delivery{Handler: handler, Topic: e.Topic, State: StatePending, UpdatedAt: time.Now().UTC()})
	_, err := d.deliveries.Create(ctx, deliveryKey(e.Solution, e.ID, handler, e.Topic), data)
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("record delivery of event %s to %s: %w", e.ID, handler, err)
	}
	return nil
}

// record writes where a run stands; a failure is only logged, as the run's outcome is what
// matters and the next write repairs the record.
func (d *Dispatcher) record(ctx context.Context, e Event, dl Delivery) {
	dl.Topic = e.Topic
	dl.UpdatedAt = time.Now().UTC()
	data, _ := json.Marshal(dl)
	if _, err := d.deliveries.Put(ctx, deliveryKey(e.Solution, e.ID, dl.Handler, e.Topic), data); err != nil {
		d.log.Warn("delivery record not written", "solution", e.Solution, "event", e.ID, "handler", dl.Handler, "err", err)
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
	if lister != nil {
		for key := range lister.Keys() {
			ent, err := d.deliveries.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue // expired meanwhile
			}
			if err != nil {
				return Report{}, fmt.Errorf("read delivery of event %s: %w", id, err)
			}
			var dl Delivery
			if err := json.Unmarshal(ent.Value(), &dl); err != nil {
				d.log.Error("skip unreadable delivery record", "key", key, "err", err)
				continue
			}
			r.Handlers = append(r.Handlers, dl)
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
