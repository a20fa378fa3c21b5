package events

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func listDL(t *testing.T, d *Dispatcher, sol string, q DeadLetterQuery) DeadLetterPage {
	t.Helper()
	p, err := d.DeadLetters(context.Background(), sol, q)
	if err != nil {
		t.Fatalf("dead letters of %s (%+v): %v", sol, q, err)
	}
	return p
}

func TestDeadLetterSelectionValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sel   DeadLetterSelection
		field string // "" = valid
	}{
		{"nothing", DeadLetterSelection{}, "all"},
		{"all", DeadLetterSelection{All: true}, ""},
		{"seq", DeadLetterSelection{Seq: 3}, ""},
		{"handler", DeadLetterSelection{DeadLetterFilter: DeadLetterFilter{Handler: "bad"}}, ""},
		{"topic and since", DeadLetterSelection{DeadLetterFilter: DeadLetterFilter{Topic: "a.b", Since: time.Now()}}, ""},
		{"all with a filter", DeadLetterSelection{All: true, DeadLetterFilter: DeadLetterFilter{Handler: "bad"}}, "all"},
		{"all with seq", DeadLetterSelection{All: true, Seq: 1}, "all"},
		{"seq with a filter", DeadLetterSelection{Seq: 1, DeadLetterFilter: DeadLetterFilter{Topic: "a.b"}}, "seq"},
		{"bad handler", DeadLetterSelection{DeadLetterFilter: DeadLetterFilter{Handler: "x.>"}}, "handler"},
		{"bad topic", DeadLetterSelection{DeadLetterFilter: DeadLetterFilter{Topic: "a.*"}}, "topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sel.Validate()
			var fe *solution.FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("error %v, want a field error on %s", err, tc.field)
			}
		})
	}
}

