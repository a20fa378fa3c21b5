package solutionlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/followers"
)

// Query selects a solution's entries. The zero value selects them all, from the oldest kept.
type Query struct {
	Level     string    // minimum level; "" = all
	Since     time.Time // entries at or after; zero = all
	RequestID string    // "" = any
	ErrorID   string    // the entry of a failed run with this error id (what its caller got); "" = any
	Source    string    // exact source ("endpoint GET /users/{id}", "handler name", "run"); "" = any
	After     uint64    // only entries after this stream sequence (the cursor)
	Limit     int       // entries in a page; 0 = DefaultLimit, at most MaxLimit
}

// Paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// maxScan bounds the entries one page looks at, so a filter matching little cannot keep a
	// request reading the whole stream; the page then ends early with a cursor.
	maxScan   = 10_000
	fetchSize = 256
)

// ParseCursor reads a cursor given back by a page ("" = from the start).
func ParseCursor(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a cursor given by a previous page", s)
	}
	return n, nil
}

// ParseSince reads a since value: an RFC 3339 time or a duration back from now ("10m").
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration back from now (10m, 2h)", s)
	}
	return now.Add(-d), nil
}

// Validate checks q's level and limit.
func (q Query) Validate() error {
	if q.Level != "" && LevelRank(q.Level) < 0 {
		return fmt.Errorf("level %q: want debug, info, warn or error", q.Level)
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return fmt.Errorf("limit %d: want 1 to %d", q.Limit, MaxLimit)
	}
	return nil
}

// Match reports whether e passes q's filters.
func (q Query) Match(e *Entry) bool {
	return (q.Level == "" || LevelRank(e.Level) >= LevelRank(q.Level)) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
		(q.RequestID == "" || e.RequestID == q.RequestID) &&
		(q.ErrorID == "" || e.ErrorID == q.ErrorID) &&
		(q.Source == "" || e.Source == q.Source)
}

// Page is one page of entries; NextCursor is set when there may be more to read now.
type Page struct {
	Items      []Entry `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// consumer makes an ephemeral consumer of sol's subject only, from where q starts. Nothing of
// another solution can reach it: the subject is the solution's id, which holds no wildcards.
func (l *Log) consumer(ctx context.Context, sol string, q Query) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     subject(sol),
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	}
	switch {
	case q.After > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, q.After+1
	case !q.Since.IsZero():
		t := q.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	c, err := l.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read logs of %s: %w", sol, err)
	}
	return c, nil
}

func (l *Log) deleteConsumer(c jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.stream.DeleteConsumer(ctx, c.CachedInfo().Name) // else it goes after InactiveThreshold
}

// decode reads a stored entry with its sequence; false for a message that is not one.
func decode(m jetstream.Msg) (Entry, bool) {
	var e Entry
	md, err := m.Metadata()
	if err != nil || json.Unmarshal(m.Data(), &e) != nil {
		return e, false
	}
	e.Seq = md.Sequence.Stream
	return e, true
}

// Read returns one page of sol's entries matching q, oldest first.
func (l *Log) Read(ctx context.Context, sol string, q Query) (Page, error) {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	page := Page{Items: []Entry{}}
	c, err := l.consumer(ctx, sol, q)
	if err != nil {
		return page, err
	}
	defer l.deleteConsumer(c)
	var last uint64 // the last sequence looked at
	scanned := 0
	for scanned < maxScan {
		batch, err := c.FetchNoWait(min(fetchSize, maxScan-scanned))
		if err != nil {
			return page, fmt.Errorf("read logs of %s: %w", sol, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if len(page.Items) == q.Limit {
				continue // the rest of the batch is read again by the next page
			}
			scanned++
			e, ok := decode(m)
			if md, err := m.Metadata(); err == nil {
				last = md.Sequence.Stream
			}
			if ok && q.Match(&e) {
				page.Items = append(page.Items, e)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return page, fmt.Errorf("read logs of %s: %w", sol, err)
		}
		if len(page.Items) == q.Limit {
			page.NextCursor = strconv.FormatUint(last, 10)
			return page, nil
		}
		if got == 0 {
			return page, nil // the end
		}
		if err := ctx.Err(); err != nil {
			return page, err
		}
	}
	page.NextCursor = strconv.FormatUint(last, 10)
	return page, nil
}

// Follow calls send with each of sol's entries matching q, from where q starts and then as
// they are written, until ctx ends, the server stops following (EndFollowers), or send fails.
// The caller holds a follower slot (TakeFollower). idle is called when nothing arrived for
// heartbeat, and may also fail to end the follow.
func (l *Log) Follow(ctx context.Context, sol string, q Query, heartbeat time.Duration, send func(Entry) error, idle func() error) error {
	c, err := l.consumer(ctx, sol, q)
	if err != nil {
		return err
	}
	defer l.deleteConsumer(c)
	it, err := c.Messages(jetstream.PullMaxMessages(fetchSize))
	if err != nil {
		return fmt.Errorf("follow logs of %s: %w", sol, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	entries := make(chan Entry, fetchSize)
	go func() {
		defer close(entries)
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				return
			}
			if e, ok := decode(m); ok && q.Match(&e) {
				select {
				case entries <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	defer it.Stop()
	return followers.Pump(ctx, l.followers, heartbeat, entries, send, idle)
}

// Follower slot errors.
var (
	ErrTooManyFollowers = errors.New("this solution's logs have as many live followers as allowed; stop one, or try again later")
	ErrFollowersFull    = errors.New("the server has as many live log followers as it allows; try again later")
)

// TakeFollower takes one of the live follower slots for sol; release gives it back.
// ErrTooManyFollowers or ErrFollowersFull when none is free.
func (l *Log) TakeFollower(sol string) (release func(), err error) {
	return l.followers.Take(sol)
}

// EndFollowers ends every live follow (the server is stopping: they would hold its shutdown).
func (l *Log) EndFollowers() {
	if l != nil {
		l.followers.End()
	}
}

// SourceEndpoint and SourceHandler name what ran, as entries and the source filter do.
func SourceEndpoint(method, path string) string {
	return "endpoint " + strings.ToUpper(method) + " " + path
}

// SourceHandler is the source of a handler's entries.
func SourceHandler(name string) string { return "handler " + name }
