package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// ErrNoDeadLetter is a dead-letter sequence the solution has no dead letter at.
var ErrNoDeadLetter = errors.New("no such dead letter")

// ErrHandlerGone is a dead letter of a handler that no longer exists: replaying it would
// reach nobody.
var ErrHandlerGone = errors.New("its handler no longer exists; deploy the handler again, or purge the dead letter")

// Dead-letter paging bounds.
const (
	DefaultDeadLetterLimit = 100
	MaxDeadLetterLimit     = 1000
	// dlqMaxScan bounds the dead letters one page looks at, so a filter matching little ends
	// the page early (with a cursor) instead of reading the whole stream.
	dlqMaxScan   = 10_000
	dlqFetchSize = 256
)

// StoredDeadLetter is a dead letter as it is kept: its sequence in DLQStream names it, and
// its event's id and topic are read out for filtering and display.
type StoredDeadLetter struct {
	Seq     uint64 `json:"seq"`
	EventID string `json:"event_id,omitempty"`
	Topic   string `json:"topic,omitempty"`
	DeadLetter
}

// DeadLetterFilter selects a solution's dead letters; the zero value selects them all.
type DeadLetterFilter struct {
	Handler string    // exact handler name; "" = any
	Topic   string    // exact event topic; "" = any
	Since   time.Time // failed at or after; zero = any time
}

// Validate checks the filter's fields; a bad one is a *solution.FieldError naming it.
func (f DeadLetterFilter) Validate() error {
	if f.Handler != "" && !NamePattern.MatchString(f.Handler) {
		return &solution.FieldError{Field: "handler", Reason: "must be a handler name (" + NamePattern.String() + ")"}
	}
	if f.Topic != "" && (len(f.Topic) > MaxTopicBytes || !TopicPattern.MatchString(f.Topic)) {
		return &solution.FieldError{Field: "topic", Reason: "must be a topic such as demoexternalservice.event"}
	}
	return nil
}

func (f DeadLetterFilter) empty() bool { return f.Handler == "" && f.Topic == "" && f.Since.IsZero() }

func (f DeadLetterFilter) match(dl *StoredDeadLetter) bool {
	return (f.Handler == "" || dl.Handler == f.Handler) &&
		(f.Topic == "" || dl.Topic == f.Topic) &&
		(f.Since.IsZero() || !dl.FailedAt.Before(f.Since))
}

// DeadLetterQuery is a page of a solution's dead letters.
type DeadLetterQuery struct {
	DeadLetterFilter
	After uint64 // only dead letters after this sequence (the cursor)
	Limit int    // 0 = DefaultDeadLetterLimit, at most MaxDeadLetterLimit
}

