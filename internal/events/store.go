package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// handlersBucket is the KV bucket of handlers; keys are <solution>.<name>.
const handlersBucket = "sb_handlers"

// ErrNotFound is a handler that does not exist. It is solution.ErrNotFound, so callers map
// both the same way.
var ErrNotFound = solution.ErrNotFound

// Store keeps handlers in KV and serves reads from a view kept fresh by a watch, so every
// instance sharing the bus sees every change and event paths never read KV.
type Store struct {
	kv   jetstream.KeyValue
	bus  *bus.Bus
	feat features
	log  *slog.Logger
	// changed is signalled after the view changes, for the dispatcher to consume for the
	// handlers it holds.
	changed chan struct{}

	mu       sync.RWMutex
	handlers map[string]map[string]hentry // solution → name → handler

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// hentry is a handler at a KV revision. A gone entry is a local delete whose watch event has
// not arrived yet: it keeps older watch events from bringing the handler back.
type hentry struct {
	rev  uint64
	val  Handler
	gone bool
	prog *compiled
}

// compiled is a handler version's program, compiled on first use and then shared by every
// run of that version.
type compiled struct {
	once sync.Once
	name string
	src  string
	p    *script.Program
	err  error
}

func (c *compiled) program() (*script.Program, error) {
	c.once.Do(func() {
		if c.p == nil {
			c.p, c.err = script.Compile(c.name, c.src)
		}
		c.src = "" // the handler keeps the source; this copy is no longer needed
	})
	return c.p, c.err
}

// binding is a handler with its program.
type binding struct {
	h    Handler
	prog *compiled
}

// OpenStore creates the bucket when missing, loads the view and keeps it fresh until Close.
func OpenStore(ctx context.Context, b *bus.Bus, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: handlersBucket, Description: "Switchboard event handlers", MaxValueSize: solution.MaxScriptBytes + 64<<10,
	})
	if err != nil {
		return nil, err
	}
	s := &Store{kv: kv, bus: b, feat: featuresOf(b), log: log, changed: make(chan struct{}, 1), handlers: map[string]map[string]hentry{}}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := bus.Watch(ctx, wctx, &s.wg, s.kv, func(e jetstream.KeyValueEntry) { s.apply(e, nil) }); err != nil {
		cancel()
		s.wg.Wait()
		return nil, fmt.Errorf("watch handlers: %w", err)
	}
	return s, nil
}

func deleted(e jetstream.KeyValueEntry) bool {
	return e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge
}

// apply brings the view up to e; p is the program of a local write, already compiled.
func (s *Store) apply(e jetstream.KeyValueEntry, p *script.Program) {
	sol, name, ok := strings.Cut(e.Key(), ".")
	if !ok {
		s.log.Error("skip handler record with a malformed key", "key", e.Key())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signal()
	m := s.handlers[sol]
	if cur, ok := m[name]; ok && cur.rev >= e.Revision() {
		return
	}
	if deleted(e) {
		delete(m, name)
		if len(m) == 0 {
			delete(s.handlers, sol)
		}
		return
	}
	var h Handler
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		s.log.Error("skip unreadable handler record", "key", e.Key(), "err", err)
		return
	}
	h.Solution, h.Name, h.Version = sol, name, storedVersion(h.Version, e.Revision())
	if m == nil {
		m = map[string]hentry{}
		s.handlers[sol] = m
	}
	m[name] = hentry{rev: e.Revision(), val: h, prog: &compiled{name: programName(sol, name), src: h.Script, p: p}}
}

func (s *Store) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Check is what Put would refuse of h, or h as Put would store it.
func Check(h Handler) (Handler, error) {
	if err := solution.ValidateID(h.Solution); err != nil {
		return Handler{}, renamed(err, "solution")
	}
	h, _, err := normalize(h)
	return h, err
}

