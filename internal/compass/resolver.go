package compass

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/compass/generated"
)

type resolver struct{ opt Options }

func (r *resolver) Application() generated.ApplicationResolver   { return appResolver{r} }
func (r *resolver) EventAPISpec() generated.EventAPISpecResolver { return specResolver{r} }
func (r *resolver) Mutation() generated.MutationResolver         { return mutation{r} }
func (r *resolver) Query() generated.QueryResolver               { return query{r} }

type query struct{ *resolver }

func (q query) Applications(ctx context.Context, filter []*generated.LabelFilter, first *int, after *string) (*generated.ApplicationPage, error) {
	sc := scopeOf(ctx)
	var apps []application.Application
	for _, a := range q.opt.Store.List(sc.solution) {
		if matches(a.Labels, filter) {
			apps = append(apps, a)
		}
	}
	page, info, err := pageOf(apps, func(a application.Application) string { return a.ID }, first, after)
	if err != nil {
		return nil, err
	}
	out := &generated.ApplicationPage{Data: []*generated.Application{}, PageInfo: info, TotalCount: len(apps)}
	for _, a := range page {
		out.Data = append(out.Data, toApplication(a))
	}
	return out, nil
}

// matches is whether labels has every filter's key (with the value given as query, if any).
func matches(labels map[string]any, filter []*generated.LabelFilter) bool {
	for _, f := range filter {
		if f == nil {
			continue
		}
		v, ok := labels[f.Key]
		if !ok || (f.Query != nil && fmt.Sprint(v) != *f.Query) {
			return false
		}
	}
	return true
}

func (q query) Application(ctx context.Context, id string) (*generated.Application, error) {
	a, ok := q.opt.Store.Get(scopeOf(ctx).solution, id)
	if !ok {
		return nil, nil // Compass answers null for an application it does not know
	}
	return toApplication(a), nil
}

func (q query) EventAPI(ctx context.Context, id string) (*generated.EventAPIDefinition, error) {
	sc := scopeOf(ctx)
	a, e, ok := q.opt.Store.EventAPI(sc.solution, id)
	if !ok {
		return nil, nil
	}
	return sc.toEventAPI(a.ID, e), nil
}

type appResolver struct{ *resolver }

func (r appResolver) Labels(_ context.Context, obj *generated.Application, key *string) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range obj.Labels {
		if key == nil || *key == k {
			out[k] = v
		}
	}
	return out, nil
}

func (r appResolver) EventAPIs(ctx context.Context, obj *generated.Application, group *string, first *int, after *string) (*generated.EventAPIDefinitionPage, error) {
	sc := scopeOf(ctx)
	a, ok := r.opt.Store.Get(sc.solution, obj.ID)
	if !ok {
		return nil, fmt.Errorf("application %s: %w", obj.ID, application.ErrNotFound)
	}
	var apis []application.EventAPI
	for _, e := range a.EventAPIs {
		if group == nil || e.Group == *group {
			apis = append(apis, e)
		}
	}
	page, info, err := pageOf(apis, func(e application.EventAPI) string { return e.ID }, first, after)
	if err != nil {
		return nil, err
	}
	out := &generated.EventAPIDefinitionPage{Data: []*generated.EventAPIDefinition{}, PageInfo: info, TotalCount: len(apis)}
	for _, e := range page {
		out.Data = append(out.Data, sc.toEventAPI(a.ID, e))
	}
	return out, nil
}

func (r appResolver) EventAPI(ctx context.Context, obj *generated.Application, id string) (*generated.EventAPIDefinition, error) {
	sc := scopeOf(ctx)
	a, e, ok := r.opt.Store.EventAPI(sc.solution, id)
	if !ok || a.ID != obj.ID {
		return nil, nil
	}
	return sc.toEventAPI(a.ID, e), nil
}

type specResolver struct{ *resolver }

// Data reads a spec's document only when a query asks for it: views hold none.
func (r specResolver) Data(ctx context.Context, obj *generated.EventAPISpec) (*string, error) {
	if obj.Data != nil {
		return obj.Data, nil
	}
	sc := scopeOf(ctx)
	ref, ok := sc.specOf(obj)
	if !ok {
		return nil, nil
	}
	data, err := r.opt.Store.SpecData(ctx, sc.solution, ref.eventAPI)
	if err != nil {
		return nil, err
	}
	return optional(data), nil
}

type mutation struct{ *resolver }

