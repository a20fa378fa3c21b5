package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// connectorsBucket holds connectors, keyed <solution>.<name>.
const connectorsBucket = "sb_connectors"

// Bounds of a connector's fields.
const (
	MaxConfigBytes = 64 << 10
)

// NamePattern is what a connector name must match.
var NamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ErrNotFound is a connector that does not exist; it is solution.ErrNotFound, so callers map
// both alike.
var ErrNotFound = solution.ErrNotFound

// Connector is a source of events for one topic of a solution (direction in), or a broker
// its scripts publish to (direction out).
type Connector struct {
	Solution string `json:"-"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	// Topic is where an inbound connector's events go; an outbound one has none.
	Topic  string          `json:"topic,omitempty"`
	Config json.RawMessage `json:"config"`
	// MaxPending bounds the events of its topic waiting for handlers before it stops taking
	// messages from its source; 0 is the server's bound (see Bounds).
	MaxPending int `json:"max_pending,omitempty"`
	// Paused connectors are kept, and not run (inbound) or not published through (outbound).
	Paused  bool   `json:"paused"`
	Version uint64 `json:"version"`
	// Direction is DirectionIn or DirectionOut; records older than directions are inbound.
	Direction string    `json:"direction"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Redacted is c with the secrets of its config replaced by "(set)": what is shown back.
func (c Connector) Redacted() Connector {
	var secrets []string
	if c.Direction == DirectionOut {
		k, _ := OutKindOf(c.Type)
		secrets = k.Secrets
	} else {
		k, _ := KindOf(c.Type)
		secrets = k.Secrets
	}
	if len(secrets) == 0 {
		return c
	}
	var m map[string]any
	if json.Unmarshal(c.Config, &m) != nil {
		return c
	}
	for _, s := range secrets {
		if _, set := m[s]; set {
			m[s] = "(set)"
		}
	}
	c.Config, _ = json.Marshal(m)
	return c
}

// Check is what Put would refuse of c, or c with its defaults: the name, the direction, the
// topic, the type and its config. Invalid input is a *solution.FieldError naming the field.
func Check(c Connector) (Connector, error) {
	if err := solution.ValidateID(c.Solution); err != nil {
		return Connector{}, &solution.FieldError{Field: "solution", Reason: err.Error()}
	}
	if !NamePattern.MatchString(c.Name) {
		return Connector{}, &solution.FieldError{Field: "name", Reason: "must match " + NamePattern.String() + " (lower-case letters, digits, '_' and '-', 1 to 63 characters)"}
	}
	switch c.Direction {
	case "":
		c.Direction = DirectionIn
	case DirectionIn, DirectionOut:
	default:
		return Connector{}, &solution.FieldError{Field: "direction", Reason: fmt.Sprintf("%q: want in (messages of a source become events) or out (scripts publish through it)", c.Direction)}
	}
	if err := CheckDirection(c.Type, c.Direction); err != nil {
		return Connector{}, err
	}
	if c.Direction == DirectionIn {
		if err := events.ValidateTopic(c.Topic); err != nil {
			return Connector{}, &solution.FieldError{Field: "topic", Reason: err.Error()}
		}
	}
	k, ok := KindOf(c.Type)
	if !ok {
		return Connector{}, &solution.FieldError{Field: "type", Reason: fmt.Sprintf("%q is not a connector type; want one of %s", c.Type, typeNames())}
	}
	if c.Direction == DirectionOut && c.MaxPending != 0 {
		return Connector{}, &solution.FieldError{Field: "max_pending", Reason: "an outbound connector takes no bound: it stores no events"}
	}
	if err := checkMaxPending(c.MaxPending, k); err != nil {
		return Connector{}, err
	}
	if len(c.Config) == 0 || string(c.Config) == "null" {
		c.Config = json.RawMessage(`{}`)
	}
	if len(c.Config) > MaxConfigBytes {
		return Connector{}, &solution.FieldError{Field: "config", Reason: fmt.Sprintf("larger than %d bytes", MaxConfigBytes)}
	}
	if c.Direction == DirectionOut {
		if err := checkOut(c); err != nil {
			return Connector{}, err
		}
		return c, nil
	}
	if err := k.validate(c.Config); err != nil {
		return Connector{}, err
	}
	switch {
	case !k.Inbound:
		if _, err := k.New(c.Config); err != nil {
			return Connector{}, err
		}
	case k.Check != nil:
		if err := k.Check(c.Config); err != nil {
			return Connector{}, err
		}
	}
	return c, nil
}

// CheckDirection refuses direction in ("" is in) for a type that only publishes (OutOnly);
// the API asks it before wanting the topic such a connector would have.
func CheckDirection(typ, dir string) error {
	if k, ok := KindOf(typ); ok && k.OutOnly && dir != DirectionOut {
		return &solution.FieldError{Field: "direction", Reason: fmt.Sprintf("a connector of type %s only sends (scripts publish through it with Outbound.publish): want direction out", typ)}
	}
	return nil
}

// checkMaxPending refuses a max_pending out of range, or one of a type that takes no bound.
func checkMaxPending(n int, k Kind) error {
	switch {
	case n < 0 || n > MaxMaxPending:
		return &solution.FieldError{Field: "max_pending", Reason: fmt.Sprintf("%d: want 1 to %d events, or 0 for the server's bound", n, MaxMaxPending)}
	case n > 0 && k.Inbound:
		return &solution.FieldError{Field: "max_pending", Reason: fmt.Sprintf("a %s connector is called rather than pulling from a source: it takes no max_pending", k.Type)}
	}
	return nil
}

// Store keeps connectors in KV, with a view every instance keeps fresh by a watch.
type Store struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu    sync.RWMutex
	view  map[string]entry // by <solution>.<name>
	watch []func()         // called after each change

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type entry struct {
	rev uint64
	c   Connector
}

// OpenStore opens (or creates) the bucket and loads the view.
func OpenStore(ctx context.Context, b *bus.Bus, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: connectorsBucket, Description: "Switchboard connectors", MaxValueSize: MaxConfigBytes + 4<<10})
	if err != nil {
		return nil, err
	}
	s := &Store{kv: kv, log: log, view: map[string]entry{}}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := bus.Watch(ctx, wctx, &s.wg, kv, s.apply); err != nil {
		cancel()
		s.wg.Wait()
		return nil, fmt.Errorf("watch connectors: %w", err)
	}
	return s, nil
}

