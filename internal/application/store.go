package application

import (
	"context"
	"crypto/rand"
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

// bucket holds applications at <solution>.app.<id> and name claims at <solution>.name.<name>,
// so one solution's keys are listed by its prefix and names are unique across instances.
const bucket = "sb_applications"

// SpecParser checks an AsyncAPI document and names the topics its channels become
// (internal/asyncapi will provide one).
type SpecParser interface {
	Parse(data []byte) (topics []string, err error)
}

// Subscriptions bridges applications' external subscriptions (the hub's makes connectors).
type Subscriptions interface {
	// Check refuses a subscription that could not be bridged, with a *solution.FieldError
	// naming its field (url, topic, auth, attributes.<key>) within the subscription.
	Check(s Subscription) error
	// Sync makes the bridges of a follow its event APIs (a with none: remove them all).
	Sync(ctx context.Context, a Application) error
}

// Fetcher fetches a spec document from a fetch request's URL, with its auth, reading at most
// max bytes (more is an error). The hub's goes through its network guard.
type Fetcher interface {
	Fetch(ctx context.Context, fr FetchRequest, max int) ([]byte, error)
}

// Options configure a Store; nil parts do nothing (no parsing; every fetch fails).
type Options struct {
	Parser  SpecParser
	Fetcher Fetcher
	// Subscriptions checks the external subscriptions of each event API given, and is told of
	// every application written or unregistered, so that what bridges those buses follows;
	// nil does neither.
	Subscriptions Subscriptions
	Logger        *slog.Logger
	// Now is the clock of fetch statuses and timestamps (time.Now when nil).
	Now func() time.Time
}

// Store keeps applications in KV, with a view (specs' data left out) that every instance
// keeps fresh by a watch.
type Store struct {
	kv  jetstream.KeyValue
	opt Options

	mu   sync.RWMutex
	apps map[string]Application // by id
	apis map[string]string      // event API id -> application id
	// gone are the applications unregistered, by id, with the last revision known of them:
	// the watch may bring a put of theirs after this instance removed them, which must not
	// bring them back. Ids are never used again; an entry is a few dozen bytes.
	gone map[string]uint64

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
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Description: "Switchboard applications and their event APIs", MaxValueSize: int32(maxRecordBytes)})
	if err != nil {
		return nil, fmt.Errorf("open applications: %w", err)
	}
	s := &Store{kv: kv, opt: o, apps: map[string]Application{}, apis: map[string]string{}, gone: map[string]uint64{}}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := bus.Watch(ctx, wctx, &s.wg, kv, s.apply); err != nil {
		cancel()
		s.wg.Wait()
		return nil, fmt.Errorf("watch applications: %w", err)
	}
	return s, nil
}

// Close stops the watch.
func (s *Store) Close() {
	s.cancel()
	s.wg.Wait()
}

func appKey(sol, id string) string    { return sol + ".app." + id }
func nameKey(sol, name string) string { return sol + ".name." + name }

func (s *Store) apply(e jetstream.KeyValueEntry) {
	parts := strings.SplitN(e.Key(), ".", 3)
	if len(parts) != 3 || parts[1] != "app" {
		return
	}
	id := parts[2]
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, had := s.apps[id]
	if had && cur.Revision >= e.Revision() {
		return
	}
	if rev, ok := s.gone[id]; ok && e.Revision() <= rev {
		return // from before it was unregistered
	}
	if had {
		for _, api := range cur.EventAPIs {
			delete(s.apis, api.ID)
		}
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(s.apps, id)
		s.gone[id] = max(s.gone[id], e.Revision())
		return
	}
	var a Application
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		s.opt.Logger.Error("skip unreadable application record", "key", e.Key(), "err", err)
		return
	}
	a = a.withoutData()
	a.Revision = e.Revision()
	s.apps[id] = a
	for _, api := range a.EventAPIs {
		s.apis[api.ID] = id
	}
}

// visible is whether sol ("" = every solution) may see a.
func visible(sol string, a Application) bool { return sol == "" || a.Solution == sol }

// Get is the application with id if sol may see it, its specs' data left out.
func (s *Store) Get(sol, id string) (Application, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.apps[id]
	if !ok || !visible(sol, a) {
		return Application{}, false
	}
	return a, true
}

