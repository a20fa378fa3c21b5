// Package gateway is the event gateway of registered applications (Kyma's publisher paths):
// an application publishes its events over HTTP, as CloudEvents at
// POST /gateway/{application}/publish or as Kyma's legacy JSON at
// POST /gateway/{application}/v1/events, and each event of a type its specs declare is stored
// for the handlers of its topic in the application's solution.
//
// What an application declares (its registry), who a request comes from (its authenticator)
// and where events are stored are given to the gateway as interfaces: the gateway checks,
// converts and answers, nothing more.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/oauth"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Target is where events of one declared type go.
type Target struct {
	// Topic is the topic in the application's solution.
	Topic string
	// Version is the declared version of the type; events carry it.
	Version string
	// Deprecated versions still receive events; their events say so.
	Deprecated bool
	// Validate checks an event's data (JSON) against the type's payload schema; nil when
	// the spec gives none.
	Validate func(data []byte) error
}

// Application is a registered application, as the gateway needs it.
type Application struct {
	// ID is the application's lasting id: credentials are for it, so an application
	// registered again under the same name does not inherit the old one's.
	Solution, ID, Name string
	// AllowUndeclared lets through events of types no spec declares, to the topic
	// UndeclaredTopic makes.
	AllowUndeclared bool
	// MarkInvalid accepts an event whose data does not match its payload schema, marked
	// with the extension payloadvalid=false, instead of refusing it.
	MarkInvalid bool
	// Resolve finds the declared type of an event (its type and version as sent).
	Resolve func(eventType, version string) (Target, bool)
	// OwnTokensOff refuses Switchboard's own access tokens for the application.
	OwnTokensOff bool
	// OIDC, when set, accepts the tokens of an outside issuer for one of its clients.
	OIDC *OIDCTrust
	// Cert, when set, accepts TLS client certificates issued under the application's CA.
	Cert *oauth.CertIdentity
}

// OIDCTrust is the outside issuer an application trusts: its tokens for Audience whose
// ClientClaim is Client are the application's.
type OIDCTrust struct {
	Issuer, Audience, ClientClaim, Client string
}

// Registry finds applications.
type Registry interface {
	// Application is the application of this name in a solution.
	Application(solution, name string) (Application, bool)
}

// Caller is whom a request's credentials are for: a solution and the id of one of its
// applications.
type Caller struct {
	Solution, Application string
}

// Authenticator tells who sent a request; a failure is an *AuthError.
type Authenticator interface {
	Authenticate(r *http.Request) (Caller, error)
}

// AuthError is a request whose credentials do not let it publish.
type AuthError struct {
	// Status is 401 (no or bad credentials) or 403 (good ones, for something else).
	Status int
	// Reason says why, without telling secrets: "token expired", "wrong audience", …
	Reason string
	// Challenge is the WWW-Authenticate value of a 401; "" is a plain Bearer challenge.
	Challenge string
}

func (e *AuthError) Error() string { return e.Reason }

// Publisher stores events for their handlers; *events.Dispatcher is one.
type Publisher interface {
	Enqueue(ctx context.Context, e events.Event) error
}

// Options configure the gateway.
type Options struct {
	Registry Registry
	// Auth checks Switchboard's own tokens: bearer tokens whose iss is Issuer ("" sends
	// every bearer token to it).
	Auth   Authenticator
	Issuer string
	// Outside finds the verifier of an outside issuer an application trusts; nil accepts
	// no outside tokens.
	Outside OutsideIssuers
	// Now is the clock of client certificate checks; nil is time.Now.
	Now   func() time.Time
	Store Publisher
	// MaxBody bounds a request's body; 0 is DefaultMaxBody.
	MaxBody int64
	// Gate bounds the bodies held at once, per solution and in all, as for every other
	// caller of the hub; Pace how slowly one may arrive. A nil Gate bounds nothing more.
	Gate    *admission.Gate
	Pace    admission.Pace
	Metrics *Metrics // may be nil
	Logger  *slog.Logger
	// SolutionLog, when set, writes into a solution's own log (solutionlog.Log.Writer): an
	// event nobody subscribes to is said there, at most once a minute for a topic, so that
	// the solution's developers see where its events go.
	SolutionLog func(solution string) func(level slog.Level, msg string, fields map[string]any)
}

// DefaultMaxBody bounds an event's request body when Options.MaxBody is 0.
const DefaultMaxBody = 1 << 20

// Gateway serves the publisher paths.
type Gateway struct {
	o      Options
	unread *everyMinute // topics told to have no handler
}

// New returns the gateway.
func New(o Options) *Gateway {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Gateway{o: o, unread: newEveryMinute(maxNoticed)}
}

// Routes lists the patterns Register serves.
var Routes = []string{
	"POST /gateway/{application}/publish",
	"POST /gateway/{application}/v1/events",
}

// Register adds the gateway's routes to mux.
func (g *Gateway) Register(mux interface {
	Handle(pattern string, h http.Handler)
}) {
	mux.Handle(Routes[0], http.HandlerFunc(g.publish))
	mux.Handle(Routes[1], http.HandlerFunc(g.legacy))
}

// incoming is an event as a request gave it, before it is checked against its application.
type incoming struct {
	events.Event
	eventType, version string
	data               []byte // JSON, nil without data
}

