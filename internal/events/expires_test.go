package events

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestExpiresNeverRuns: an event whose Expires passed before its handler began never runs,
// its delivery ends expired, and Finished is told; a fresh one runs and says succeeded.
func TestExpiresNeverRuns(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	var mu sync.Mutex
	finished := map[string]string{}
	d := newDispatcher(t, b, s, rec, func(o *DispatcherOptions) {
		o.Finished = func(e Event, handler, state string) {
			mu.Lock()
			defer mu.Unlock()
			finished[e.ID+"/"+handler] = state
		}
	})
	mustPut(t, s, Handler{Solution: "demo", Name: "svc_event", Script: "Recorder['hit_' .. event.id]() return event.expires"})
	past, future := time.Now().Add(-time.Second), time.Now().Add(time.Hour)
	// Stored before delivery starts, so both wait; one's time is up meanwhile.
	for _, e := range []Event{
		{ID: "late", Solution: "demo", Topic: "svc.event", Expires: &past},
		{ID: "fresh", Solution: "demo", Topic: "svc.event", Expires: &future},
	} {
		if err := d.Enqueue(ctx, e); err != nil {
			t.Fatalf("enqueue %s: %v", e.ID, err)
		}
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both deliveries to end", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(finished) == 2 && drained(t, b)
	})
	if finished["late/svc_event"] != StateExpired || finished["fresh/svc_event"] != StateSucceeded {
		t.Errorf("finished %v", finished)
	}
	if rec.count("hit_late") != 0 || rec.count("hit_fresh") != 1 {
		t.Errorf("late ran %d times (want 0), fresh %d (want 1)", rec.count("hit_late"), rec.count("hit_fresh"))
	}
	eventually(t, "the late event's report to say expired", func() bool {
		r, err := d.Report(ctx, "demo", "late")
		return err == nil && len(r.Handlers) == 1 && r.Handlers[0].State == StateExpired
	})
}