// EventAPI is the event API with id and its application, if sol may see them.
func (s *Store) EventAPI(sol, id string) (Application, EventAPI, bool) {
	s.mu.RLock()
	appID, ok := s.apis[id]
	s.mu.RUnlock()
	if !ok {
		return Application{}, EventAPI{}, false
	}
	a, ok := s.Get(sol, appID)
	if !ok {
		return Application{}, EventAPI{}, false
	}
	e, ok := a.EventAPI(id)
	return a, e, ok
}

// ByName is the application of sol called name, its specs' data left out: the event gateway
// asks it on every request, so it neither copies nor sorts the solution's others.
func (s *Store) ByName(sol, name string) (Application, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range s.apps {
		if a.Solution == sol && a.Name == name {
			return a, true
		}
	}
	return Application{}, false
}

// List is the applications sol may see, by solution and name, their specs' data left out.
func (s *Store) List(sol string) []Application {
	s.mu.RLock()
	var out []Application
	for _, a := range s.apps {
		if visible(sol, a) {
			out = append(out, a)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Solution != out[j].Solution {
			return out[i].Solution < out[j].Solution
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// SpecData reads the spec document of an event API sol may see.
func (s *Store) SpecData(ctx context.Context, sol, eventAPIID string) (string, error) {
	a, _, ok := s.EventAPI(sol, eventAPIID)
	if !ok {
		return "", fmt.Errorf("event API %s: %w", eventAPIID, ErrNotFound)
	}
	full, _, err := s.read(ctx, a.Solution, a.ID)
	if err != nil {
		return "", err
	}
	e, ok := full.EventAPI(eventAPIID)
	if !ok {
		return "", fmt.Errorf("event API %s: %w", eventAPIID, ErrNotFound)
	}
	return e.Spec.Data, nil
}

// read is the stored application, data included, and its KV entry (nil when none).
func (s *Store) read(ctx context.Context, sol, id string) (Application, jetstream.KeyValueEntry, error) {
	cur, err := s.kv.Get(ctx, appKey(sol, id))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return Application{}, nil, fmt.Errorf("application %s: %w", id, ErrNotFound)
	case err != nil:
		return Application{}, nil, fmt.Errorf("read application %s: %w", id, err)
	}
	var a Application
	if err := json.Unmarshal(cur.Value(), &a); err != nil {
		return Application{}, nil, fmt.Errorf("read application %s: %w", id, err)
	}
	a.Revision = cur.Revision()
	return a, cur, nil
}

// write stores a at the revision it was read (0: new), refusing a record over the bound.
func (s *Store) write(ctx context.Context, a Application, rev uint64) (Application, error) {
	a.UpdatedAt = s.opt.Now().UTC().Truncate(time.Millisecond)
	data, err := json.Marshal(a)
	if err != nil {
		return Application{}, fmt.Errorf("encode application %s: %w", a.Name, err)
	}
	if len(data) > maxRecordBytes {
		return Application{}, fieldErr("eventAPIs", "the application with its event APIs takes %d bytes: at most %d", len(data), maxRecordBytes)
	}
	if rev == 0 {
		rev, err = s.kv.Create(ctx, appKey(a.Solution, a.ID), data)
	} else {
		rev, err = s.kv.Update(ctx, appKey(a.Solution, a.ID), data, rev)
	}
	if err != nil {
		return Application{}, err
	}
	s.apply(bus.Put{K: appKey(a.Solution, a.ID), V: data, Rev: rev})
	a.Revision = rev
	s.sync(ctx, a)
	return a, nil
}

// newID is a random (version 4) UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read does not fail
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// sync tells Subscriptions of a written (or, without event APIs, unregistered) application;
// a failure is logged: the application is stored, and the next write syncs again.
func (s *Store) sync(ctx context.Context, a Application) {
	if s.opt.Subscriptions == nil {
		return
	}
	if err := s.opt.Subscriptions.Sync(ctx, a); err != nil {
		s.opt.Logger.Error("external subscriptions of an application not bridged", "solution", a.Solution, "application", a.Name, "err", err)
	}
}