// refusal is why an event is not taken: an HTTP status, the field at fault, a reason for
// the metrics and a message for the sender.
type refusal struct {
	status        int
	field, reason string
	message       string
	challenge     string // WWW-Authenticate of a 401
	retryAfter    string // Retry-After of a 503, in seconds
}

func (r *refusal) Error() string { return r.message }

func refuse(status int, field, reason, format string, args ...any) *refusal {
	return &refusal{status: status, field: field, reason: reason, message: fmt.Sprintf(format, args...)}
}

// applicationOf is the application name of caller's solution, when the caller's credentials
// are for it.
func (g *Gateway) applicationOf(caller Caller, name string) (Application, *refusal) {
	app, ok := g.o.Registry.Application(caller.Solution, name)
	if !ok {
		g.countRefused("unknown_application")
		return Application{}, refuse(http.StatusNotFound, "application", "unknown_application", "no application %q", name)
	}
	// Credentials are for one application (by id: one registered again under the name is
	// another).
	if app.ID != caller.Application {
		g.countRefused("forbidden")
		return Application{}, refuse(http.StatusForbidden, "application", "forbidden", "these credentials are not for application %q", name)
	}
	return app, nil
}

// deliver checks in against app's declarations and stores it; it answers the event stored.
func (g *Gateway) deliver(ctx context.Context, app Application, in incoming) (events.Event, *refusal) {
	t, declared := app.Resolve(in.eventType, in.version)
	label := in.eventType
	if !declared {
		label = undeclared
	}
	e, outcome, rf := g.store(ctx, app, in, t, declared)
	if rf != nil {
		outcome = rf.reason
	}
	g.count(app, label, outcome)
	return e, rf
}

// store makes the event of in, going to t (when declared), and stores it; outcome is
// accepted, or no_handler when nothing subscribes to its topic yet.
func (g *Gateway) store(ctx context.Context, app Application, in incoming, t Target, declared bool) (e events.Event, outcome string, rf *refusal) {
	if !declared {
		if !app.AllowUndeclared {
			return e, "", refuse(http.StatusBadRequest, "type", "undeclared_type",
				"event type %q version %q is not declared by the event APIs of application %q", in.eventType, in.version, app.Name)
		}
		topic, err := UndeclaredTopic(app.Name, in.eventType, in.version)
		if err != nil {
			return e, "", refuse(http.StatusBadRequest, "type", "bad_type", "event type %q: %v", in.eventType, err)
		}
		t = Target{Topic: topic, Version: in.version}
	}
	e = in.Event
	e.Solution, e.Topic = app.Solution, t.Topic
	e.Source = "/applications/" + app.Name
	ext := map[string]string{}
	for k, v := range e.Extensions {
		ext[k] = v
	}
	if t.Version != "" {
		ext[ExtEventTypeVersion] = t.Version
	}
	if t.Deprecated {
		ext[ExtDeprecated] = "true"
	}
	if t.Validate != nil {
		if err := t.Validate(in.data); err != nil {
			if !app.MarkInvalid {
				return events.Event{}, "", refuse(http.StatusBadRequest, "data", "invalid_payload", "data does not match the payload schema of %q: %v", in.eventType, err)
			}
			ext[ExtPayloadValid] = "false"
		}
	}
	e.Extensions = nil
	if len(ext) > 0 {
		e.Extensions = ext
	}
	if e.ID == "" {
		e.ID = events.NewID()
	}
	err := g.o.Store.Enqueue(ctx, e)
	var fe *solution.FieldError
	switch {
	case err == nil:
		return e, "accepted", nil
	case errors.Is(err, events.ErrNoHandler):
		// Declared, but nothing subscribes to it yet: taken, as Kyma's gateway takes an event
		// nobody subscribed to, and counted.
		g.o.Logger.Debug("gateway event has no handler", "solution", e.Solution, "application", app.Name, "topic", e.Topic, "id", e.ID)
		g.noticeUnread(app, e)
		return e, "no_handler", nil
	case errors.As(err, &fe):
		return events.Event{}, "", refuse(http.StatusBadRequest, fe.Field, "invalid", "%v", err)
	}
	g.o.Logger.Error("gateway event not stored", "solution", e.Solution, "application", app.Name, "id", e.ID, "err", err)
	return events.Event{}, "", refuse(http.StatusServiceUnavailable, "", "store_failed", "the event could not be stored; send it again (the same id is stored once)")
}

// Extensions the gateway sets on the events it stores.
const (
	// ExtEventTypeVersion is the declared version of the event's type (Kyma's name).
	ExtEventTypeVersion = "eventtypeversion"
	// ExtDeprecated is "true" on events of a deprecated version.
	ExtDeprecated = "deprecated"
	// ExtPayloadValid is "false" on events accepted although their data did not match the
	// payload schema.
	ExtPayloadValid = "payloadvalid"
)

// UndeclaredTopic is the topic of an event type no spec declares, when its application lets
// such events through: {application}.{type}[.{version}], the type's separators ('/', ':')
// made dots and its letters lower-case.
func UndeclaredTopic(application, eventType, version string) (string, error) {
	repl := strings.NewReplacer("/", ".", ":", ".")
	topic := strings.ToLower(application + "." + repl.Replace(eventType))
	if version != "" {
		topic += "." + strings.ToLower(version)
	}
	if err := events.ValidateTopic(topic); err != nil {
		return "", err
	}
	return topic, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
