package compass

import (
	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/compass/generated"
)

// Conversions between the store's types and the schema's.

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func value(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func toApplication(a application.Application) *generated.Application {
	return &generated.Application{ID: a.ID, Name: a.Name, Description: optional(a.Description), Labels: a.Labels, HealthCheckURL: optional(a.HealthCheckURL)}
}

func (sc *scope) toEventAPI(appID string, e application.EventAPI) *generated.EventAPIDefinition {
	out := &generated.EventAPIDefinition{ID: e.ID, ApplicationID: appID, Name: eventAPIName(e), Description: optional(e.Description),
		Group: optional(e.Group), Spec: sc.toSpec(e.ID, e.Spec), Auth: toAuth(e.Auth),
		ExternalSubscriptions: []*generated.EventAPISubscription{}}
	for _, s := range e.ExternalSubscriptions {
		out.ExternalSubscriptions = append(out.ExternalSubscriptions, &generated.EventAPISubscription{URL: s.URL, Auth: toAuth(s.Auth), Topic: s.Topic, Attributes: s.Attributes})
	}
	if v := e.Version; v != nil {
		out.Version = &generated.Version{Value: v.Value, Deprecated: &v.Deprecated, DeprecatedSince: optional(v.DeprecatedSince), ForRemoval: &v.ForRemoval}
	}
	return out
}

// eventAPIName is an event API's name as given, else made of its group and version (Compass's
// names were required; the seed's input has none), else its id.
func eventAPIName(e application.EventAPI) string {
	switch {
	case e.Name != "":
		return e.Name
	case e.Group != "" && e.Version != nil:
		return e.Group + "-" + e.Version.Value
	case e.Group != "":
		return e.Group
	}
	return e.ID
}

// toSpec converts a spec whose data is read only if the query asks for it.
func (sc *scope) toSpec(eventAPI string, s application.Spec) *generated.EventAPISpec {
	out := &generated.EventAPISpec{Type: generated.EventAPISpecType(s.Type)}
	if s.Format != "" {
		f := generated.SpecFormat(s.Format)
		out.Format = &f
	}
	if s.Data != "" {
		out.Data = &s.Data
	}
	if fr := s.FetchRequest; fr != nil {
		out.FetchRequest = &generated.FetchRequest{URL: fr.URL, Auth: toAuth(fr.Auth), Mode: generated.FetchMode(fr.Mode), Filter: optional(fr.Filter),
			Status: &generated.FetchRequestStatus{Condition: generated.FetchRequestStatusCondition(fr.Status.Condition), Timestamp: fr.Status.Timestamp, Message: optional(fr.Status.Message)}}
	}
	sc.remember(out, eventAPI)
	return out
}

func toAuth(a *application.Auth) *generated.Auth {
	if a == nil {
		return nil
	}
	out := &generated.Auth{AdditionalHeaders: a.AdditionalHeaders, AdditionalQueryParams: a.AdditionalQueryParams}
	switch {
	case a.Basic != nil:
		out.Credential = generated.BasicCredentialData{Username: a.Basic.Username, Password: a.Basic.Password}
	case a.OAuth != nil:
		out.Credential = generated.OAuthCredentialData{ClientID: a.OAuth.ClientID, ClientSecret: a.OAuth.ClientSecret, URL: a.OAuth.URL}
	}
	return out
}

func fromEventAPIInput(in *generated.EventAPIDefinitionInput) application.EventAPI {
	if in == nil {
		return application.EventAPI{}
	}
	out := application.EventAPI{Name: value(in.Name), Description: value(in.Description), Group: value(in.Group), Auth: fromAuth(in.Auth)}
	if in.Spec != nil {
		out.Spec = application.Spec{Data: value(in.Spec.Data), Type: string(in.Spec.EventSpecType)}
		if in.Spec.Format != nil {
			out.Spec.StatedFormat = string(*in.Spec.Format)
		}
		if fr := in.Spec.FetchRequest; fr != nil {
			mode := application.ModeSingle
			if fr.Mode != nil {
				mode = string(*fr.Mode)
			}
			out.Spec.FetchRequest = &application.FetchRequest{URL: fr.URL, Auth: fromAuth(fr.Auth), Mode: mode, Filter: value(fr.Filter)}
		}
	}
	for _, s := range in.ExternalSubscriptions {
		if s != nil {
			out.ExternalSubscriptions = append(out.ExternalSubscriptions, application.Subscription{URL: s.URL, Auth: fromAuth(s.Auth), Topic: s.Topic, Attributes: s.Attributes})
		}
	}
	if v := in.Version; v != nil {
		out.Version = &application.Version{Value: v.Value, Deprecated: v.Deprecated != nil && *v.Deprecated, DeprecatedSince: value(v.DeprecatedSince), ForRemoval: v.ForRemoval != nil && *v.ForRemoval}
	}
	return out
}

func fromAuth(a *generated.AuthInput) *application.Auth {
	if a == nil {
		return nil
	}
	out := &application.Auth{AdditionalHeaders: a.AdditionalHeaders, AdditionalQueryParams: a.AdditionalQueryParams}
	if c := a.Credential; c != nil {
		if c.Basic != nil {
			out.Basic = &application.Basic{Username: c.Basic.Username, Password: c.Basic.Password}
		}
		if c.Oauth != nil {
			out.OAuth = &application.OAuth{ClientID: c.Oauth.ClientID, ClientSecret: c.Oauth.ClientSecret, URL: c.Oauth.URL}
		}
	}
	return out
}