// Close stops the watch.
func (s *Store) Close() {
	s.cancel()
	s.wg.Wait()
}

// OnChange calls f after every change of the view.
func (s *Store) OnChange(f func()) {
	s.mu.Lock()
	s.watch = append(s.watch, f)
	s.mu.Unlock()
}

func (s *Store) apply(e jetstream.KeyValueEntry) {
	sol, name, ok := strings.Cut(e.Key(), ".")
	if !ok {
		return
	}
	s.mu.Lock()
	if cur, ok := s.view[e.Key()]; ok && cur.rev >= e.Revision() {
		s.mu.Unlock()
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(s.view, e.Key())
	} else {
		var c Connector
		if err := json.Unmarshal(e.Value(), &c); err != nil {
			s.mu.Unlock()
			s.log.Error("skip unreadable connector record", "key", e.Key(), "err", err)
			return
		}
		c.Solution, c.Name = sol, name
		if c.Direction == "" {
			c.Direction = DirectionIn
		}
		s.view[e.Key()] = entry{rev: e.Revision(), c: c}
	}
	watch := s.watch
	s.mu.Unlock()
	for _, f := range watch {
		f()
	}
}

// Get is one connector, secrets included.
func (s *Store) Get(sol, name string) (Connector, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.view[sol+"."+name]
	return e.c, ok
}

// List is a solution's connectors by name ("" = every solution's, by solution and name).
func (s *Store) List(sol string) []Connector {
	s.mu.RLock()
	var out []Connector
	for _, e := range s.view {
		if sol == "" || e.c.Solution == sol {
			out = append(out, e.c)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Solution < out[j].Solution || (out[i].Solution == out[j].Solution && out[i].Name < out[j].Name)
	})
	return out
}

// Put creates or replaces a connector after Check; created reports whether it is new.
func (s *Store) Put(ctx context.Context, c Connector) (Connector, bool, error) {
	c, err := Check(c)
	if err != nil {
		return Connector{}, false, err
	}
	return s.update(ctx, c.Solution, c.Name, func(prev *Connector) (Connector, error) {
		if prev != nil {
			c.Paused = prev.Paused // pausing is its own act
			return c, nil
		}
		return c, s.roomFor(c.Solution)
	})
}

