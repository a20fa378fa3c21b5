package hosted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// bucket holds services at <solution>.svc.<name> and each version's code, written once, at
// <solution>.code.<name>.<major>_<minor>; flows at <solution>.flow.<name>, nodes at
// <solution>.node.<name> and what their runtime last reported at <solution>.state.<name>: a
// solution's keys share its prefix.
const bucket = "sb_hosted_services"

// Errors a caller can test for.
var (
	ErrNotFound  = errors.New("no such hosted service")
	ErrNameTaken = errors.New("a hosted service of that name exists")
)

// errVersionTaken is a version number another update stored first.
var errVersionTaken = errors.New("the version exists")

// CodeCheck checks a version's code of a kind before it is stored: a Lua service's must
// compile. A refusal is returned as it is (a *script.CompileError names the line).
type CodeCheck func(kind, name, code string) error

// Options configure a Store.
type Options struct {
	// Check, when set, checks each version's code.
	Check  CodeCheck
	Logger *slog.Logger
	Now    func() time.Time
	// OnlineWindow is how recently a node must have reported its state to be online
	// (DefaultOnlineWindow when 0).
	OnlineWindow time.Duration
}

// Store keeps hosted services in KV, with a view of them (without code) that every instance
// keeps fresh by a watch.
type Store struct {
	kv  jetstream.KeyValue
	opt Options

	mu       sync.RWMutex
	services map[string]Service   // by <solution>.<name>
	flows    map[string]Flow      // by <solution>.<name>
	nodes    map[string]Node      // by <solution>.<name>; the hub only once changed
	states   map[string]NodeState // by <solution>.<name>
	changed  []func(sol string)

	// writeMu serializes this instance's flow writes, so the checks across a solution's flows
	// (instance names, counts) see each other.
	writeMu sync.Mutex
	signIns failLimiter

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// OpenStore opens (or creates) the bucket and loads the view.
func OpenStore(ctx context.Context, b *bus.Bus, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Description: "Switchboard hosted services and their versions' code", MaxValueSize: MaxCodeBytes + 1<<10})
	if err != nil {
		return nil, fmt.Errorf("open hosted services: %w", err)
	}
	if o.OnlineWindow <= 0 {
		o.OnlineWindow = DefaultOnlineWindow
	}
	s := &Store{kv: kv, opt: o, services: map[string]Service{}, flows: map[string]Flow{}, nodes: map[string]Node{}, states: map[string]NodeState{}}
	s.signIns.init()
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := bus.Watch(ctx, wctx, &s.wg, kv, s.apply); err != nil {
		cancel()
		s.wg.Wait()
		return nil, fmt.Errorf("watch hosted services: %w", err)
	}
	return s, nil
}

// Close stops the watch.
func (s *Store) Close() {
	s.cancel()
	s.wg.Wait()
}

func serviceKey(sol, name string) string { return sol + ".svc." + name }

func codeKey(sol, name string, v Number) string {
	return fmt.Sprintf("%s.code.%s.%d_%d", sol, name, v.Major, v.Minor)
}

// OnChange calls fn, after the view changed, with the solution whose services, flows or nodes
// changed: through this instance or another. A runtime reads the assignments again.
func (s *Store) OnChange(fn func(sol string)) {
	s.mu.Lock()
	s.changed = append(s.changed, fn)
	s.mu.Unlock()
}

