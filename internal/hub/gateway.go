package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/asyncapi"
	"github.com/switchboardhq/switchboard/internal/gateway"
	"github.com/switchboardhq/switchboard/internal/oauth"
)

// labelUndeclared, an application label, true lets through events of types no spec of the
// application declares. (What is done with data not matching its schema is the solution's
// setting invalid_payload.)
const labelUndeclared = "allow_undeclared_events"

// gatewayRegistry is the event gateway's view of the registered applications: the types each
// declares are its event APIs' channels (topic {application}.{channel}), with the payload
// schemas of the messages the application sends there.
type gatewayRegistry struct {
	apps      *application.Store
	verifiers *gateway.OIDCVerifiers
	// marksInvalid says whether a solution takes, marked, events whose data does not match
	// their schema (its setting invalid_payload).
	marksInvalid func(solution string) bool
	log          *slog.Logger

	mu     sync.Mutex
	specs  map[string]*compiledSpec // by event API id
	trusts map[string]appTrust      // by application id
}

// appTrust is what an application's gateway authentication was made into, for the version
// of the application it was made of.
type appTrust struct {
	updated time.Time
	oidc    *gateway.OIDCTrust
	cert    *oauth.CertIdentity
}

// compiledSpec is what an event API's spec declares, compiled once per version of the
// application.
type compiledSpec struct {
	updated time.Time
	// validators of each channel's topic below the application's, from the messages the
	// application sends on it; a channel with none declares no schema.
	validators map[string][]*asyncapi.Validator
}

func newGatewayRegistry(apps *application.Store, verifiers *gateway.OIDCVerifiers, marksInvalid func(solution string) bool, log *slog.Logger) *gatewayRegistry {
	return &gatewayRegistry{apps: apps, verifiers: verifiers, marksInvalid: marksInvalid, log: log, specs: map[string]*compiledSpec{}, trusts: map[string]appTrust{}}
}

// Application implements gateway.Registry.
func (r *gatewayRegistry) Application(sol, name string) (gateway.Application, bool) {
	app, found := r.apps.ByName(sol, name)
	if !found {
		return gateway.Application{}, false
	}
	undeclared, _ := app.Labels[labelUndeclared].(bool)
	trust := r.trust(app)
	return gateway.Application{
		Solution: app.Solution, ID: app.ID, Name: app.Name,
		AllowUndeclared: undeclared, MarkInvalid: r.marksInvalid(app.Solution),
		Resolve:      func(typ, version string) (gateway.Target, bool) { return r.resolve(app, typ, version) },
		OwnTokensOff: !app.GatewayAuthOf().ClientCredentials,
		OIDC:         trust.oidc, Cert: trust.cert,
	}, true
}

// trust is app's gateway authentication for the gateway, its CA parsed once per version of
// the application. When the outside issuer it trusted changed, that issuer's verifier is
// dropped: the next token of it is checked with keys discovered again.
func (r *gatewayRegistry) trust(app application.Application) appTrust {
	r.mu.Lock()
	t, ok := r.trusts[app.ID]
	r.mu.Unlock()
	if ok && t.updated.Equal(app.UpdatedAt) {
		return t
	}
	ga := app.GatewayAuthOf()
	next := appTrust{updated: app.UpdatedAt}
	if o := ga.OIDC; o != nil {
		next.oidc = &gateway.OIDCTrust{Issuer: o.Issuer, Audience: o.Audience, ClientClaim: o.ClientClaim, Client: o.Client}
	}
	if m := ga.MTLS; m != nil {
		// Checked when set; a CA that no longer parses takes no certificate.
		if pool, err := application.ParseCAs(m.CAPEM); err != nil {
			r.log.Error("application CA not read; its client certificates are refused", "solution", app.Solution, "application", app.Name, "err", err)
		} else {
			next.cert = &oauth.CertIdentity{Roots: pool, CommonName: m.CommonName, DNSName: m.DNSName, URI: m.URI}
		}
	}
	if ok && t.oidc != nil && (next.oidc == nil || *t.oidc != *next.oidc) {
		r.verifiers.Forget(*t.oidc)
	}
	r.mu.Lock()
	r.trusts[app.ID] = next
	r.mu.Unlock()
	return next
}