func TestDeadLetters(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	d := newDispatcher(t, b, s, rec, func(o *DispatcherOptions) { o.MaxDeliver = 1 })
	mustPut(t, s, Handler{Solution: "demo", Name: "bad", Topics: []string{"a.one", "a.two"}, Script: "error('bad')"})
	mustPut(t, s, Handler{Solution: "demo", Name: "worse", Topics: []string{"a.one"}, Script: "Recorder.worse() error('worse')"})
	mustPut(t, s, Handler{Solution: "other", Name: "bad", Topics: []string{"a.one"}, Script: "error('other')"})

	// Nothing parked yet: reading creates the streams and finds nothing.
	if p := listDL(t, d, "demo", DeadLetterQuery{}); len(p.Items) != 0 || p.NextCursor != "" {
		t.Fatalf("before any failure: %+v", p)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	for _, e := range []Event{
		{ID: "e1", Solution: "demo", Topic: "a.one", Data: map[string]any{"n": 1}},
		{ID: "e2", Solution: "demo", Topic: "a.two"},
		{ID: "e1", Solution: "other", Topic: "a.one"},
	} {
		if err := d.Enqueue(ctx, e); err != nil {
			t.Fatalf("enqueue %s/%s: %v", e.Solution, e.ID, err)
		}
	}
	eventually(t, "four dead letters", func() bool { return streamMsgs(t, b, DLQStream) == 4 && drained(t, b) })

	all := listDL(t, d, "demo", DeadLetterQuery{})
	if len(all.Items) != 3 || all.NextCursor != "" {
		t.Fatalf("demo's dead letters: %+v", all)
	}
	for _, dl := range all.Items {
		if dl.Seq == 0 || dl.EventID == "" || dl.Topic == "" || dl.Attempts != 1 || dl.Error == "" || dl.Kind != "runtime" {
			t.Fatalf("dead letter %+v", dl)
		}
	}
	for _, tc := range []struct {
		name string
		q    DeadLetterQuery
		want int
	}{
		{"handler", DeadLetterQuery{DeadLetterFilter: DeadLetterFilter{Handler: "bad"}}, 2},
		{"topic", DeadLetterQuery{DeadLetterFilter: DeadLetterFilter{Topic: "a.two"}}, 1},
		{"handler and topic", DeadLetterQuery{DeadLetterFilter: DeadLetterFilter{Handler: "worse", Topic: "a.two"}}, 0},
		{"since the past", DeadLetterQuery{DeadLetterFilter: DeadLetterFilter{Since: time.Now().Add(-time.Hour)}}, 3},
		{"since the future", DeadLetterQuery{DeadLetterFilter: DeadLetterFilter{Since: time.Now().Add(time.Hour)}}, 0},
		{"no such handler", DeadLetterQuery{DeadLetterFilter: DeadLetterFilter{Handler: "nobody"}}, 0},
	} {
		if got := listDL(t, d, "demo", tc.q); len(got.Items) != tc.want {
			t.Errorf("%s: %d dead letters, want %d: %+v", tc.name, len(got.Items), tc.want, got.Items)
		}
	}
	// Paging one at a time walks the same dead letters, in order.
	var seqs []uint64
	for q := (DeadLetterQuery{Limit: 1}); ; {
		p := listDL(t, d, "demo", q)
		for _, dl := range p.Items {
			seqs = append(seqs, dl.Seq)
		}
		if p.NextCursor == "" {
			break
		}
		if len(seqs) > 3 {
			t.Fatalf("paging does not end: %v", seqs)
		}
		var err error
		if q.After, err = strconv.ParseUint(p.NextCursor, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	if len(seqs) != 3 || seqs[0] != all.Items[0].Seq || seqs[2] != all.Items[2].Seq {
		t.Fatalf("paged %v, want those of %+v", seqs, all.Items)
	}
	if _, err := d.DeadLetters(ctx, "demo", DeadLetterQuery{Limit: MaxDeadLetterLimit + 1}); err == nil {
		t.Fatal("a limit over the maximum was taken")
	}

	// Isolation: the other solution's dead letter is not demo's, by list, get or replay.
	theirs := listDL(t, d, "other", DeadLetterQuery{})
	if len(theirs.Items) != 1 || theirs.Items[0].Handler != "bad" {
		t.Fatalf("other's dead letters: %+v", theirs)
	}
	otherSeq := theirs.Items[0].Seq
	if _, err := d.DeadLetter(ctx, "demo", otherSeq); !errors.Is(err, ErrNoDeadLetter) {
		t.Fatalf("demo reading other's dead letter: %v, want ErrNoDeadLetter", err)
	}
	if _, err := d.ReplayDeadLetters(ctx, "demo", DeadLetterSelection{Seq: otherSeq}); !errors.Is(err, ErrNoDeadLetter) {
		t.Fatalf("demo replaying other's dead letter: %v, want ErrNoDeadLetter", err)
	}
	if _, err := d.PurgeDeadLetters(ctx, "demo", DeadLetterSelection{Seq: otherSeq}); !errors.Is(err, ErrNoDeadLetter) {
		t.Fatalf("demo purging other's dead letter: %v, want ErrNoDeadLetter", err)
	}
	if got, err := d.DeadLetter(ctx, "demo", all.Items[0].Seq); err != nil || got.Seq != all.Items[0].Seq || got.Handler != all.Items[0].Handler {
		t.Fatalf("get %d: %+v, %v", all.Items[0].Seq, got, err)
	}
	if _, err := d.DeadLetters(ctx, "a.>", DeadLetterQuery{}); err == nil {
		t.Fatal("a solution id with wildcards was taken")
	}

	// Fixed, the handler's dead letters replay: each runs once more and is gone.
	mustPut(t, s, Handler{Solution: "demo", Name: "bad", Topics: []string{"a.one", "a.two"}, Script: "Recorder['ok_' .. event.id]()"})
	if n, err := d.ReplayDeadLetters(ctx, "demo", DeadLetterSelection{DeadLetterFilter: DeadLetterFilter{Handler: "bad"}}); err != nil || n != 2 {
		t.Fatalf("replay bad: %d, %v; want 2", n, err)
	}
	eventually(t, "the replays to run", func() bool { return rec.count("ok_e1") == 1 && rec.count("ok_e2") == 1 && drained(t, b) })
	left := listDL(t, d, "demo", DeadLetterQuery{})
	if len(left.Items) != 1 || left.Items[0].Handler != "worse" {
		t.Fatalf("after replaying bad: %+v", left)
	}

	// A replay that fails again is parked again, as a new dead letter that says so, even
	// within the dedup window of the first.
	worse := left.Items[0]
	if n, err := d.ReplayDeadLetters(ctx, "demo", DeadLetterSelection{Seq: worse.Seq}); err != nil || n != 1 {
		t.Fatalf("replay worse: %d, %v", n, err)
	}
	var again StoredDeadLetter
	eventually(t, "the replay to be parked again", func() bool {
		p := listDL(t, d, "demo", DeadLetterQuery{})
		if len(p.Items) != 1 || p.Items[0].Seq == worse.Seq {
			return false
		}
		again = p.Items[0]
		return drained(t, b)
	})
	if again.Replays != 1 || again.EventID != "e1" || rec.count("worse") != 2 {
		t.Fatalf("parked again: %+v, worse ran %d times", again, rec.count("worse"))
	}
	if _, err := d.ReplayDeadLetters(ctx, "demo", DeadLetterSelection{Seq: worse.Seq}); !errors.Is(err, ErrNoDeadLetter) {
		t.Fatalf("replaying a replayed dead letter: %v, want ErrNoDeadLetter", err)
	}

	// Purge: by filter, then one by sequence; each is gone once.
	if n, err := d.PurgeDeadLetters(ctx, "demo", DeadLetterSelection{DeadLetterFilter: DeadLetterFilter{Topic: "a.two"}}); err != nil || n != 0 {
		t.Fatalf("purge a topic with none: %d, %v", n, err)
	}
	if n, err := d.PurgeDeadLetters(ctx, "demo", DeadLetterSelection{All: true}); err != nil || n != 1 {
		t.Fatalf("purge all: %d, %v; want 1", n, err)
	}
	if n, err := d.PurgeDeadLetters(ctx, "demo", DeadLetterSelection{}); err == nil {
		t.Fatalf("purge without a selection removed %d", n)
	}
	if p := listDL(t, d, "demo", DeadLetterQuery{}); len(p.Items) != 0 {
		t.Fatalf("after purge: %+v", p)
	}
	if n, err := d.PurgeDeadLetters(ctx, "other", DeadLetterSelection{Seq: otherSeq}); err != nil || n != 1 {
		t.Fatalf("purge other's by seq: %d, %v", n, err)
	}
	if _, err := d.PurgeDeadLetters(ctx, "other", DeadLetterSelection{Seq: otherSeq}); !errors.Is(err, ErrNoDeadLetter) {
		t.Fatalf("purging it again: %v, want ErrNoDeadLetter", err)
	}
}

// TestDropDeadLetters: deleting a solution removes its dead letters only.
func TestDropDeadLetters(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	d := newDispatcher(t, b, s, newRecorder(), func(o *DispatcherOptions) { o.MaxDeliver = 1 })
	for _, sol := range []string{"demo", "other"} {
		mustPut(t, s, Handler{Solution: sol, Name: "bad", Topics: []string{"a.one"}, Script: "error('bad')"})
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	for _, sol := range []string{"demo", "other"} {
		if err := d.Enqueue(ctx, Event{ID: "e1", Solution: sol, Topic: "a.one"}); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
	eventually(t, "two dead letters", func() bool { return streamMsgs(t, b, DLQStream) == 2 })
	if err := d.DropDeadLetters(ctx, "demo"); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if p := listDL(t, d, "demo", DeadLetterQuery{}); len(p.Items) != 0 {
		t.Fatalf("demo after drop: %+v", p)
	}
	if p := listDL(t, d, "other", DeadLetterQuery{}); len(p.Items) != 1 {
		t.Fatalf("other after demo's drop: %+v", p)
	}
}

// TestReplayOfDeletedHandler: a dead letter of a handler since deleted is not replayed into
// nothing: by its sequence it is refused with ErrHandlerGone; a filter leaves it in place.
func TestReplayOfDeletedHandler(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	d := newDispatcher(t, b, s, newRecorder(), func(o *DispatcherOptions) { o.MaxDeliver = 1 })
	mustPut(t, s, Handler{Solution: "demo", Name: "gone", Topics: []string{"a.one"}, Script: "error('bad')"})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(ctx, Event{ID: "e1", Solution: "demo", Topic: "a.one"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a dead letter", func() bool { return streamMsgs(t, b, DLQStream) == 1 })
	if err := s.Delete(ctx, "demo", "gone"); err != nil {
		t.Fatal(err)
	}
	seq := listDL(t, d, "demo", DeadLetterQuery{}).Items[0].Seq
	if _, err := d.ReplayDeadLetters(ctx, "demo", DeadLetterSelection{Seq: seq}); !errors.Is(err, ErrHandlerGone) {
		t.Fatalf("replay by sequence: %v, want ErrHandlerGone", err)
	}
	if n, err := d.ReplayDeadLetters(ctx, "demo", DeadLetterSelection{All: true}); n != 0 || err != nil {
		t.Fatalf("replay all: %d, %v; want 0 and no error", n, err)
	}
	if n := streamMsgs(t, b, DLQStream); n != 1 {
		t.Fatalf("%d dead letters left, want the one kept", n)
	}
}