// Put creates or replaces a handler after NormalizeHandler; created reports whether it is new.
// It does not check that the solution exists: the caller does.
func (s *Store) Put(ctx context.Context, h Handler) (Handler, bool, error) {
	if err := solution.ValidateID(h.Solution); err != nil {
		return Handler{}, false, renamed(err, "solution")
	}
	h, p, err := normalize(h)
	if err != nil {
		return Handler{}, false, err
	}
	key := handlerKey(h.Solution, h.Name)
	for {
		// The version counts this handler's changes: read the stored one and write the next
		// only if nothing was written in between.
		cur, err := s.kv.Get(ctx, key)
		var prev *Handler
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return Handler{}, false, fmt.Errorf("deploy handler %s: %w", h.Name, err)
		default:
			var old Handler
			if err := json.Unmarshal(cur.Value(), &old); err == nil {
				old.Solution, old.Name, old.Version = h.Solution, h.Name, storedVersion(old.Version, cur.Revision())
				prev = &old
			}
		}
		// The consumer comes first: once any instance sees the handler, every event stored
		// for it reaches it.
		if err := ensureConsumers(ctx, s.bus.JetStream(), s.bus.Replicas(), s.feat, h); err != nil {
			var fe *solution.FieldError
			if errors.As(err, &fe) {
				return Handler{}, false, err
			}
			return Handler{}, false, fmt.Errorf("deploy handler %s: %w", h.Name, err)
		}
		if prev != nil && prev.Script == h.Script && slices.Equal(prev.Topics, h.Topics) && sameDelivery(*prev, h) {
			return *prev, false, nil // not a change: same version
		}
		next := h
		next.Version = 1
		if prev != nil {
			next.Version = prev.Version + 1
		} else if cur != nil {
			next.Version = cur.Revision() + 1 // unreadable record: still above what it showed
		}
		next.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
		data, err := json.Marshal(next)
		if err != nil {
			return Handler{}, false, fmt.Errorf("encode handler %s: %w", h.Name, err)
		}
		var rev uint64
		if cur == nil {
			rev, err = s.kv.Create(ctx, key, data)
		} else {
			rev, err = s.kv.Update(ctx, key, data, cur.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // deployed concurrently: read the new version and go again
		}
		if err != nil {
			return Handler{}, false, fmt.Errorf("deploy handler %s: %w", h.Name, err)
		}
		// Applied at once, so the caller reads its own write before the watch delivers it.
		s.apply(localEntry{key: key, value: data, rev: rev}, p)
		return next, cur == nil, nil
	}
}

// sameDelivery reports whether a and b retry and bound their runs alike.
func sameDelivery(a, b Handler) bool {
	if a.MaxInFlight != b.MaxInFlight || a.OrderBy != b.OrderBy || (a.Retry == nil) != (b.Retry == nil) {
		return false
	}
	return a.Retry == nil || a.Retry.equal(*b.Retry)
}

// storedVersion is a handler's version from its record: records written before versions
// counted per handler hold 0 and show their KV revision, as they did then, so the version an
// existing handler shows never goes down.
func storedVersion(version, revision uint64) uint64 {
	if version == 0 {
		return revision
	}
	return version
}

// Get returns one handler from the view.
func (s *Store) Get(sol, name string) (Handler, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.handlers[sol][name]
	return e.val, ok && !e.gone
}

// List returns a solution's handlers, by name.
func (s *Store) List(sol string) []Handler {
	return handlersOf(s.bindings(sol, func(Handler) bool { return true }))
}

// Subscribed returns the handlers of a solution subscribed to topic, by name.
func (s *Store) Subscribed(sol, topic string) []Handler {
	return handlersOf(s.subscribed(sol, topic))
}

func (s *Store) subscribed(sol, topic string) []binding {
	return s.bindings(sol, func(h Handler) bool { return h.subscribes(topic) })
}

// handler returns one handler with its program.
func (s *Store) handler(sol, name string) (binding, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.handlers[sol][name]
	if !ok || e.gone {
		return binding{}, false
	}
	return binding{h: e.val, prog: e.prog}, true
}

// bindings are sol's handlers that keep selects, by name; sol "" is every solution's and a
// nil keep selects all.
func (s *Store) bindings(sol string, keep func(Handler) bool) []binding {
	s.mu.RLock()
	var out []binding
	add := func(m map[string]hentry) {
		for _, e := range m {
			if !e.gone && (keep == nil || keep(e.val)) {
				out = append(out, binding{h: e.val, prog: e.prog})
			}
		}
	}
	if sol != "" {
		add(s.handlers[sol])
	} else {
		for _, m := range s.handlers {
			add(m)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].h, out[j].h
		return a.Solution < b.Solution || (a.Solution == b.Solution && a.Name < b.Name)
	})
	return out
}

func handlersOf(bs []binding) []Handler {
	out := make([]Handler, len(bs))
	for i, b := range bs {
		out[i] = b.h
	}
	return out
}

// Delete removes one handler; ErrNotFound when there is none.
func (s *Store) Delete(ctx context.Context, sol, name string) error {
	if _, ok := s.Get(sol, name); !ok {
		return fmt.Errorf("handler %s: %w", name, ErrNotFound)
	}
	if err := s.kv.Purge(ctx, handlerKey(sol, name)); err != nil {
		return fmt.Errorf("delete handler %s: %w", name, err)
	}
	s.forget(sol, name)
	// After the record: an instance that still sees the handler finds no consumer, asks KV,
	// and does not make it again.
	return deleteConsumers(ctx, s.bus.JetStream(), sol, name)
}

// forget marks a handler gone in the view until the watch delivers its deletion.
func (s *Store) forget(sol, name string) {
	s.mu.Lock()
	if e, ok := s.handlers[sol][name]; ok {
		s.handlers[sol][name] = hentry{rev: e.rev, gone: true}
	}
	s.mu.Unlock()
	s.signal()
}

// DropSolution removes every handler of a solution, as when the solution is deleted. It reads
// the keys from KV rather than the view, so handlers another instance just wrote go too.
func (s *Store) DropSolution(ctx context.Context, sol string) error {
	if err := solution.ValidateID(sol); err != nil {
		return err // a malformed id could widen the key filter below
	}
	lister, err := s.kv.ListKeysFiltered(ctx, sol+".>")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("list handlers of %s: %w", sol, err)
	}
	var keys []string
	if lister != nil {
		for k := range lister.Keys() {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if err := s.kv.Purge(ctx, k); err != nil {
			return fmt.Errorf("delete handler %s: %w", k, err)
		}
		_, name, _ := strings.Cut(k, ".")
		s.forget(sol, name)
		if err := deleteConsumers(ctx, s.bus.JetStream(), sol, name); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the watch.
func (s *Store) Close() {
	s.cancel()
	s.wg.Wait()
}

func handlerKey(sol, name string) string { return sol + "." + name }

// stored reports whether handler name of sol is in KV now, whatever this instance's view says
// yet; an error reading KV counts as stored, so that nothing is dropped on a doubt.
func (s *Store) stored(ctx context.Context, sol, name string) bool {
	_, err := s.kv.Get(ctx, handlerKey(sol, name))
	return !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted)
}

// load is handler name of sol as stored in KV now, whatever the view says yet.
func (s *Store) load(ctx context.Context, sol, name string) (Handler, bool) {
	e, err := s.kv.Get(ctx, handlerKey(sol, name))
	if err != nil {
		return Handler{}, false
	}
	var h Handler
	if json.Unmarshal(e.Value(), &h) != nil {
		return Handler{}, false
	}
	h.Solution, h.Name = sol, name
	return h, true
}

// localEntry applies a write to the view at once, so a caller reads its own writes before the
// watch delivers them; the watch's copy is then ignored by revision.
type localEntry struct {
	jetstream.KeyValueEntry
	key   string
	value []byte
	rev   uint64
}

func (e localEntry) Key() string                     { return e.key }
func (e localEntry) Value() []byte                   { return e.value }
func (e localEntry) Revision() uint64                { return e.rev }
func (e localEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }
