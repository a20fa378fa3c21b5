package solution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
)

// Bucket names in JetStream KV.
const (
	solutionsBucket = "sb_solutions"
	endpointsBucket = "sb_endpoints"
)

// Store keeps solutions and endpoints in KV and serves reads from a view kept fresh by watches,
// so every instance sharing the bus sees every change.
type Store struct {
	solutions jetstream.KeyValue
	endpoints jetstream.KeyValue
	log       *slog.Logger

	mu        sync.RWMutex
	sols      map[string]entry[Solution]
	tokens    map[string]string                     // token hash → solution id
	eps       map[string]map[string]entry[Endpoint] // solution → key → endpoint
	listeners []func(solution string)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// entry is a view item at a KV revision. A gone entry is a local delete whose watch event has
// not arrived yet: it keeps older watch events from bringing the item back.
type entry[T any] struct {
	rev  uint64
	val  T
	gone bool
}

// Open creates the buckets when missing, loads the view and keeps it fresh until Close.
func Open(ctx context.Context, b *bus.Bus, log *slog.Logger) (*Store, error) {
	sols, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: solutionsBucket, Description: "Switchboard solutions"})
	if err != nil {
		return nil, err
	}
	eps, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: endpointsBucket, Description: "Switchboard endpoints", MaxValueSize: MaxScriptBytes + 64<<10})
	if err != nil {
		return nil, err
	}
	s := &Store{
		solutions: sols, endpoints: eps, log: log,
		sols: map[string]entry[Solution]{}, tokens: map[string]string{}, eps: map[string]map[string]entry[Endpoint]{},
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := bus.Watch(ctx, wctx, &s.wg, sols, s.applySolution); err != nil {
		cancel()
		return nil, fmt.Errorf("watch solutions: %w", err)
	}
	if err := bus.Watch(ctx, wctx, &s.wg, eps, s.applyEndpoint); err != nil {
		cancel()
		s.wg.Wait()
		return nil, fmt.Errorf("watch endpoints: %w", err)
	}
	return s, nil
}

// OnEndpointsChange registers f to be called (outside locks) with a solution id whenever that
// solution's endpoints or the solution itself change.
func (s *Store) OnEndpointsChange(f func(solution string)) {
	s.mu.Lock()
	s.listeners = append(s.listeners, f)
	s.mu.Unlock()
}

func (s *Store) notify(solution string) {
	s.mu.RLock()
	ls := s.listeners
	s.mu.RUnlock()
	for _, f := range ls {
		f(solution)
	}
}

func deleted(e jetstream.KeyValueEntry) bool {
	return e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge
}

// applySolution brings the view up to e and tells listeners. A local write notifies even when
// the watch got there first, so its caller returns only after listeners saw the change.
func (s *Store) applySolution(e jetstream.KeyValueEntry) {
	id := e.Key()
	_, local := e.(localEntry)
	s.mu.Lock()
	if cur, ok := s.sols[id]; ok && cur.rev >= e.Revision() {
		s.mu.Unlock()
		if local {
			s.notify(id)
		}
		return
	}
	if old, ok := s.sols[id]; ok {
		delete(s.tokens, old.val.TokenHash)
	}
	if deleted(e) {
		delete(s.sols, id)
		if len(s.eps[id]) == 0 {
			delete(s.eps, id)
		}
	} else {
		var sol Solution
		if err := json.Unmarshal(e.Value(), &sol); err != nil {
			s.mu.Unlock()
			s.log.Error("skip unreadable solution record", "solution", id, "err", err)
			return
		}
		if sol.Deleting {
			s.sols[id] = entry[Solution]{rev: e.Revision(), val: sol, gone: true}
		} else {
			s.sols[id] = entry[Solution]{rev: e.Revision(), val: sol}
			s.tokens[sol.TokenHash] = id
		}
	}
	s.mu.Unlock()
	s.notify(id)
}

