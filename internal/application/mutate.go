package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Register stores a new application of sol with its event APIs, giving each an id; specs with
// a fetch request are fetched first (a failed fetch is kept in its status, not refused).
func (s *Store) Register(ctx context.Context, sol string, a Application) (Application, error) {
	a.Solution = sol
	if err := checkApplication(a); err != nil {
		return Application{}, err
	}
	if len(a.EventAPIs) > MaxEventAPIs {
		return Application{}, fieldErr("eventAPIs", "%d event APIs: at most %d", len(a.EventAPIs), MaxEventAPIs)
	}
	if n := len(s.List(sol)); n >= MaxPerSolution {
		return Application{}, fieldErr("name", "solution %s has %d applications, the most it may have; unregister one first", sol, n)
	}
	for i := range a.EventAPIs {
		e, err := s.prepare(ctx, fmt.Sprintf("eventAPIs[%d]", i), a.EventAPIs[i])
		if err != nil {
			return Application{}, err
		}
		e.ID = newID()
		a.EventAPIs[i] = e
	}
	a.ID = newID()
	a.CreatedAt = s.opt.Now().UTC()
	if err := s.claimName(ctx, sol, a.Name, a.ID); err != nil {
		return Application{}, err
	}
	out, err := s.write(ctx, a, 0)
	if err != nil {
		s.releaseName(ctx, sol, a.Name, a.ID)
		return Application{}, fmt.Errorf("register application %s: %w", a.Name, err)
	}
	return out.withoutData(), nil
}

// claimName takes name in sol for id; a name another application holds is ErrNameTaken.
func (s *Store) claimName(ctx context.Context, sol, name, id string) error {
	_, err := s.kv.Create(ctx, nameKey(sol, name), []byte(id))
	if errors.Is(err, jetstream.ErrKeyExists) {
		// A claim whose application is gone (an instance stopped half-way) is taken over.
		cur, gerr := s.kv.Get(ctx, nameKey(sol, name))
		if gerr == nil {
			if _, _, rerr := s.read(ctx, sol, string(cur.Value())); errors.Is(rerr, ErrNotFound) {
				if _, uerr := s.kv.Update(ctx, nameKey(sol, name), []byte(id), cur.Revision()); uerr == nil {
					return nil
				}
			}
		}
		return &nameTakenError{name: name}
	}
	if err != nil {
		return fmt.Errorf("claim application name %s: %w", name, err)
	}
	return nil
}

type nameTakenError struct{ name string }

func (e *nameTakenError) Error() string {
	return fmt.Sprintf("name: %q: %v", e.name, ErrNameTaken)
}
func (e *nameTakenError) Unwrap() error { return ErrNameTaken }

// Field names the input field at fault, for the API's error.
func (e *nameTakenError) Field() string { return "name" }

// releaseName drops id's claim of name (another's claim stays).
func (s *Store) releaseName(ctx context.Context, sol, name, id string) {
	cur, err := s.kv.Get(ctx, nameKey(sol, name))
	if err != nil || string(cur.Value()) != id {
		return
	}
	if err := s.kv.Delete(ctx, nameKey(sol, name), jetstream.LastRevision(cur.Revision())); err != nil {
		s.opt.Logger.Warn("release application name", "solution", sol, "name", name, "err", err)
	}
}

// Update is the application id of sol ("" = any) with its name, description, labels and
// health check URL replaced; its event APIs stay.
func (s *Store) Update(ctx context.Context, sol, id string, in Application) (Application, error) {
	cur, ok := s.Get(sol, id)
	if !ok {
		return Application{}, fmt.Errorf("application %s: %w", id, ErrNotFound)
	}
	in.Solution = cur.Solution
	if err := checkApplication(in); err != nil {
		return Application{}, err
	}
	renamed := in.Name != cur.Name
	if renamed {
		if err := s.claimName(ctx, cur.Solution, in.Name, id); err != nil {
			return Application{}, err
		}
	}
	out, err := s.change(ctx, cur.Solution, id, func(a *Application) error {
		a.Name, a.Description, a.Labels, a.HealthCheckURL = in.Name, in.Description, in.Labels, in.HealthCheckURL
		return nil
	})
	if err != nil {
		if renamed {
			s.releaseName(ctx, cur.Solution, in.Name, id)
		}
		return Application{}, err
	}
	if renamed {
		s.releaseName(ctx, cur.Solution, cur.Name, id)
	}
	return out, nil
}

// change writes what f makes of the stored application, on the revision it read, again when
// another writer came first.
func (s *Store) change(ctx context.Context, sol, id string, f func(a *Application) error) (Application, error) {
	for {
		a, _, err := s.read(ctx, sol, id)
		if err != nil {
			return Application{}, err
		}
		if err := f(&a); err != nil {
			return Application{}, err
		}
		out, err := s.write(ctx, a, a.Revision)
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return Application{}, fmt.Errorf("update application %s: %w", id, err)
		}
		return out.withoutData(), nil
	}
}

