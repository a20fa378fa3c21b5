package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/bus/bustest"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/kaa"
)

func openBus(t *testing.T) *bus.Bus { return bustest.Open(t) }

// fakeStore records what the executor stores; a solution named "nohandler" has no handler
// for any topic, "broken" fails to store. gate, when set, holds every store until closed.
type fakeStore struct {
	mu     sync.Mutex
	stored []events.Event
	calls  int
	ch     chan events.Event
	gate   chan struct{}
}

func newFakeStore() *fakeStore { return &fakeStore{ch: make(chan events.Event, 1024)} }

func (f *fakeStore) EnqueueBatch(_ context.Context, es []events.Event) []error {
	if f.gate != nil {
		<-f.gate
	}
	errs := make([]error, len(es))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	for i, e := range es {
		switch e.Solution {
		case "nohandler":
			errs[i] = events.ErrNoHandler
		case "broken":
			errs[i] = errors.New("stream unavailable")
		}
	}
	if slices.ContainsFunc(errs, refused) && len(es) > 1 {
		// As the dispatcher: a batch with a refused event stores nothing.
		for i := range errs {
			if errs[i] == nil {
				errs[i] = events.ErrNoHandler
			}
		}
		return errs
	}
	for i, e := range es {
		if errs[i] == nil {
			f.stored = append(f.stored, e)
			f.ch <- e
		}
	}
	return errs
}

// next waits for the next stored event.
func (f *fakeStore) next(t *testing.T) events.Event {
	t.Helper()
	select {
	case e := <-f.ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no invocation stored within 10s")
		return events.Event{}
	}
}