// resolve finds the channel an event of type typ and version declares: one named
// {type}.{version} (order/created/v1), or {type} in an event API of that version; without a
// version, {type} in any event API, whose version the event then carries.
func (r *gatewayRegistry) resolve(app application.Application, typ, version string) (gateway.Target, bool) {
	base := strings.ToLower(strings.ReplaceAll(typ, "/", "."))
	for _, e := range app.EventAPIs {
		apiVersion := ""
		if e.Version != nil {
			apiVersion = e.Version.Value
		}
		var candidates []string
		switch {
		case version == "":
			candidates = []string{base}
		case strings.EqualFold(apiVersion, version):
			candidates = []string{base + "." + strings.ToLower(version), base}
		default:
			candidates = []string{base + "." + strings.ToLower(version)}
		}
		for _, rel := range candidates {
			if !contains(e.Spec.Topics, rel) {
				continue
			}
			t := gateway.Target{Topic: app.Name + "." + rel, Version: version, Deprecated: e.Version != nil && e.Version.Deprecated}
			if t.Version == "" {
				t.Version = apiVersion
			}
			if vs := r.validators(app, e, rel); len(vs) > 0 {
				t.Validate = func(data []byte) error { return anyValid(vs, data) }
			}
			return t, true
		}
	}
	return gateway.Target{}, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// anyValid accepts data that one of the messages' schemas accepts (a channel may carry
// several messages).
func anyValid(vs []*asyncapi.Validator, data []byte) error {
	var first error
	for _, v := range vs {
		err := v.Validate(jsonOrNull(data))
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// jsonOrNull is data as JSON text for a validator; no data is JSON null.
func jsonOrNull(data []byte) any {
	if len(data) == 0 {
		return nil
	}
	return json.RawMessage(data)
}

// validators are the payload validators of channel rel of event API e, compiled from its spec
// when the application changed since; nil when the spec cannot be read now (logged: events
// are then not checked rather than refused).
func (r *gatewayRegistry) validators(app application.Application, e application.EventAPI, rel string) []*asyncapi.Validator {
	r.mu.Lock()
	c, ok := r.specs[e.ID]
	r.mu.Unlock()
	if !ok || !c.updated.Equal(app.UpdatedAt) {
		var err error
		if c, err = r.compile(app, e); err != nil {
			r.log.Error("event API spec not compiled; its events are not checked against it", "solution", app.Solution, "application", app.Name, "event_api", e.ID, "err", err)
			return nil
		}
		r.mu.Lock()
		r.specs[e.ID] = c
		r.mu.Unlock()
	}
	return c.validators[rel]
}

func (r *gatewayRegistry) compile(app application.Application, e application.EventAPI) (*compiledSpec, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	data, err := r.apps.SpecData(ctx, app.Solution, e.ID)
	if err != nil {
		return nil, err
	}
	if data == "" {
		return nil, errors.New("the event API has no spec document")
	}
	spec, err := asyncapi.Parse([]byte(data))
	if err != nil {
		return nil, err
	}
	c := &compiledSpec{updated: app.UpdatedAt, validators: map[string][]*asyncapi.Validator{}}
	for _, ch := range spec.Channels {
		topic, err := asyncapi.Topic(topicBase, ch.Name)
		if err != nil {
			return nil, err
		}
		rel := strings.TrimPrefix(topic, topicBase+".")
		for _, m := range ch.Messages {
			if !m.SentByApplication() {
				continue
			}
			v, err := asyncapi.CompilePayload(m)
			if err != nil {
				return nil, fmt.Errorf("channel %s: %w", ch.Name, err)
			}
			if v.Skipped() == "" {
				c.validators[rel] = append(c.validators[rel], v)
			}
		}
	}
	return c, nil
}

// forget drops what was compiled for the event APIs of an application gone.
func (r *gatewayRegistry) forget(a application.Application) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range a.EventAPIs {
		delete(r.specs, e.ID)
	}
	if t, ok := r.trusts[a.ID]; ok && t.oidc != nil {
		r.verifiers.Forget(*t.oidc)
	}
	delete(r.trusts, a.ID)
}