// Unregister removes the application id of sol ("" = any), its event APIs with it.
func (s *Store) Unregister(ctx context.Context, sol, id string) (Application, error) {
	a, ok := s.Get(sol, id)
	if !ok {
		return Application{}, fmt.Errorf("application %s: %w", id, ErrNotFound)
	}
	if err := s.kv.Purge(ctx, appKey(a.Solution, id)); err != nil {
		return Application{}, fmt.Errorf("unregister application %s: %w", id, err)
	}
	s.mu.Lock()
	if cur, ok := s.apps[id]; ok {
		for _, e := range cur.EventAPIs {
			delete(s.apis, e.ID)
		}
		delete(s.apps, id)
		s.gone[id] = cur.Revision
	}
	s.mu.Unlock()
	s.releaseName(ctx, a.Solution, a.Name, id)
	gone := a
	gone.EventAPIs = nil
	s.sync(ctx, gone)
	return a, nil
}

// AddEventAPI adds an event API to the application appID of sol ("" = any).
func (s *Store) AddEventAPI(ctx context.Context, sol, appID string, e EventAPI) (EventAPI, error) {
	cur, ok := s.Get(sol, appID)
	if !ok {
		return EventAPI{}, fmt.Errorf("application %s: %w", appID, ErrNotFound)
	}
	e, err := s.prepare(ctx, "", e)
	if err != nil {
		return EventAPI{}, err
	}
	e.ID = newID()
	_, err = s.change(ctx, cur.Solution, appID, func(a *Application) error {
		if len(a.EventAPIs) >= MaxEventAPIs {
			return fieldErr("applicationID", "application %s has %d event APIs, the most it may have", a.Name, len(a.EventAPIs))
		}
		a.EventAPIs = append(a.EventAPIs, e)
		return nil
	})
	if err != nil {
		return EventAPI{}, err
	}
	return e, nil
}

// UpdateEventAPI replaces the event API id of sol ("" = any), keeping its id.
func (s *Store) UpdateEventAPI(ctx context.Context, sol, id string, e EventAPI) (EventAPI, error) {
	a, _, ok := s.EventAPI(sol, id)
	if !ok {
		return EventAPI{}, fmt.Errorf("event API %s: %w", id, ErrNotFound)
	}
	e, err := s.prepare(ctx, "", e)
	if err != nil {
		return EventAPI{}, err
	}
	e.ID = id
	return e, s.replaceEventAPI(ctx, a, id, func(*EventAPI) (EventAPI, error) { return e, nil })
}

// replaceEventAPI writes what f makes of the event API id of application a.
func (s *Store) replaceEventAPI(ctx context.Context, a Application, id string, f func(*EventAPI) (EventAPI, error)) error {
	_, err := s.change(ctx, a.Solution, a.ID, func(app *Application) error {
		for i := range app.EventAPIs {
			if app.EventAPIs[i].ID == id {
				next, err := f(&app.EventAPIs[i])
				app.EventAPIs[i] = next
				return err
			}
		}
		return fmt.Errorf("event API %s: %w", id, ErrNotFound)
	})
	return err
}

// DeleteEventAPI removes the event API id of sol ("" = any) and returns it.
func (s *Store) DeleteEventAPI(ctx context.Context, sol, id string) (EventAPI, error) {
	a, e, ok := s.EventAPI(sol, id)
	if !ok {
		return EventAPI{}, fmt.Errorf("event API %s: %w", id, ErrNotFound)
	}
	_, err := s.change(ctx, a.Solution, a.ID, func(app *Application) error {
		for i := range app.EventAPIs {
			if app.EventAPIs[i].ID == id {
				app.EventAPIs = append(app.EventAPIs[:i], app.EventAPIs[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("event API %s: %w", id, ErrNotFound)
	})
	return e, err
}

// Refetch fetches the spec of the event API id of sol ("" = any) again and stores the outcome
// (a failure in its fetch status); an event API without a fetch request is bad input.
func (s *Store) Refetch(ctx context.Context, sol, id string) (EventAPI, error) {
	a, e, ok := s.EventAPI(sol, id)
	if !ok {
		return EventAPI{}, fmt.Errorf("event API %s: %w", id, ErrNotFound)
	}
	if e.Spec.FetchRequest == nil {
		return EventAPI{}, fieldErr("eventID", "event API %s has no fetchRequest to fetch again", id)
	}
	spec := s.fetch(ctx, e.Spec)
	var out EventAPI
	err := s.replaceEventAPI(ctx, a, id, func(cur *EventAPI) (EventAPI, error) {
		next := *cur
		next.Spec = spec
		out = next
		return next, nil
	})
	return out, err
}

// DropSolution removes every application of sol.
func (s *Store) DropSolution(ctx context.Context, sol string) error {
	for _, a := range s.List(sol) {
		if _, err := s.Unregister(ctx, sol, a.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	// Name claims whose applications went some other way.
	keys, err := s.kv.ListKeysFiltered(ctx, sol+".>")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("drop applications of %s: %w", sol, err)
	}
	for k := range keys.Keys() {
		if err := s.kv.Purge(ctx, k); err != nil {
			return fmt.Errorf("drop applications of %s: %w", sol, err)
		}
	}
	return nil
}