// MaxPerSolution bounds a solution's connectors, each of which holds a connection, goroutines
// and buffers on some instance. Instances creating at the same moment may pass it by a few.
var MaxPerSolution = 100

// roomFor refuses one more connector to a solution that has MaxPerSolution.
func (s *Store) roomFor(sol string) error {
	if n := len(s.List(sol)); n >= MaxPerSolution {
		return &solution.FieldError{Field: "name", Reason: fmt.Sprintf("solution %s has %d connectors, the most it may have; delete one first", sol, n)}
	}
	return nil
}

// ErrExists is a connector created under a name a connector of the solution already has.
var ErrExists = errors.New("a connector of that name exists")

// Create stores a new connector after Check; one of that name, written by any instance even
// an instant before, is ErrExists (wrapped).
func (s *Store) Create(ctx context.Context, c Connector) (Connector, error) {
	c, err := Check(c)
	if err != nil {
		return Connector{}, err
	}
	c, _, err = s.update(ctx, c.Solution, c.Name, func(prev *Connector) (Connector, error) {
		if prev != nil {
			return Connector{}, fmt.Errorf("connector %s: %w", c.Name, ErrExists)
		}
		return c, s.roomFor(c.Solution)
	})
	return c, err
}

// SetPaused pauses or resumes a connector.
func (s *Store) SetPaused(ctx context.Context, sol, name string, paused bool) (Connector, error) {
	c, _, err := s.update(ctx, sol, name, func(prev *Connector) (Connector, error) {
		if prev == nil {
			return Connector{}, fmt.Errorf("connector %s: %w", name, ErrNotFound)
		}
		c := *prev
		c.Paused = paused
		return c, nil
	})
	return c, err
}

// update writes what change makes of the stored connector (nil when none), on the revision
// it read.
func (s *Store) update(ctx context.Context, sol, name string, change func(prev *Connector) (Connector, error)) (Connector, bool, error) {
	key := sol + "." + name
	for {
		cur, err := s.kv.Get(ctx, key)
		var prev *Connector
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			cur = nil
		case err != nil:
			return Connector{}, false, fmt.Errorf("connector %s: %w", name, err)
		default:
			var p Connector
			if err := json.Unmarshal(cur.Value(), &p); err == nil {
				p.Solution, p.Name = sol, name
				prev = &p
			}
		}
		next, err := change(prev)
		if err != nil {
			return Connector{}, false, err
		}
		next.Solution, next.Name = sol, name
		next.Version = 1
		if prev != nil {
			next.Version = prev.Version + 1
		}
		next.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
		data, _ := json.Marshal(next)
		var rev uint64
		if cur == nil {
			rev, err = s.kv.Create(ctx, key, data)
		} else {
			rev, err = s.kv.Update(ctx, key, data, cur.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // written meanwhile: again, from what is there now
		}
		if err != nil {
			return Connector{}, false, fmt.Errorf("connector %s: %w", name, err)
		}
		s.apply(putEntry{key: key, value: data, rev: rev})
		return next, cur == nil, nil
	}
}

// Delete removes a connector; ErrNotFound when there is none.
func (s *Store) Delete(ctx context.Context, sol, name string) error {
	if _, ok := s.Get(sol, name); !ok {
		return fmt.Errorf("connector %s: %w", name, ErrNotFound)
	}
	if err := s.kv.Purge(ctx, sol+"."+name); err != nil {
		return fmt.Errorf("delete connector %s: %w", name, err)
	}
	s.mu.Lock()
	delete(s.view, sol+"."+name)
	watch := s.watch
	s.mu.Unlock()
	for _, f := range watch {
		f()
	}
	return nil
}

// DropSolution removes every connector of a solution.
func (s *Store) DropSolution(ctx context.Context, sol string) error {
	for _, c := range s.List(sol) {
		if err := s.Delete(ctx, sol, c.Name); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// putEntry applies a local write before the watch brings it.
type putEntry struct {
	jetstream.KeyValueEntry
	key   string
	value []byte
	rev   uint64
}

func (e putEntry) Key() string                     { return e.key }
func (e putEntry) Value() []byte                   { return e.value }
func (e putEntry) Revision() uint64                { return e.rev }
func (e putEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }
