// Package compass serves the Compass-style GraphQL management API of applications and their
// event APIs (schema.graphqls; the executable schema is generated into ./generated).
package compass

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/compass/generated"
)

// SolutionHeader names the solution an admin's request acts in. A solution's token acts in
// its own solution; the header, if it sends one, must name that solution.
const SolutionHeader = "X-Switchboard-Solution"

// Bounds of one request's query.
const (
	MaxDepth      = 15
	MaxComplexity = 1000
)

// Caller is who sends a request, as the API authenticated them.
type Caller struct {
	Admin    bool
	Solution string
}

type callerKey struct{}

// WithCaller is ctx carrying the authenticated caller; the API sets it before ServeHTTP.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// ClientCredentials are OAuth2 client credentials issued for an application.
type ClientCredentials struct {
	// ID identifies the credentials (SystemAuth.id).
	ID           string
	ClientID     string
	ClientSecret string
	// TokenURL is where they are exchanged for a token.
	TokenURL string
}

// CredentialIssuer issues OAuth2 client credentials to an application of a solution, to
// publish to the event gateway; internal/oauth provides one.
type CredentialIssuer interface {
	IssueClientCredentials(ctx context.Context, solution, applicationID string) (ClientCredentials, error)
	// ClientCredentialsOf lists those issued to an application, oldest first, without
	// their secrets.
	ClientCredentialsOf(solution, applicationID string) []ClientCredentials
}

// Options configure the GraphQL API.
type Options struct {
	Store *application.Store
	// SolutionExists says whether a solution named by an admin's SolutionHeader exists.
	SolutionExists func(id string) bool
	// Issuer issues client credentials; nil refuses requestClientCredentialsForApplication.
	Issuer CredentialIssuer
	// Unregistered, when set, is told of each application unregistered, once it is gone
	// (its credentials are revoked there); an error is logged.
	Unregistered func(ctx context.Context, a application.Application) error
	Logger       *slog.Logger
	// Endpoint is where the GraphiQL page sends queries.
	Endpoint string
}

// Handler serves GraphQL over HTTP (POST) for callers the API has authenticated.
type Handler struct {
	opt Options
	srv *handler.Server
}

// New returns the GraphQL handler.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Endpoint == "" {
		o.Endpoint = "/api/v1/graphql"
	}
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &resolver{opt: o}}))
	// POST only: GET queries could be sent by a link, and a JSON array (a batch) is refused.
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](256))
	srv.Use(extension.Introspection{})
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	srv.Use(depthLimit{max: MaxDepth})
	srv.SetErrorPresenter(presenter(o.Logger))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		o.Logger.Error("graphql resolver panicked", "panic", v)
		return errInternal
	})
	return &Handler{opt: o, srv: srv}
}

// Page is the GraphiQL page (it loads GraphiQL from a CDN in the browser).
func Page(endpoint string) http.Handler {
	page := playground.Handler("Switchboard applications", endpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Tokens are typed into it: no other site may frame it to watch them being typed.
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		page.ServeHTTP(w, r)
	})
}

// ServeHTTP answers a GraphQL request of the caller in r's context.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := r.Context().Value(callerKey{}).(Caller)
	if !ok {
		WriteError(w, http.StatusUnauthorized, CodeUnauthenticated, "", "missing Authorization header; want Authorization: Bearer <token>")
		return
	}
	sc := scope{caller: c, solution: c.Solution}
	if want := r.Header.Get(SolutionHeader); want != "" {
		switch {
		case !c.Admin && want != c.Solution:
			WriteError(w, http.StatusForbidden, CodeForbidden, SolutionHeader, SolutionHeader+": this token belongs to another solution")
			return
		case c.Admin && (h.opt.SolutionExists == nil || !h.opt.SolutionExists(want)):
			WriteError(w, http.StatusNotFound, CodeNotFound, SolutionHeader, SolutionHeader+": no solution "+quote(want))
			return
		}
		sc.solution = want
	}
	ctx := context.WithValue(r.Context(), scopeKey{}, &sc)
	h.srv.ServeHTTP(w, r.WithContext(ctx))
}

// WriteError answers a request refused before GraphQL runs, in GraphQL's error shape; field,
// if any, names the part of the request at fault (extensions.field).
func WriteError(w http.ResponseWriter, status int, code, field, msg string) {
	ext := map[string]any{"code": code}
	if field != "" {
		ext["field"] = field
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": ext}}}) //nolint:errcheck // client gone
}

// scope is what a request may see: one solution's applications, or every one (an admin
// naming none).
type scope struct {
	caller   Caller
	solution string // "" = every solution

	mu    sync.Mutex
	specs map[*generated.EventAPISpec]specRef
}

// specRef says whose spec a converted EventAPISpec is, for loading its data when asked.
type specRef struct{ eventAPI string }

type scopeKey struct{}

func scopeOf(ctx context.Context) *scope {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	if sc == nil {
		return &scope{solution: "\x00"} // sees nothing
	}
	return sc
}

func (sc *scope) remember(spec *generated.EventAPISpec, eventAPI string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.specs == nil {
		sc.specs = map[*generated.EventAPISpec]specRef{}
	}
	sc.specs[spec] = specRef{eventAPI: eventAPI}
}

func (sc *scope) specOf(spec *generated.EventAPISpec) (specRef, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	r, ok := sc.specs[spec]
	return r, ok
}