func startExecutor(t *testing.T, b *bus.Bus, st Publisher, o ExecutorOptions) (*Executor, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	o.Conn, o.Store, o.Metrics = b.Conn(), st, m
	if o.Queue == "" {
		o.Queue = "switchboard"
	}
	if o.Solutions == nil {
		o.Solutions = func(id string) bool { return id == "plant" || id == "nohandler" || id == "broken" }
	}
	x, err := StartExecutor(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	return x, m
}

func encode(t *testing.T, inv kaa.Invocation) []byte {
	t.Helper()
	b, err := kaa.Encode(inv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func payload(s string) *[]byte { b := []byte(s); return &b }

const subj = "kaa.v1.events.kaa-trigger.service.automation.email-notification"

// TestExecutorDrops publishes what must be dropped, then good invocations: the executor
// takes them in order, so once a good one is stored in a later batch, the one before has
// been judged.
func TestExecutorDrops(t *testing.T) {
	b := openBus(t)
	st := newFakeStore()
	now := time.Now()
	_, m := startExecutor(t, b, st, ExecutorOptions{})
	nc := b.Conn()
	good := kaa.Invocation{CorrelationID: "good", Timestamp: now.UnixMilli(), TenantID: "plant", Payload: payload(`{"recipient":"a@example.com"}`)}
	big := make([]byte, kaa.MaxMessageBytes+1)
	for _, tc := range []struct {
		subject string
		data    []byte
		label   string // the type label
		tenant  string
		reason  string // "" expired
	}{
		{subj, []byte("not avro at all, far too long for it"), "email-notification", unknownTenant, "malformed"},
		{subj, otherRecord(t), "email-notification", unknownTenant, "malformed"}, // another record: wrong schema
		{subj, big, "email-notification", unknownTenant, "oversize"},
		{subj, encode(t, kaa.Invocation{CorrelationID: "c-unknown", TenantID: "nobody", Timestamp: now.UnixMilli()}), "email-notification", unknownTenant, "unknown_tenant"},
		{"kaa.v1.events.kaa-trigger.service.automation.Email", encode(t, kaa.Invocation{CorrelationID: "c-upper", TenantID: "plant"}), invalidType, "plant", "invalid_type"},
		{subj, encode(t, kaa.Invocation{CorrelationID: "c-future", TenantID: "plant", Timestamp: math.MaxInt64}), "email-notification", "plant", "malformed"},
		{subj, encode(t, kaa.Invocation{CorrelationID: "c-negative", TenantID: "plant", Timestamp: now.UnixMilli(), Timeout: -1}), "email-notification", "plant", "malformed"},
		{subj, encode(t, kaa.Invocation{CorrelationID: "c-expired", TenantID: "plant", Timestamp: now.Add(-time.Minute).UnixMilli(), Timeout: 1000}), "email-notification", "plant", ""},
		{subj, encode(t, kaa.Invocation{CorrelationID: "c-nohandler", TenantID: "nohandler", Timestamp: now.UnixMilli()}), "email-notification", "nohandler", "no_handler"},
		{subj, encode(t, kaa.Invocation{CorrelationID: "c-broken", TenantID: "broken", Timestamp: now.UnixMilli()}), "email-notification", "broken", "store_failed"},
	} {
		counter := m.Expired.WithLabelValues(tc.label, tc.tenant)
		if tc.reason != "" {
			counter = m.Rejected.WithLabelValues(tc.label, tc.tenant, tc.reason)
		}
		before := testutil.ToFloat64(counter)
		if err := nc.Publish(tc.subject, tc.data); err != nil {
			t.Fatal(err)
		}
		// Two good ones: the first may be in the batch of the one judged, whose outcome
		// is counted once the batch is stored; the second comes in a later batch.
		for range 2 {
			if err := nc.Publish(subj, encode(t, good)); err != nil {
				t.Fatal(err)
			}
			if e := st.next(t); e.ID != "good" {
				t.Fatalf("stored %q, want the good invocation", e.ID)
			}
		}
		if got := testutil.ToFloat64(counter) - before; got != 1 {
			t.Errorf("%s/%s/%q counted %v times, want 1", tc.label, tc.tenant, tc.reason, got)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, e := range st.stored {
		if e.ID != "good" {
			t.Errorf("stored %q: it should have been dropped", e.ID)
		}
	}
	if n := testutil.ToFloat64(m.Received.WithLabelValues("email-notification", "plant")); n != 23 {
		t.Errorf("received for plant: %v, want 23 (20 good, 2 malformed, 1 expired)", n)
	}
}

func TestExecutorEvent(t *testing.T) {
	b := openBus(t)
	st := newFakeStore()
	startExecutor(t, b, st, ExecutorOptions{})
	ts := time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC) // in the past, whatever the day
	far := time.Now().Add(time.Hour).UnixMilli() - ts.UnixMilli()
	for _, tc := range []struct {
		name string
		inv  kaa.Invocation
		want events.Event
		data any
	}{
		{"json payload", kaa.Invocation{CorrelationID: "c-1", Timestamp: ts.UnixMilli(), Timeout: far, TenantID: "plant", Payload: payload(`{"n":1}`)},
			events.Event{ID: "c-1", CorrelationID: "c-1", DataContentType: "application/json"}, `{"n":1}`},
		{"text payload", kaa.Invocation{CorrelationID: "c-2", Timestamp: ts.UnixMilli(), TenantID: "plant", Payload: payload("hello")},
			events.Event{ID: "c-2", CorrelationID: "c-2", DataContentType: "text/plain"}, "hello"},
		{"binary payload", kaa.Invocation{CorrelationID: "c-3", Timestamp: ts.UnixMilli(), TenantID: "plant", Payload: payload("\xff\x00")},
			events.Event{ID: "c-3", CorrelationID: "c-3", DataContentType: "application/octet-stream"}, "/wA="},
		{"null payload", kaa.Invocation{CorrelationID: "c-4", Timestamp: ts.UnixMilli(), TenantID: "plant"},
			events.Event{ID: "c-4", CorrelationID: "c-4"}, nil},
		{"correlation id with spaces", kaa.Invocation{CorrelationID: "a b", Timestamp: ts.UnixMilli(), TenantID: "plant"},
			events.Event{ID: "kaa:sha256:4c1f4bf4bd7a1b09d7c3b5aee8ad8d4d", CorrelationID: "a b"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.Conn().Publish(subj, encode(t, tc.inv)); err != nil {
				t.Fatal(err)
			}
			e := st.next(t)
			if tc.name == "correlation id with spaces" {
				if !strings.HasPrefix(e.ID, "kaa:sha256:") || len(e.ID) != len(tc.want.ID) {
					t.Errorf("id %q, want kaa:sha256:<32 hex>", e.ID)
				}
			} else if e.ID != tc.want.ID {
				t.Errorf("id %q, want %q", e.ID, tc.want.ID)
			}
			if e.Solution != "plant" || e.Topic != "automation.email-notification" || e.Source != "/kaa/kaa-trigger" || e.Subject != "email-notification" {
				t.Errorf("event %+v", e)
			}
			if e.CorrelationID != tc.want.CorrelationID || e.DataContentType != tc.want.DataContentType || !e.Time.Equal(ts) {
				t.Errorf("correlation %q content type %q time %v", e.CorrelationID, e.DataContentType, e.Time)
			}
			var data any = e.Data
			if raw, ok := e.Data.(json.RawMessage); ok {
				data = string(raw)
			}
			if data != tc.data {
				t.Errorf("data %#v, want %#v", data, tc.data)
			}
			if (e.Expires != nil) != (tc.inv.Timeout > 0) || (e.Expires != nil && e.Expires.UnixMilli() != tc.inv.Timestamp+tc.inv.Timeout) {
				t.Errorf("expires %v for timeout %d", e.Expires, tc.inv.Timeout)
			}
		})
	}
}

// TestExecutorFilters: only the configured trigger instances and types are taken, and
// executors of one queue group share the work.
func TestExecutorFilters(t *testing.T) {
	b := openBus(t)
	st := newFakeStore()
	startExecutor(t, b, st, ExecutorOptions{Triggers: []string{"kaa-trigger"}, Types: []string{"email-notification"}})
	nc := b.Conn()
	inv := func(id string) []byte { return encode(t, kaa.Invocation{CorrelationID: id, TenantID: "plant"}) }
	for subject, id := range map[string]string{
		"kaa.v1.events.other-trigger.service.automation.email-notification": "other-trigger",
		"kaa.v1.events.kaa-trigger.service.automation.sms":                  "other-type",
		"kaa.v1.events.kaa-trigger.service.automation.email-notification.x": "longer",
	} {
		if err := nc.Publish(subject, inv(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish(subj, inv("taken")); err != nil {
		t.Fatal(err)
	}
	if e := st.next(t); e.ID != "taken" {
		t.Fatalf("stored %q, want only the configured trigger and type", e.ID)
	}

	// A second executor of the same queue group: each invocation is stored once.
	st2 := newFakeStore()
	startExecutor(t, b, st2, ExecutorOptions{Triggers: []string{"kaa-trigger"}, Types: []string{"email-notification"}})
	const n = 200
	for i := range n {
		if err := nc.Publish(subj, inv("shared-"+string(rune('a'+i%26))+string(rune('a'+i/26)))); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for range n {
		select {
		case e := <-st.ch:
			seen[e.ID]++
		case e := <-st2.ch:
			seen[e.ID]++
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d stored", len(seen), n)
		}
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s stored %d times", id, c)
		}
	}
}

// TestExecutorPendingBound: invocations coming faster than they are stored wait in the
// client up to the pending bound; beyond it they are dropped and counted, and memory stays
// bounded.
func TestExecutorPendingBound(t *testing.T) {
	old := pendingMsgs
	pendingMsgs = 8
	t.Cleanup(func() { pendingMsgs = old })
	b := openBus(t)
	st := newFakeStore()
	st.gate = make(chan struct{})
	x, m := startExecutor(t, b, st, ExecutorOptions{})
	nc := b.Conn()
	const n = 2000
	for i := range n {
		if err := nc.Publish(subj, encode(t, kaa.Invocation{CorrelationID: fmt.Sprint("p", i), TenantID: "plant"})); err != nil {
			t.Fatal(err)
		}
	}
	// The server sends the flush's answer after every message: by then each was delivered to
	// the subscription, or dropped.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	x.countDrops()
	// Held while the gate holds the first store: a batch being stored, the executor's
	// channel, the one the subscription's callback waits with, and the pending bound.
	held := 2*maxBatch + 1 + pendingMsgs
	if d := testutil.ToFloat64(m.Rejected.WithLabelValues(unknownTenant, unknownTenant, "dropped")); d < n-float64(held) {
		t.Errorf("dropped %v of %d, want at least %d: more is held than the bound says", d, n, n-held)
	}
	close(st.gate)
}

func TestSubjects(t *testing.T) {
	for _, tc := range []struct {
		triggers, types []string
		want            []string
		err             string
	}{
		{nil, nil, []string{"kaa.v1.events.*.service.automation.*"}, ""},
		{[]string{"*", "a"}, []string{"x"}, []string{"kaa.v1.events.*.service.automation.x"}, ""},
		{[]string{"a", "b"}, []string{"x", "y"}, []string{
			"kaa.v1.events.a.service.automation.x", "kaa.v1.events.a.service.automation.y",
			"kaa.v1.events.b.service.automation.x", "kaa.v1.events.b.service.automation.y"}, ""},
		{[]string{"a.b"}, nil, nil, "instance name"},
		{nil, []string{">"}, nil, "automation type"},
		{make17("t"), make17("y"), nil, "more than 256"},
	} {
		got, err := Subjects(tc.triggers, tc.types)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Subjects(%v, %v): %v, want an error with %q", tc.triggers, tc.types, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Subjects(%v, %v) = %v, %v; want %v", tc.triggers, tc.types, got, err, tc.want)
		}
	}
}

func make17(p string) []string {
	var out []string
	for i := range 17 {
		out = append(out, p+string(rune('a'+i)))
	}
	return out
}

// TestExecutorHeldBytes: large invocations coming while the store is stalled are held up to
// maxHeldBytes, not up to the channel's length; the rest wait in the client, bounded there.
func TestExecutorHeldBytes(t *testing.T) {
	b := openBus(t)
	st := newFakeStore()
	st.gate = make(chan struct{})
	x, _ := startExecutor(t, b, st, ExecutorOptions{})
	nc := b.Conn()
	big := payload(strings.Repeat("x", 512<<10))
	const n = 100 // 50 MiB
	for i := range n {
		if err := nc.Publish(subj, encode(t, kaa.Invocation{CorrelationID: fmt.Sprint("big", i), TenantID: "plant", Payload: big})); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// One batch is in the stalled store; what else is taken is in the channel.
	if queued, most := len(x.ch), maxHeldBytes/(512<<10); queued > most {
		t.Errorf("%d invocations of 512 KiB queued, want at most %d (maxHeldBytes)", queued, most)
	}
	close(st.gate)
	for range n {
		st.next(t) // all stored in the end: the bound delays, it does not drop
	}
}

// TestExecutorCloseStores: what the executor took off the bus, and what waits in its
// client, is stored before Close returns — even while the store is slow.
func TestExecutorCloseStores(t *testing.T) {
	b := openBus(t)
	st := newFakeStore()
	st.gate = make(chan struct{})
	m := NewMetrics(prometheus.NewRegistry())
	x, err := StartExecutor(context.Background(), ExecutorOptions{Conn: b.Conn(), Store: st, Metrics: m, Queue: "switchboard",
		Solutions: func(id string) bool { return id == "plant" }})
	if err != nil {
		t.Fatal(err)
	}
	nc := b.Conn()
	const n = 600 // more than the executor's channel and one batch
	for i := range n {
		if err := nc.Publish(subj, encode(t, kaa.Invocation{CorrelationID: fmt.Sprint("c", i), TenantID: "plant"})); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		x.Close()
		close(closed)
	}()
	close(st.gate)
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.stored) != n {
		t.Errorf("stored %d of %d taken before Close", len(st.stored), n)
	}
}

// otherRecord is a record of another schema (a Kaa endpoint's metadata update, say), in raw
// binary Avro: what an executor may be sent on the subject by mistake.
func otherRecord(t *testing.T) []byte {
	t.Helper()
	schema := avro.MustParse(`{"type":"record","name":"EndpointMetadataUpdated","fields":[
		{"name":"correlationId","type":"string"},{"name":"timestamp","type":"long"},
		{"name":"endpointId","type":"string"},{"name":"metadata","type":{"type":"map","values":"string"}}]}`)
	b, err := avro.Marshal(schema, map[string]any{"correlationId": "c-other", "timestamp": int64(1796000000000),
		"endpointId": "ep-1", "metadata": map[string]any{"location": "basement", "model": "b-7"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