func (m mutation) RegisterApplication(ctx context.Context, in generated.ApplicationInput) (*generated.Application, error) {
	sc := scopeOf(ctx)
	if sc.solution == "" {
		return nil, badInput(SolutionHeader, "required with the admin token: the solution the application belongs to (header %s)", SolutionHeader)
	}
	a := application.Application{Name: in.Name, Description: value(in.Description), Labels: in.Labels, HealthCheckURL: value(in.HealthCheckURL)}
	for _, e := range in.EventAPIs {
		a.EventAPIs = append(a.EventAPIs, fromEventAPIInput(e))
	}
	out, err := m.opt.Store.Register(ctx, sc.solution, a)
	if err != nil {
		return nil, err
	}
	m.opt.Logger.Info("application registered", "solution", out.Solution, "application", out.Name, "id", out.ID)
	return toApplication(out), nil
}

func (m mutation) UpdateApplication(ctx context.Context, id string, in generated.ApplicationUpdateInput) (*generated.Application, error) {
	out, err := m.opt.Store.Update(ctx, scopeOf(ctx).solution, id, application.Application{Name: in.Name, Description: value(in.Description), Labels: in.Labels, HealthCheckURL: value(in.HealthCheckURL)})
	if err != nil {
		return nil, err
	}
	return toApplication(out), nil
}

func (m mutation) UnregisterApplication(ctx context.Context, id string) (*generated.Application, error) {
	out, err := m.opt.Store.Unregister(ctx, scopeOf(ctx).solution, id)
	if err != nil {
		return nil, err
	}
	m.opt.Logger.Info("application unregistered", "solution", out.Solution, "application", out.Name, "id", out.ID)
	if m.opt.Unregistered != nil {
		if err := m.opt.Unregistered(ctx, out); err != nil {
			m.opt.Logger.Error("clean-up of an unregistered application failed", "solution", out.Solution, "application", out.Name, "err", err)
		}
	}
	return toApplication(out), nil
}

func (m mutation) AddEventAPI(ctx context.Context, applicationID string, in generated.EventAPIDefinitionInput) (*generated.EventAPIDefinition, error) {
	sc := scopeOf(ctx)
	e, err := m.opt.Store.AddEventAPI(ctx, sc.solution, applicationID, fromEventAPIInput(&in))
	if err != nil {
		return nil, err
	}
	return sc.toEventAPI(applicationID, e), nil
}

func (m mutation) UpdateEventAPI(ctx context.Context, id string, in generated.EventAPIDefinitionInput) (*generated.EventAPIDefinition, error) {
	sc := scopeOf(ctx)
	a, _, _ := m.opt.Store.EventAPI(sc.solution, id) // an event API stays with its application
	e, err := m.opt.Store.UpdateEventAPI(ctx, sc.solution, id, fromEventAPIInput(&in))
	if err != nil {
		return nil, err
	}
	return sc.toEventAPI(a.ID, e), nil
}

func (m mutation) DeleteEventAPI(ctx context.Context, id string) (*generated.EventAPIDefinition, error) {
	sc := scopeOf(ctx)
	a, _, _ := m.opt.Store.EventAPI(sc.solution, id)
	e, err := m.opt.Store.DeleteEventAPI(ctx, sc.solution, id)
	if err != nil {
		return nil, err
	}
	// Its spec's data is gone with it: show none rather than look for it.
	out := sc.toEventAPI(a.ID, e)
	if out.Spec.Data == nil {
		empty := ""
		out.Spec.Data = &empty
	}
	return out, nil
}

func (m mutation) RefetchEventAPISpec(ctx context.Context, eventID string) (*generated.EventAPISpec, error) {
	sc := scopeOf(ctx)
	e, err := m.opt.Store.Refetch(ctx, sc.solution, eventID)
	if err != nil {
		return nil, err
	}
	return sc.toSpec(e.ID, e.Spec), nil
}

func (m mutation) RequestClientCredentialsForApplication(ctx context.Context, id string) (*generated.SystemAuth, error) {
	sc := scopeOf(ctx)
	a, ok := m.opt.Store.Get(sc.solution, id)
	if !ok {
		return nil, fmt.Errorf("application %s: %w", id, application.ErrNotFound)
	}
	if m.opt.Issuer == nil {
		return nil, &codedError{code: CodeUnavailable, msg: "issuing client credentials is not enabled on this server"}
	}
	c, err := m.opt.Issuer.IssueClientCredentials(ctx, a.Solution, a.ID)
	if err != nil {
		if errors.Is(err, application.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("issue client credentials for %s: %w", a.Name, err)
	}
	return &generated.SystemAuth{ID: c.ID, Auth: &generated.Auth{Credential: generated.OAuthCredentialData{ClientID: c.ClientID, ClientSecret: c.ClientSecret, URL: c.TokenURL}}}, nil
}