func (s *Store) apply(e jetstream.KeyValueEntry) {
	parts := strings.SplitN(e.Key(), ".", 3)
	if len(parts) != 3 {
		return
	}
	id := parts[0] + "." + parts[2]
	var changed bool
	s.mu.Lock()
	switch parts[1] {
	case "svc":
		changed = applyEntry(s, s.services, id, e, func(v *Service) *uint64 { return &v.Revision }, func(v Service) bool { return len(v.Versions) > 0 })
	case "flow":
		changed = applyEntry(s, s.flows, id, e, func(v *Flow) *uint64 { return &v.Revision }, func(v Flow) bool { return v.Name != "" })
	case "node":
		changed = applyEntry(s, s.nodes, id, e, func(v *Node) *uint64 { return &v.Revision }, func(v Node) bool { return v.Name != "" })
	case "state":
		// What a runtime reports changes no assignment.
		applyEntry(s, s.states, id, e, func(v *NodeState) *uint64 { return &v.Revision }, func(NodeState) bool { return true })
	}
	fns := s.changed
	s.mu.Unlock()
	if changed {
		for _, fn := range fns {
			fn(parts[0])
		}
	}
}

// applyEntry applies e to m[id] (s.mu held), unless what m holds is as new; a record that does
// not decode or is not valid is skipped. It says whether m changed.
func applyEntry[T any](s *Store, m map[string]T, id string, e jetstream.KeyValueEntry, rev func(*T) *uint64, valid func(T) bool) bool {
	if cur, had := m[id]; had && *rev(&cur) >= e.Revision() {
		return false
	}
	if e.Operation() != jetstream.KeyValuePut {
		_, had := m[id]
		delete(m, id)
		return had
	}
	var v T
	if err := json.Unmarshal(e.Value(), &v); err != nil || !valid(v) {
		s.opt.Logger.Error("skip unreadable hosted services record", "key", e.Key(), "err", err)
		return false
	}
	*rev(&v) = e.Revision()
	m[id] = v
	return true
}

// Get is the service of sol called name.
func (s *Store) Get(sol, name string) (Service, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	svc, ok := s.services[sol+"."+name]
	return svc, ok
}

// List is sol's services by name.
func (s *Store) List(sol string) []Service {
	s.mu.RLock()
	out := []Service{}
	for _, svc := range s.services {
		if svc.Solution == sol {
			out = append(out, svc)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Input is what a caller gives of a new version.
type Input struct {
	Code     string
	Static   []Property
	Security []Property
}

// Create stores a new service of sol with its first version, 0.1.
func (s *Store) Create(ctx context.Context, sol string, svc Service, in Input) (Service, error) {
	svc.Solution = sol
	if err := checkService(svc); err != nil {
		return Service{}, err
	}
	others := s.List(sol)
	for _, o := range others {
		if strings.EqualFold(o.Name, svc.Name) {
			return Service{}, &solution.FieldError{Field: "name", Reason: fmt.Sprintf("%q: %v (%s; names differ by more than case)", svc.Name, ErrNameTaken, o.Name)}
		}
	}
	if len(others) >= MaxServices {
		return Service{}, &solution.FieldError{Field: "name", Reason: fmt.Sprintf("solution %s has %d hosted services, the most it may have; delete one first", sol, len(others))}
	}
	now := s.opt.Now().UTC().Truncate(time.Millisecond)
	v, err := s.storeCode(ctx, svc, Number{Major: 0, Minor: 1, Exact: true}, in, now)
	if errors.Is(err, errVersionTaken) {
		return Service{}, &solution.FieldError{Field: "name", Reason: fmt.Sprintf("%q: %v", svc.Name, ErrNameTaken)}
	}
	if err != nil {
		return Service{}, err
	}
	svc.Versions, svc.CreatedAt, svc.UpdatedAt = []Version{v}, now, now
	data, _ := json.Marshal(svc)
	rev, err := s.kv.Create(ctx, serviceKey(sol, svc.Name), data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return Service{}, &solution.FieldError{Field: "name", Reason: fmt.Sprintf("%q: %v", svc.Name, ErrNameTaken)}
	}
	if err != nil {
		return Service{}, fmt.Errorf("create hosted service %s: %w", svc.Name, err)
	}
	s.apply(bus.Put{K: serviceKey(sol, svc.Name), V: data, Rev: rev})
	svc.Revision = rev
	return svc, nil
}

// AddVersion stores the next version of sol's service name: the next major (1.0 after 0.3)
// or the next minor (0.4 after 0.3).
func (s *Store) AddVersion(ctx context.Context, sol, name string, major bool, in Input) (Service, Version, error) {
	for {
		cur, ok := s.Get(sol, name)
		if !ok {
			// Created through another instance a moment ago, its watch not yet here?
			s.refresh(ctx, sol, name)
			if cur, ok = s.Get(sol, name); !ok {
				return Service{}, Version{}, fmt.Errorf("hosted service %s: %w", name, ErrNotFound)
			}
		}
		if len(cur.Versions) >= MaxVersions {
			return Service{}, Version{}, &solution.FieldError{Field: "code", Reason: fmt.Sprintf("service %s has %d versions, the most it may have", name, len(cur.Versions))}
		}
		last, _ := ParseVersion(cur.Latest().Version)
		now := s.opt.Now().UTC().Truncate(time.Millisecond)
		v, err := s.storeCode(ctx, cur, last.Next(major), in, now)
		if errors.Is(err, errVersionTaken) {
			continue // the view is fresh again: number ours after it
		}
		if err != nil {
			return Service{}, Version{}, err
		}
		next := cur
		next.Versions = append(append([]Version(nil), cur.Versions...), v)
		next.UpdatedAt = now
		data, _ := json.Marshal(next)
		rev, err := s.kv.Update(ctx, serviceKey(sol, name), data, cur.Revision)
		if errors.Is(err, jetstream.ErrKeyExists) {
			// Another update took that number first: read again, and number ours after it.
			s.refresh(ctx, sol, name)
			continue
		}
		if err != nil {
			return Service{}, Version{}, fmt.Errorf("update hosted service %s: %w", name, err)
		}
		s.apply(bus.Put{K: serviceKey(sol, name), V: data, Rev: rev})
		next.Revision = rev
		return next, v, nil
	}
}

// refresh reads a service's record into the view (after a compare-and-set lost).
func (s *Store) refresh(ctx context.Context, sol, name string) {
	if e, err := s.kv.Get(ctx, serviceKey(sol, name)); err == nil {
		s.apply(e)
	}
}

// storeCode checks in and stores its code as version n of svc, written once: a version's code
// never changes. A key left by an update that lost its race is taken over when its code is
// the same.
func (s *Store) storeCode(ctx context.Context, svc Service, n Number, in Input, now time.Time) (Version, error) {
	if err := checkProperties(in.Static, in.Security); err != nil {
		return Version{}, err
	}
	switch {
	case in.Code == "":
		return Version{}, &solution.FieldError{Field: "code", Reason: "required"}
	case len(in.Code) > MaxCodeBytes:
		return Version{}, &solution.FieldError{Field: "code", Reason: fmt.Sprintf("%d bytes: at most %d", len(in.Code), MaxCodeBytes)}
	case !utf8.ValidString(in.Code):
		return Version{}, &solution.FieldError{Field: "code", Reason: "not UTF-8 text"}
	}
	if s.opt.Check != nil {
		if err := s.opt.Check(svc.Kind, svc.Name, in.Code); err != nil {
			return Version{}, err
		}
	}
	sum := sha256.Sum256([]byte(in.Code))
	v := Version{Version: n.String(), Static: in.Static, Security: in.Security, CodeBytes: len(in.Code), CodeSHA256: hex.EncodeToString(sum[:]), CreatedAt: now}
	key := codeKey(svc.Solution, svc.Name, n)
	if _, err := s.kv.Create(ctx, key, []byte(in.Code)); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return Version{}, fmt.Errorf("store code of %s %s: %w", svc.Name, v.Version, err)
		}
		// Left by a create or update that did not finish, or a version taken meanwhile: the
		// record decides, and an unreferenced key is overwritten.
		s.refresh(ctx, svc.Solution, svc.Name)
		if cur, ok := s.Get(svc.Solution, svc.Name); ok && cur.has(v.Version) {
			return Version{}, errVersionTaken
		}
		if _, err := s.kv.Put(ctx, key, []byte(in.Code)); err != nil {
			return Version{}, fmt.Errorf("store code of %s %s: %w", svc.Name, v.Version, err)
		}
	}
	return v, nil
}

func (s Service) has(version string) bool {
	for _, v := range s.Versions {
		if v.Version == version {
			return true
		}
	}
	return false
}

// Code is the code of a version of sol's service name.
func (s *Store) Code(ctx context.Context, sol, name, version string) (string, error) {
	svc, ok := s.Get(sol, name)
	if !ok {
		return "", fmt.Errorf("hosted service %s: %w", name, ErrNotFound)
	}
	v, err := svc.Resolve(version)
	if err != nil {
		return "", err
	}
	n, _ := ParseVersion(v.Version)
	e, err := s.kv.Get(ctx, codeKey(sol, name, n))
	if err != nil {
		return "", fmt.Errorf("read code of %s %s: %w", name, v.Version, err)
	}
	return string(e.Value()), nil
}

// Delete removes sol's service name with every version's code; a service a flow uses is
// kept (an *InUseError naming the flows).
func (s *Store) Delete(ctx context.Context, sol, name string) error {
	svc, ok := s.Get(sol, name)
	if !ok {
		return fmt.Errorf("hosted service %s: %w", name, ErrNotFound)
	}
	if err := s.deleteRecord(ctx, sol, "hosted service "+name, serviceKey(sol, name), svc.Revision, func(in Instance) bool { return in.Service == name }); err != nil {
		return err
	}
	return s.purge(ctx, sol+".code."+name+".")
}

// DropSolution removes everything of sol.
func (s *Store) DropSolution(ctx context.Context, sol string) error {
	if err := s.purge(ctx, sol+"."); err != nil {
		return err
	}
	prefix := sol + "."
	s.mu.Lock()
	dropPrefix(s.services, prefix)
	dropPrefix(s.flows, prefix)
	dropPrefix(s.nodes, prefix)
	dropPrefix(s.states, prefix)
	fns := s.changed
	s.mu.Unlock()
	for _, fn := range fns {
		fn(sol)
	}
	return nil
}

// deleteRecord deletes key, read at rev, unless a flow of sol has an instance used says uses
// (nil: none can), and applies the deletion to the view.
func (s *Store) deleteRecord(ctx context.Context, sol, what, key string, rev uint64, used func(Instance) bool) error {
	if used != nil {
		// Held so that no flow written through this instance starts using it meanwhile.
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		if flows := s.flowsUsing(sol, used); len(flows) > 0 {
			return &InUseError{What: what, Flows: flows}
		}
	}
	if err := s.kv.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("%s: %w", what, ErrConflict)
		}
		return fmt.Errorf("delete %s: %w", what, err)
	}
	s.apply(deleted{k: key, rev: rev + 1})
	return nil
}

func dropPrefix[T any](m map[string]T, prefix string) {
	for id := range m {
		if strings.HasPrefix(id, prefix) {
			delete(m, id)
		}
	}
}

// deleted is a deletion applied to the view before the watch brings it: rev is past the
// deleted record's.
type deleted struct {
	jetstream.KeyValueEntry
	k   string
	rev uint64
}

func (d deleted) Key() string                     { return d.k }
func (d deleted) Revision() uint64                { return d.rev }
func (d deleted) Operation() jetstream.KeyValueOp { return jetstream.KeyValueDelete }

// purge removes the keys under prefix, history and all.
func (s *Store) purge(ctx context.Context, prefix string) error {
	keys, err := s.kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	var failed error
	for k := range keys.Keys() {
		if err := s.kv.Purge(ctx, k); err != nil && failed == nil {
			failed = fmt.Errorf("purge %s: %w", k, err)
		}
	}
	return failed
}