// applyEndpoint is applySolution for endpoints.
func (s *Store) applyEndpoint(e jetstream.KeyValueEntry) {
	sol, _, _ := strings.Cut(e.Key(), ".")
	_, local := e.(localEntry)
	s.mu.Lock()
	m := s.eps[sol]
	if cur, ok := m[e.Key()]; ok && cur.rev >= e.Revision() {
		s.mu.Unlock()
		if local {
			s.notify(sol)
		}
		return
	}
	if deleted(e) {
		delete(m, e.Key())
		if len(m) == 0 {
			delete(s.eps, sol)
		}
	} else {
		var ep Endpoint
		if err := json.Unmarshal(e.Value(), &ep); err != nil {
			s.mu.Unlock()
			s.log.Error("skip unreadable endpoint record", "key", e.Key(), "err", err)
			return
		}
		ep.Solution, ep.Version = sol, storedVersion(ep.Version, e.Revision())
		if m == nil {
			m = map[string]entry[Endpoint]{}
			s.eps[sol] = m
		}
		m[e.Key()] = entry[Endpoint]{rev: e.Revision(), val: ep}
	}
	s.mu.Unlock()
	s.notify(sol)
}

// Settings are what a solution's owner sets: its limits and whether it is in debug mode.
type Settings struct {
	Limits         Limits
	Debug          bool
	InvalidPayload string
}

// Change is the settings an update replaces; nil ones stay as they are.
type Change struct {
	Limits         *Limits
	Debug          *bool
	InvalidPayload *string
	// tokenHash replaces the token (NewToken); only NewToken sets it.
	tokenHash *string
}

// NewToken gives solution id a new token, returned (the only time it is known); the old one
// stops working at once on this instance, and on the others as soon as they see the change.
func (s *Store) NewToken(ctx context.Context, id string) (Solution, string, error) {
	token, hash := NewToken()
	sol, err := s.Update(ctx, id, Change{tokenHash: &hash})
	if err != nil {
		return Solution{}, "", err
	}
	return sol, token, nil
}

// Create stores a new solution and returns it with its token (the only time the token is known).
func (s *Store) Create(ctx context.Context, id string, limits Limits) (Solution, string, error) {
	return s.CreateWith(ctx, id, Settings{Limits: limits})
}

// CreateWith is Create with every setting.
func (s *Store) CreateWith(ctx context.Context, id string, set Settings) (Solution, string, error) {
	if err := ValidateID(id); err != nil {
		return Solution{}, "", err
	}
	if err := set.Limits.Validate(); err != nil {
		return Solution{}, "", err
	}
	if err := ValidateInvalidPayload(set.InvalidPayload); err != nil {
		return Solution{}, "", err
	}
	token, hash := NewToken()
	sol := Solution{ID: id, CreatedAt: time.Now().UTC().Truncate(time.Second), Limits: set.Limits, Debug: set.Debug, InvalidPayload: set.InvalidPayload, TokenHash: hash}
	data, _ := json.Marshal(sol)
	rev, err := s.solutions.Create(ctx, id, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		if cur, ok := s.record(id); ok && cur.val.Deleting {
			return Solution{}, "", fmt.Errorf("solution %s %w", id, ErrDeleting)
		}
		return Solution{}, "", fmt.Errorf("solution %s: %w", id, ErrExists)
	}
	if err != nil {
		return Solution{}, "", fmt.Errorf("create solution %s: %w", id, err)
	}
	s.applySolution(localEntry{key: id, value: data, rev: rev})
	return sol, token, nil
}

// Get returns a solution from the view.
func (s *Store) Get(id string) (Solution, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.sols[id]
	return e.val, ok && !e.gone
}

// List returns every solution, by id.
func (s *Store) List() []Solution {
	s.mu.RLock()
	out := make([]Solution, 0, len(s.sols))
	for _, e := range s.sols {
		if !e.gone {
			out = append(out, e.val)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ByToken returns the id of the solution whose token this is.
func (s *Store) ByToken(token string) (string, bool) {
	h := HashToken(token)
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.tokens[h]
	return id, ok
}

// UpdateLimits replaces a solution's limits (compare-and-set on the record).
func (s *Store) UpdateLimits(ctx context.Context, id string, limits Limits) (Solution, error) {
	return s.Update(ctx, id, Change{Limits: &limits})
}

// Update replaces the settings given (nil ones stay as they are), compare-and-set on the record.
func (s *Store) Update(ctx context.Context, id string, c Change) (Solution, error) {
	if c.Limits != nil {
		if err := c.Limits.Validate(); err != nil {
			return Solution{}, err
		}
	}
	if c.InvalidPayload != nil {
		if err := ValidateInvalidPayload(*c.InvalidPayload); err != nil {
			return Solution{}, err
		}
	}
	for {
		cur, err := s.solutions.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Solution{}, fmt.Errorf("solution %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return Solution{}, fmt.Errorf("read solution %s: %w", id, err)
		}
		var sol Solution
		if err := json.Unmarshal(cur.Value(), &sol); err != nil {
			return Solution{}, fmt.Errorf("read solution %s: %w", id, err)
		}
		if c.Limits != nil {
			sol.Limits = *c.Limits
		}
		if c.Debug != nil {
			sol.Debug = *c.Debug
		}
		if c.InvalidPayload != nil {
			sol.InvalidPayload = *c.InvalidPayload
		}
		if c.tokenHash != nil {
			sol.TokenHash = *c.tokenHash
		}
		data, _ := json.Marshal(sol)
		rev, err := s.solutions.Update(ctx, id, data, cur.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // changed under us: read again
		}
		if err != nil {
			return Solution{}, fmt.Errorf("update solution %s: %w", id, err)
		}
		s.applySolution(localEntry{key: id, value: data, rev: rev})
		return sol, nil
	}
}

// Delete removes a solution with everything it owns. It first marks the record as being
// deleted, which ends the solution for every instance (no routes, no token) and keeps its id
// from being taken again; then it removes the endpoints, calls drop for what other parts keep
// (the keystore), and last removes the record. A crash half-way leaves the mark, and
// FinishDeletions completes the work on the next start.
func (s *Store) Delete(ctx context.Context, id string, drop func(ctx context.Context, id string) error) error {
	if _, ok := s.Get(id); !ok {
		return fmt.Errorf("solution %s: %w", id, ErrNotFound)
	}
	if err := s.markDeleting(ctx, id); err != nil {
		return err
	}
	return s.finishDelete(ctx, id, drop)
}

func (s *Store) markDeleting(ctx context.Context, id string) error {
	for {
		cur, err := s.solutions.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("solution %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read solution %s: %w", id, err)
		}
		var sol Solution
		if err := json.Unmarshal(cur.Value(), &sol); err != nil {
			return fmt.Errorf("read solution %s: %w", id, err)
		}
		sol.Deleting = true
		data, _ := json.Marshal(sol)
		rev, err := s.solutions.Update(ctx, id, data, cur.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete solution %s: %w", id, err)
		}
		s.applySolution(localEntry{key: id, value: data, rev: rev})
		s.forgetSolution(id)
		return nil
	}
}

func (s *Store) finishDelete(ctx context.Context, id string, drop func(ctx context.Context, id string) error) error {
	if err := s.deleteEndpoints(ctx, id); err != nil {
		return err
	}
	if drop != nil {
		if err := drop(ctx, id); err != nil {
			return fmt.Errorf("delete solution %s: %w", id, err)
		}
	}
	if err := s.solutions.Purge(ctx, id); err != nil {
		return fmt.Errorf("delete solution %s: %w", id, err)
	}
	return nil
}

// FinishDeletions completes deletions a crash interrupted (solutions still marked deleting).
func (s *Store) FinishDeletions(ctx context.Context, drop func(ctx context.Context, id string) error) error {
	s.mu.RLock()
	var ids []string
	for id, e := range s.sols {
		if e.val.Deleting {
			ids = append(ids, id)
		}
	}
	s.mu.RUnlock()
	for _, id := range ids {
		if err := s.finishDelete(ctx, id, drop); err != nil {
			return err
		}
		s.log.Info("finished deleting solution", "solution", id)
	}
	return nil
}

// record returns the view's entry for id, including one being deleted.
func (s *Store) record(id string) (entry[Solution], bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.sols[id]
	return e, ok
}

func (s *Store) forgetSolution(id string) {
	s.mu.Lock()
	if e, ok := s.sols[id]; ok {
		delete(s.tokens, e.val.TokenHash)
		s.sols[id] = entry[Solution]{rev: e.rev, val: e.val, gone: true}
	}
	for k, e := range s.eps[id] {
		s.eps[id][k] = entry[Endpoint]{rev: e.rev, gone: true}
	}
	s.mu.Unlock()
	s.notify(id)
}

func (s *Store) deleteEndpoints(ctx context.Context, id string) error {
	lister, err := s.endpoints.ListKeysFiltered(ctx, id+".>")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("list endpoints of %s: %w", id, err)
	}
	if lister == nil {
		return nil
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := s.endpoints.Purge(ctx, k); err != nil {
			return fmt.Errorf("delete endpoint %s: %w", k, err)
		}
	}
	return nil
}

// PutEndpoint creates or replaces the endpoint for ep.Method and ep.Path; the script must
// already be checked by the caller. created reports whether it is new.
func (s *Store) PutEndpoint(ctx context.Context, ep Endpoint) (Endpoint, bool, error) {
	if _, ok := s.Get(ep.Solution); !ok {
		return Endpoint{}, false, fmt.Errorf("solution %s: %w", ep.Solution, ErrNotFound)
	}
	m, p, err := NormalizeEndpoint(ep.Method, ep.Path)
	if err != nil {
		return Endpoint{}, false, err
	}
	ep.Method, ep.Path = m, p
	if len(ep.Script) > MaxScriptBytes {
		return Endpoint{}, false, &FieldError{"script", fmt.Sprintf("longer than %d bytes", MaxScriptBytes)}
	}
	key := endpointKey(ep.Solution, ep.Method, ep.Path)
	for {
		// The version counts this endpoint's changes: read the stored one and write the next
		// only if nothing was written in between.
		cur, err := s.endpoints.Get(ctx, key)
		var prev *Endpoint
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return Endpoint{}, false, fmt.Errorf("deploy endpoint %s %s: %w", ep.Method, ep.Path, err)
		default:
			var old Endpoint
			if err := json.Unmarshal(cur.Value(), &old); err == nil {
				old.Solution, old.Version = ep.Solution, storedVersion(old.Version, cur.Revision())
				prev = &old
			}
		}
		if prev != nil && prev.Script == ep.Script {
			return *prev, false, nil // not a change: same version
		}
		next := ep
		next.Version = 1
		if prev != nil {
			next.Version = prev.Version + 1
		} else if cur != nil {
			next.Version = cur.Revision() + 1 // unreadable record: still above what it showed
		}
		next.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
		data, _ := json.Marshal(next)
		var rev uint64
		if cur == nil {
			rev, err = s.endpoints.Create(ctx, key, data)
		} else {
			rev, err = s.endpoints.Update(ctx, key, data, cur.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // deployed concurrently: read the new version and go again
		}
		if err != nil {
			return Endpoint{}, false, fmt.Errorf("deploy endpoint %s %s: %w", ep.Method, ep.Path, err)
		}
		s.applyEndpoint(localEntry{key: key, value: data, rev: rev})
		return next, prev == nil && cur == nil, nil
	}
}

// storedVersion is an endpoint's version from its record: records written before versions
// counted per endpoint hold 0 and show their KV revision, as they did then, so the version an
// existing endpoint shows never goes down.
func storedVersion(version, revision uint64) uint64 {
	if version == 0 {
		return revision
	}
	return version
}

func (s *Store) lookup(solution, key string) (Endpoint, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.eps[solution][key]
	return e.val, ok && !e.gone
}

// GetEndpoint returns one endpoint from the view.
func (s *Store) GetEndpoint(solution, method, path string) (Endpoint, bool) {
	return s.lookup(solution, endpointKey(solution, strings.ToUpper(method), path))
}

// DeleteEndpoint removes one endpoint.
func (s *Store) DeleteEndpoint(ctx context.Context, solution, method, path string) error {
	key := endpointKey(solution, strings.ToUpper(method), path)
	if _, ok := s.lookup(solution, key); !ok {
		return fmt.Errorf("endpoint %s %s: %w", method, path, ErrNotFound)
	}
	if err := s.endpoints.Purge(ctx, key); err != nil {
		return fmt.Errorf("delete endpoint %s %s: %w", method, path, err)
	}
	s.mu.Lock()
	if e, ok := s.eps[solution][key]; ok {
		s.eps[solution][key] = entry[Endpoint]{rev: e.rev, gone: true}
	}
	s.mu.Unlock()
	s.notify(solution)
	return nil
}

// Endpoints lists a solution's endpoints by path, then method.
func (s *Store) Endpoints(solution string) []Endpoint {
	s.mu.RLock()
	out := make([]Endpoint, 0, len(s.eps[solution]))
	for _, e := range s.eps[solution] {
		if !e.gone {
			out = append(out, e.val)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Close stops the watches.
func (s *Store) Close() {
	s.cancel()
	s.wg.Wait()
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
