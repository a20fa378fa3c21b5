package solutionlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/metrics"
	"github.com/switchboardhq/switchboard/internal/script"
)

func openLog(t testing.TB, o Options) *Log {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Name: "test"})
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	l, err := Open(context.Background(), b, o)
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func flush(t *testing.T, l *Log) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func read(t *testing.T, l *Log, sol string, q Query) Page {
	t.Helper()
	p, err := l.Read(context.Background(), sol, q)
	if err != nil {
		t.Fatalf("read %s: %v", sol, err)
	}
	return p
}

func messages(p Page) []string {
	out := []string{}
	for _, e := range p.Items {
		out = append(out, e.Message)
	}
	return out
}

func TestShape(t *testing.T) {
	big := strings.Repeat("é", MaxMessageBytes) // twice the bound in bytes
	e := Entry{Message: big, Trace: strings.Repeat("t", MaxTraceBytes+10), Fields: json.RawMessage(`{"k":"` + strings.Repeat("v", MaxFieldsBytes) + `"}`)}
	e.Shape()
	if len(e.Message) > MaxMessageBytes+len("…") || !strings.HasSuffix(e.Message, "…") || !strings.HasPrefix(e.Message, "éé") {
		t.Errorf("message of %d bytes not cut on a rune: ...%q", len(e.Message), e.Message[len(e.Message)-8:])
	}
	if len(e.Trace) != MaxTraceBytes+len("…") {
		t.Errorf("trace %d bytes", len(e.Trace))
	}
	var f map[string]any
	if err := json.Unmarshal(e.Fields, &f); err != nil || f["fields_left_out"] == nil {
		t.Errorf("fields %s (%v): want a note that they were left out", e.Fields, err)
	}
	small := Entry{Message: "ok", Fields: json.RawMessage(`{"a":1}`)}
	small.Shape()
	if small.Message != "ok" || string(small.Fields) != `{"a":1}` {
		t.Errorf("a small entry changed: %+v", small)
	}
}

func TestFailure(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		level string
		msg   string
		line  int
		trace string
	}{
		{"runtime", &script.RuntimeError{Message: "demo GET /x:3: boom", Line: 3, File: "demo GET /x", Trace: "stack traceback:\n\tdemo GET /x:3: in main chunk"},
			"error", "demo GET /x:3: boom", 3, "stack traceback:\n\tdemo GET /x:3: in main chunk"},
		{"compile", &script.CompileError{Message: "x:2: syntax error", Line: 2}, "error", "script does not compile: x:2: syntax error", 2, ""},
		{"limit", &script.LimitError{Limit: script.LimitSteps, Value: "100"}, "error", "script stopped: steps limit of 100 exceeded", 0, ""},
		{"server busy", &script.LimitError{Limit: script.LimitServerMemory}, "warn", "script stopped: " + (&script.LimitError{Limit: script.LimitServerMemory}).Error(), 0, ""},
		{"timeout", fmt.Errorf("run: %w", context.DeadlineExceeded), "error", "run ended before it finished: run: context deadline exceeded", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := Failure("demo", "endpoint GET /x", "req1", "0123456789abcdef", tc.err)
			if e.Level != tc.level || e.Message != tc.msg || e.Line != tc.line || e.Trace != tc.trace ||
				e.Solution != "demo" || e.Source != "endpoint GET /x" || e.RequestID != "req1" || e.ErrorID != "0123456789abcdef" {
				t.Errorf("entry %+v", e)
			}
		})
	}
	if id := NewErrorID(); len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" || id == NewErrorID() {
		t.Errorf("error id %q: want 16 random hex characters", id)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"10m", now.Add(-10 * time.Minute), false},
		{"2026-04-30T10:00:00Z", time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC), false},
		{"yesterday", time.Time{}, true},
		{"-5m", time.Time{}, true},
	} {
		got, err := ParseSince(tc.in, now)
		if (err != nil) != tc.err || !got.Equal(tc.want) {
			t.Errorf("ParseSince(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// TestQuotaPerSolution: a noisy solution keeps only its quota, and a quiet one keeps all of
// its entries however much the noisy one writes.
func TestQuotaPerSolution(t *testing.T) {
	l := openLog(t, Options{PerSolution: 5})
	l.Writer("quiet", "run", "")(slog.LevelInfo, "quiet 1", nil)
	for i := range 50 {
		l.Writer("noisy", "run", "")(slog.LevelInfo, fmt.Sprintf("noisy %d", i), nil)
	}
	l.Writer("quiet", "run", "")(slog.LevelInfo, "quiet 2", nil)
	flush(t, l)
	if got := messages(read(t, l, "quiet", Query{})); strings.Join(got, ",") != "quiet 1,quiet 2" {
		t.Errorf("quiet solution kept %v", got)
	}
	if got := messages(read(t, l, "noisy", Query{})); strings.Join(got, ",") != "noisy 45,noisy 46,noisy 47,noisy 48,noisy 49" {
		t.Errorf("noisy solution kept %v", got)
	}
}

func TestFilters(t *testing.T) {
	l := openLog(t, Options{})
	w := func(level slog.Level, source, req, msg string) { l.Writer("demo", source, req)(level, msg, nil) }
	w(slog.LevelDebug, "endpoint GET /a", "r1", "debug a")
	w(slog.LevelInfo, "endpoint GET /a", "r1", "info a")
	w(slog.LevelWarn, "handler h", "r2", "warn h")
	w(slog.LevelError, "endpoint GET /b", "r3", "error b")
	l.Writer("other", "endpoint GET /a", "r1")(slog.LevelError, "another solution's", nil)
	flush(t, l)
	future := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		q    Query
		want string
	}{
		{"all", Query{}, "debug a,info a,warn h,error b"},
		{"level is a minimum", Query{Level: "warn"}, "warn h,error b"},
		{"request id", Query{RequestID: "r1"}, "debug a,info a"},
		{"source", Query{Source: "handler h"}, "warn h"},
		{"together", Query{Source: "endpoint GET /a", Level: "info"}, "info a"},
		{"since", Query{Since: future}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(messages(read(t, l, "demo", tc.q)), ","); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if err := (Query{Level: "loud"}).Validate(); err == nil {
		t.Error("level loud accepted")
	}
	if err := (Query{Limit: MaxLimit + 1}).Validate(); err == nil {
		t.Error("limit above the maximum accepted")
	}
}

func TestCursor(t *testing.T) {
	l := openLog(t, Options{})
	for i := range 25 {
		level := slog.LevelInfo
		if i%2 == 1 {
			level = slog.LevelWarn
		}
		l.Writer("demo", "run", "")(level, fmt.Sprintf("m%02d", i), nil)
		l.Writer("other", "run", "")(level, "interleaved", nil)
	}
	flush(t, l)
	var all []string
	q := Query{Limit: 10}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p := read(t, l, "demo", q)
		all = append(all, messages(p)...)
		if p.NextCursor == "" {
			if len(p.Items) != 5 {
				t.Errorf("last page holds %d entries, want 5", len(p.Items))
			}
			break
		}
		if len(p.Items) != 10 {
			t.Errorf("page %d holds %d entries, want 10", pages, len(p.Items))
		}
		c, err := ParseCursor(p.NextCursor)
		if err != nil || c != p.Items[len(p.Items)-1].Seq {
			t.Fatalf("cursor %q (%v), want the last entry's sequence %d", p.NextCursor, err, p.Items[len(p.Items)-1].Seq)
		}
		q.After = c
	}
	if len(all) != 25 || all[0] != "m00" || all[24] != "m24" {
		t.Errorf("pages read %v", all)
	}
	// Filtered paging: the warn entries only, 5 a page.
	p := read(t, l, "demo", Query{Level: "warn", Limit: 5})
	c, _ := ParseCursor(p.NextCursor)
	p2 := read(t, l, "demo", Query{Level: "warn", Limit: 5, After: c})
	if got := strings.Join(append(messages(p), messages(p2)...), ","); got != "m01,m03,m05,m07,m09,m11,m13,m15,m17,m19" {
		t.Errorf("filtered pages %s", got)
	}
	if _, err := ParseCursor("abc"); err == nil {
		t.Error("cursor abc accepted")
	}
}

func TestFieldsAndDrop(t *testing.T) {
	l := openLog(t, Options{})
	l.Writer("demo", "run", "r")(slog.LevelInfo, "with fields", map[string]any{"id": 42})
	flush(t, l)
	p := read(t, l, "demo", Query{})
	if len(p.Items) != 1 || string(p.Items[0].Fields) != `{"id":42}` || p.Items[0].Solution != "demo" || p.Items[0].Level != "info" {
		t.Fatalf("read %+v", p.Items)
	}
	if err := l.Drop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	if p := read(t, l, "demo", Query{}); len(p.Items) != 0 {
		t.Errorf("dropped solution still has %d entries", len(p.Items))
	}
}

// TestWriteNeverBlocks: with the queue full, entries are dropped and counted.
func TestWriteNeverBlocks(t *testing.T) {
	m := metrics.New()
	l := &Log{o: Options{Metrics: m}.withDefaults(), queue: make(chan Entry, 2)} // no publisher
	w := l.Writer("demo", "run", "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			w(slog.LevelInfo, "x", nil)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writing blocked on a full queue")
	}
	var got dto.Metric
	if err := m.LogsDropped.WithLabelValues("queue_full").Write(&got); err != nil || got.GetCounter().GetValue() != 8 {
		t.Errorf("dropped counted %v (%v), want 8", got.GetCounter().GetValue(), err)
	}
	if l.dropped.Load() != 8 {
		t.Errorf("dropped %d, want 8", l.dropped.Load())
	}
	var nilLog *Log
	if nilLog.Writer("demo", "run", "") != nil {
		t.Error("a nil log gives a writer")
	}
	nilLog.Write(Entry{}) // does nothing
}

func TestFollow(t *testing.T) {
	l := openLog(t, Options{MaxFollowersPerSolution: 1, MaxFollowers: 2})
	l.Writer("demo", "run", "")(slog.LevelInfo, "before", nil)
	flush(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Entry, 10)
	ended := make(chan error, 1)
	release, err := l.TakeFollower("demo")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	go func() {
		ended <- l.Follow(ctx, "demo", Query{Level: "info"}, time.Hour,
			func(e Entry) error { got <- e; return nil }, func() error { return nil })
	}()
	next := func() Entry {
		select {
		case e := <-got:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no entry followed")
		}
		return Entry{}
	}
	if e := next(); e.Message != "before" {
		t.Fatalf("first entry %q, want the one written before", e.Message)
	}
	if _, err := l.TakeFollower("demo"); !errors.Is(err, ErrTooManyFollowers) {
		t.Errorf("second follower of the solution: %v, want ErrTooManyFollowers", err)
	}
	l.Writer("demo", "run", "")(slog.LevelDebug, "filtered out", nil)
	l.Writer("other", "run", "")(slog.LevelInfo, "not this solution's", nil)
	l.Writer("demo", "run", "")(slog.LevelInfo, "after", nil)
	if e := next(); e.Message != "after" {
		t.Fatalf("followed %q, want after", e.Message)
	}
	l.EndFollowers()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("follow ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end when the server stopped following")
	}
}

func TestFollowHeartbeatAndCaps(t *testing.T) {
	l := openLog(t, Options{MaxFollowersPerSolution: 5, MaxFollowers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	beats := make(chan struct{}, 10)
	ended := make(chan error, 1)
	stop := errors.New("client gone")
	release, err := l.TakeFollower("a")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		ended <- l.Follow(ctx, "a", Query{}, 10*time.Millisecond, func(Entry) error { return nil },
			func() error { beats <- struct{}{}; return nil })
	}()
	select {
	case <-beats:
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
	if _, err := l.TakeFollower("b"); !errors.Is(err, ErrFollowersFull) {
		t.Errorf("follower beyond the server's bound: %v, want ErrFollowersFull", err)
	}
	cancel()
	if err := <-ended; err != nil {
		t.Errorf("follow ended with %v", err)
	}
	release()
	// The slot is free again; a failing heartbeat ends the follow with its error.
	if _, err := l.TakeFollower("b"); err != nil {
		t.Errorf("slot not given back: %v", err)
	}
	err = l.Follow(context.Background(), "b", Query{}, time.Millisecond, func(Entry) error { return nil }, func() error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("follow with a failing heartbeat: %v", err)
	}
}