// DeadLetterPage is one page of dead letters, oldest first; NextCursor is set when there may
// be more.
type DeadLetterPage struct {
	Items      []StoredDeadLetter `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// DeadLetterSelection names the dead letters a replay or purge acts on: one by Seq, those the
// filter matches, or All of them. Nothing selected is refused, so an empty request never acts
// on every dead letter by accident.
type DeadLetterSelection struct {
	Seq uint64
	DeadLetterFilter
	All bool
}

// Validate checks that the selection names something, in one way only.
func (s DeadLetterSelection) Validate() error {
	if err := s.DeadLetterFilter.Validate(); err != nil {
		return err
	}
	switch {
	case s.All && (s.Seq != 0 || !s.empty()):
		return &solution.FieldError{Field: "all", Reason: "selects every dead letter; give it alone, without seq, handler, topic or since"}
	case s.Seq != 0 && !s.empty():
		return &solution.FieldError{Field: "seq", Reason: "names one dead letter; give it alone, without handler, topic or since"}
	case !s.All && s.Seq == 0 && s.empty():
		return &solution.FieldError{Field: "all", Reason: "nothing selected: give seq, handler, topic or since, or all: true"}
	}
	return nil
}

// dlqPrefix is the subject prefix of a solution's dead letters. Solution ids hold no dots or
// wildcards (solution.ValidateID), so nothing of another solution shares it.
func dlqPrefix(sol string) string { return "sb.dlq." + sol + "." }

// dlqStream opens the dead-letter stream after checking sol, creating the streams if needed.
func (d *Dispatcher) dlqStream(ctx context.Context, sol string) (jetstream.Stream, error) {
	if err := solution.ValidateID(sol); err != nil {
		return nil, err // a malformed id could widen the subject filter
	}
	if err := d.setup(ctx); err != nil {
		return nil, err
	}
	st, err := d.o.Bus.JetStream().Stream(ctx, DLQStream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", DLQStream, err)
	}
	return st, nil
}

// decodeDeadLetter reads a stored dead letter of sol; false when the message is not one.
func decodeDeadLetter(sol string, seq uint64, subject string, data []byte) (StoredDeadLetter, bool) {
	handler, ok := strings.CutPrefix(subject, dlqPrefix(sol))
	if !ok || handler == "" || strings.Contains(handler, ".") {
		return StoredDeadLetter{}, false
	}
	dl := StoredDeadLetter{Seq: seq}
	if err := json.Unmarshal(data, &dl.DeadLetter); err != nil {
		dl.Error = "unreadable dead letter: " + err.Error()
	}
	dl.Handler = handler // the subject says whose it is, even of an unreadable record
	var e struct {
		ID    string `json:"id"`
		Topic string `json:"topic"`
	}
	if len(dl.Event) > 0 && json.Unmarshal(dl.Event, &e) == nil {
		dl.EventID, dl.Topic = e.ID, e.Topic
	}
	return dl, true
}

// lastSeq is the dead-letter stream's last sequence now: scans stop there, so dead letters
// added meanwhile (such as replays failing again) are not met by the same request.
func lastSeq(ctx context.Context, st jetstream.Stream, sol string) (uint64, error) {
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("dead letters of %s: %w", sol, err)
	}
	return info.State.LastSeq, nil
}

// scanDeadLetters calls fn with each of sol's dead letters f matches, oldest first, after the
// sequence after and up to end, until fn returns false or max dead letters were looked at.
// It returns the last sequence looked at, and done when nothing is left up to end.
func (d *Dispatcher) scanDeadLetters(ctx context.Context, sol string, f DeadLetterFilter, after, end uint64, max int, fn func(StoredDeadLetter) bool) (last uint64, done bool, err error) {
	if after >= end {
		return after, true, nil
	}
	subject := dlqPrefix(sol) + ">"
	if f.Handler != "" {
		subject = dlqPrefix(sol) + f.Handler
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case after > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	case !f.Since.IsZero():
		t := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	c, err := d.o.Bus.JetStream().OrderedConsumer(ctx, DLQStream, cfg)
	if err != nil {
		return after, false, fmt.Errorf("dead letters of %s: %w", sol, err)
	}
	last, scanned := after, 0
	for scanned < max {
		batch, err := c.FetchNoWait(min(dlqFetchSize, max-scanned))
		if err != nil {
			return last, false, fmt.Errorf("dead letters of %s: %w", sol, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			seq := md.Sequence.Stream
			if seq > end {
				return last, true, nil
			}
			scanned++
			last = seq
			dl, ok := decodeDeadLetter(sol, seq, m.Subject(), m.Data())
			if ok && f.match(&dl) && !fn(dl) {
				return last, last >= end, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return last, false, fmt.Errorf("dead letters of %s: %w", sol, err)
		}
		if got == 0 || last >= end {
			return last, true, nil
		}
		if err := ctx.Err(); err != nil {
			return last, false, err
		}
	}
	return last, false, nil
}

// DeadLetters returns one page of sol's dead letters that q selects, oldest first.
func (d *Dispatcher) DeadLetters(ctx context.Context, sol string, q DeadLetterQuery) (DeadLetterPage, error) {
	page := DeadLetterPage{Items: []StoredDeadLetter{}}
	if err := q.Validate(); err != nil {
		return page, err
	}
	if q.Limit < 0 || q.Limit > MaxDeadLetterLimit {
		return page, &solution.FieldError{Field: "limit", Reason: fmt.Sprintf("want 1 to %d", MaxDeadLetterLimit)}
	}
	if q.Limit == 0 {
		q.Limit = DefaultDeadLetterLimit
	}
	st, err := d.dlqStream(ctx, sol)
	if err != nil {
		return page, err
	}
	end, err := lastSeq(ctx, st, sol)
	if err != nil {
		return page, err
	}
	last, done, err := d.scanDeadLetters(ctx, sol, q.DeadLetterFilter, q.After, end, dlqMaxScan, func(dl StoredDeadLetter) bool {
		page.Items = append(page.Items, dl)
		return len(page.Items) < q.Limit
	})
	if err != nil {
		return page, err
	}
	if !done {
		page.NextCursor = strconv.FormatUint(last, 10)
	}
	return page, nil
}

// DeadLetter returns sol's dead letter at seq, or ErrNoDeadLetter (wrapped).
func (d *Dispatcher) DeadLetter(ctx context.Context, sol string, seq uint64) (StoredDeadLetter, error) {
	st, err := d.dlqStream(ctx, sol)
	if err != nil {
		return StoredDeadLetter{}, err
	}
	return getDeadLetter(ctx, st, sol, seq)
}

func getDeadLetter(ctx context.Context, st jetstream.Stream, sol string, seq uint64) (StoredDeadLetter, error) {
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return StoredDeadLetter{}, fmt.Errorf("dead letter %d of %s: %w", seq, sol, ErrNoDeadLetter)
	}
	if err != nil {
		return StoredDeadLetter{}, fmt.Errorf("dead letter %d of %s: %w", seq, sol, err)
	}
	dl, ok := decodeDeadLetter(sol, seq, m.Subject, m.Data)
	if !ok { // another solution's: as good as absent
		return StoredDeadLetter{}, fmt.Errorf("dead letter %d of %s: %w", seq, sol, ErrNoDeadLetter)
	}
	return dl, nil
}

// ReplayDeadLetters sends each dead letter sel selects back to its handler alone as a fresh
// event (with every attempt again), then removes the dead letter, and returns how many it
// replayed. A Seq that names no dead letter of sol is ErrNoDeadLetter (wrapped); one of a
// handler since deleted is ErrHandlerGone (wrapped), and a filter leaves such dead letters
// where they are.
func (d *Dispatcher) ReplayDeadLetters(ctx context.Context, sol string, sel DeadLetterSelection) (int, error) {
	js := d.o.Bus.JetStream()
	return d.eachSelected(ctx, sol, sel, func(st jetstream.Stream, dl StoredDeadLetter) (bool, error) {
		if _, ok := d.o.Store.handler(sol, dl.Handler); !ok {
			if sel.Seq != 0 {
				return false, fmt.Errorf("dead letter %d of %s (handler %s): %w", dl.Seq, sol, dl.Handler, ErrHandlerGone)
			}
			return false, nil // kept: a selection replays what can run, and leaves the rest
		}
		// Only into a consumer that exists: with interest retention, an event nobody
		// reads is let go of at once, and the dead letter would be gone with it.
		if _, err := js.Consumer(ctx, EventsStream, directConsumerName(sol, dl.Handler)); err != nil {
			return false, fmt.Errorf("replay dead letter %d: consumer of handler %s: %w", dl.Seq, dl.Handler, err)
		}
		msg := &nats.Msg{Subject: directSubject(sol, dl.Handler), Data: dl.Event, Header: nats.Header{}}
		msg.Header.Set(replaysHeader, strconv.Itoa(dl.Replays+1))
		// The id makes replaying the same dead letter again (after a removal that failed)
		// store one event, not two.
		id := "replay/" + strconv.FormatUint(dl.Seq, 10)
		if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
			return false, fmt.Errorf("replay dead letter %d: %w", dl.Seq, err)
		}
		return deleteDeadLetter(ctx, st, dl.Seq)
	})
}

// PurgeDeadLetters removes the dead letters sel selects and returns how many it removed. A
// Seq that names no dead letter of sol is ErrNoDeadLetter (wrapped).
func (d *Dispatcher) PurgeDeadLetters(ctx context.Context, sol string, sel DeadLetterSelection) (int, error) {
	return d.eachSelected(ctx, sol, sel, func(st jetstream.Stream, dl StoredDeadLetter) (bool, error) {
		return deleteDeadLetter(ctx, st, dl.Seq)
	})
}

// DropDeadLetters removes every dead letter of sol, as when the solution is deleted.
func (d *Dispatcher) DropDeadLetters(ctx context.Context, sol string) error {
	st, err := d.dlqStream(ctx, sol)
	if err != nil {
		return err
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(dlqPrefix(sol)+">")); err != nil {
		return fmt.Errorf("drop dead letters of %s: %w", sol, err)
	}
	return nil
}

// deleteDeadLetter removes one dead letter; false when it was gone already (another replay or
// purge took it meanwhile), which is not counted.
func deleteDeadLetter(ctx context.Context, st jetstream.Stream, seq uint64) (bool, error) {
	err := st.DeleteMsg(ctx, seq)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeMessageNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove dead letter %d: %w", seq, err)
	}
	return true, nil
}

// eachSelected calls act with each dead letter of sol that sel selects and counts those it
// says it acted on.
func (d *Dispatcher) eachSelected(ctx context.Context, sol string, sel DeadLetterSelection, act func(jetstream.Stream, StoredDeadLetter) (bool, error)) (int, error) {
	if err := sel.Validate(); err != nil {
		return 0, err
	}
	st, err := d.dlqStream(ctx, sol)
	if err != nil {
		return 0, err
	}
	if sel.Seq != 0 {
		dl, err := getDeadLetter(ctx, st, sol, sel.Seq)
		if err != nil {
			return 0, err
		}
		switch ok, err := act(st, dl); {
		case err != nil:
			return 0, err
		case !ok:
			return 0, fmt.Errorf("dead letter %d of %s: %w", sel.Seq, sol, ErrNoDeadLetter)
		}
		return 1, nil
	}
	end, err := lastSeq(ctx, st, sol)
	if err != nil {
		return 0, err
	}
	n := 0
	var actErr error
	after := uint64(0)
	for {
		// Scans are bounded; the next picks up after the last sequence looked at.
		last, done, err := d.scanDeadLetters(ctx, sol, sel.DeadLetterFilter, after, end, dlqMaxScan, func(dl StoredDeadLetter) bool {
			ok, err := act(st, dl)
			if ok {
				n++
			}
			actErr = err
			return err == nil
		})
		if actErr != nil {
			return n, actErr
		}
		if err != nil || done {
			return n, err
		}
		after = last
	}
}
