package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// cron: an event on every tick of a schedule.
func init() {
	Register(Kind{
		Type:        "cron",
		Description: "An event on every tick of a schedule: cron fields (a leading seconds field optional) or @every 10s, in a time zone.",
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["schedule"],
  "properties": {
    "schedule": {"type": "string", "minLength": 1, "maxLength": 200,
      "description": "\"*/5 * * * *\" (minute hour day month weekday), \"*/10 * * * * *\" (seconds first), or a descriptor: @every 30s, @hourly, @daily"},
    "timezone": {"type": "string", "maxLength": 64, "description": "IANA time zone of the schedule, such as Europe/Berlin; default UTC"},
    "data": {"description": "the events' data; default {\"scheduled_at\": <the tick, RFC 3339>}"},
    "catch_up": {"type": "boolean", "description": "on start, fire once the last tick missed while no instance ran the connector"}
  }
}`,
		New: newCron,
	})
}

type cronConfig struct {
	Schedule string          `json:"schedule"`
	Timezone string          `json:"timezone"`
	Data     json.RawMessage `json:"data"`
	CatchUp  bool            `json:"catch_up"`
}

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

type cronSource struct {
	cfg   cronConfig
	sched cron.Schedule
	loc   *time.Location
	now   func() time.Time
}

func newCron(raw json.RawMessage) (Source, error) {
	var cfg cronConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	sched, err := cronParser.Parse(cfg.Schedule)
	if err != nil {
		return nil, &solution.FieldError{Field: "config.schedule", Reason: err.Error()}
	}
	loc := time.UTC
	if cfg.Timezone != "" {
		if loc, err = time.LoadLocation(cfg.Timezone); err != nil {
			return nil, &solution.FieldError{Field: "config.timezone", Reason: fmt.Sprintf("%q is not a time zone such as Europe/Berlin", cfg.Timezone)}
		}
	}
	return &cronSource{cfg: cfg, sched: sched, loc: loc, now: time.Now}, nil
}

// Run fires every tick from now on; the last tick fired is the checkpoint, so that a tick
// missed while no instance ran the connector can be fired once on start (catch_up), and a
// tick is fired once even when the connector moves between instances.
func (s *cronSource) Run(ctx context.Context, sink Sink, cp Checkpoint) error {
	ready(sink)
	var last time.Time
	if b, err := cp.Load(ctx); err != nil {
		return err
	} else if b != nil {
		last.UnmarshalText(b) //nolint:errcheck // an unreadable mark counts as none
	}
	now := s.now().In(s.loc)
	if !last.IsZero() {
		// The latest tick after the last one fired that is already due, if any.
		var missed time.Time
		for t := s.sched.Next(last.In(s.loc)); !t.After(now) && !t.IsZero(); t = s.sched.Next(t) {
			missed = t
		}
		if !missed.IsZero() && s.cfg.CatchUp {
			if err := s.fire(ctx, sink, cp, missed); err != nil {
				return err
			}
		}
	}
	after := now
	for ctx.Err() == nil {
		// From the later of now and the tick just fired: a tick is never fired twice.
		next := s.sched.Next(later(s.now().In(s.loc), after))
		if next.IsZero() {
			<-ctx.Done() // a schedule with no tick ahead
			return nil
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err := s.fire(ctx, sink, cp, next); err != nil {
			return err
		}
		after = next
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s *cronSource) fire(ctx context.Context, sink Sink, cp Checkpoint, tick time.Time) error {
	data := s.cfg.Data
	if len(data) == 0 {
		data, _ = json.Marshal(map[string]string{"scheduled_at": tick.Format(time.RFC3339)})
	}
	id := tick.UTC().Format(time.RFC3339Nano)
	if err := sink.Publish(ctx, []Message{{ID: id, Data: data, ContentType: "application/json", Time: tick}}); err != nil {
		return err
	}
	mark, _ := tick.UTC().MarshalText()
	return cp.Save(ctx, mark)
}
