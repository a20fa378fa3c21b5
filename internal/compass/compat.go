package compass

import (
	"context"
	"fmt"

	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/compass/generated"
)

// What Compass's Application had besides event APIs: served so that its clients' queries
// run, empty where Switchboard keeps nothing of the kind.

// Status is READY when every event API's spec is in hand, FAILED when a fetch failed;
// its timestamp is the application's last change.
func (r appResolver) Status(ctx context.Context, obj *generated.Application) (*generated.ApplicationStatus, error) {
	a, err := r.app(ctx, obj)
	if err != nil {
		return nil, err
	}
	st := &generated.ApplicationStatus{Condition: generated.ApplicationStatusConditionReady, Timestamp: a.UpdatedAt}
	for _, e := range a.EventAPIs {
		if fr := e.Spec.FetchRequest; fr != nil && fr.Status.Condition == application.FetchFailed {
			st.Condition = generated.ApplicationStatusConditionFailed
		}
	}
	return st, nil
}

// Webhooks is always empty: Switchboard calls no application webhooks.
func (r appResolver) Webhooks(context.Context, *generated.Application) ([]*generated.ApplicationWebhook, error) {
	return []*generated.ApplicationWebhook{}, nil
}

// Apis is always empty: Switchboard serves event APIs only.
func (r appResolver) Apis(_ context.Context, _ *generated.Application, _ *string, first *int, after *string) (*generated.APIDefinitionPage, error) {
	_, info, err := pageOf([]string{}, func(s string) string { return s }, first, after)
	if err != nil {
		return nil, err
	}
	return &generated.APIDefinitionPage{Data: []*generated.APIDefinition{}, PageInfo: info}, nil
}

// Documents is always empty: Switchboard serves event APIs only.
func (r appResolver) Documents(_ context.Context, _ *generated.Application, first *int, after *string) (*generated.DocumentPage, error) {
	_, info, err := pageOf([]string{}, func(s string) string { return s }, first, after)
	if err != nil {
		return nil, err
	}
	return &generated.DocumentPage{Data: []*generated.Document{}, PageInfo: info}, nil
}

// Auths lists the client credentials issued to the application, their secrets empty: a
// secret is shown once, when it is issued.
func (r appResolver) Auths(ctx context.Context, obj *generated.Application) ([]*generated.SystemAuth, error) {
	a, err := r.app(ctx, obj)
	if err != nil {
		return nil, err
	}
	out := []*generated.SystemAuth{}
	if r.opt.Issuer == nil {
		return out, nil
	}
	for _, c := range r.opt.Issuer.ClientCredentialsOf(a.Solution, a.ID) {
		out = append(out, &generated.SystemAuth{ID: c.ID, Auth: &generated.Auth{Credential: generated.OAuthCredentialData{ClientID: c.ClientID, URL: c.TokenURL}}})
	}
	return out, nil
}

// app is the stored application obj shows.
func (r appResolver) app(ctx context.Context, obj *generated.Application) (application.Application, error) {
	a, ok := r.opt.Store.Get(scopeOf(ctx).solution, obj.ID)
	if !ok {
		return application.Application{}, fmt.Errorf("application %s: %w", obj.ID, application.ErrNotFound)
	}
	return a, nil
}
