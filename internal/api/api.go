// Package api serves the management API under /api/v1: solutions and their endpoints, with
// bearer-token authentication (the admin token, or a solution's own token for that solution).
package api

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/compass"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/metrics"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
)

//go:embed openapi.json
var openapiDoc []byte

// OpenAPI is the API's OpenAPI 3 document.
func OpenAPI() []byte { return openapiDoc }

// Dropper removes what a part keeps for a solution when the solution is deleted.
type Dropper interface {
	Drop(ctx context.Context, solution string) error
}

// Options configure the API.
type Options struct {
	Store      *solution.Store
	AdminToken string
	// Droppers are asked to remove a deleted solution's state, in order, once the solution has
	// ended for everyone and before its record goes.
	Droppers []Dropper
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	MaxBody  int64
	// Gate bounds the requests of outside callers that run scripts or hold bodies for a
	// solution (trigger, call); nil bounds nothing.
	Gate *admission.Gate
	// BodyPace bounds how long the body of a trigger or call may take to arrive, so a slow
	// sender cannot keep what it reserved; zero = no bound.
	BodyPace admission.Pace

	// Core lists the core services; Catalog the dynamic ones and what solutions added.
	Core    *service.Registry
	Catalog *catalog.Catalog
	// Services runs calls and lifecycle hooks.
	Services Services
	// RegistrationToken lets dynamic services register.
	RegistrationToken string
	// Handlers and Events serve handlers and triggered events.
	Handlers *events.Store
	Events   Events
	// DeadLetters serves the solutions' dead letters; nil serves no such routes.
	DeadLetters DeadLetters
	// Keystore is the Keystore service, served to a solution's owner under
	// /solutions/{solution}/keystore; nil serves no such routes.
	Keystore service.Caller
	// Runs runs scripts once (POST /api/v1/solutions/{s}/run); nil serves no such route.
	Runs Runner
	// Logs serves the solutions' logs; nil serves none. LogsHeartbeat is how often a quiet
	// follow sends a comment line (DefaultLogsHeartbeat when 0).
	Logs          *solutionlog.Log
	LogsHeartbeat time.Duration
	// History serves the solutions' metrics of the last hour; nil serves no such route.
	History History
	// Tails follows a solution's events live (GET …/events?follow=1); nil serves no such
	// route. Its quiet streams send a comment line every LogsHeartbeat too.
	Tails EventTails
	// Connectors serves the connector types and solutions' connectors; nil serves no such
	// routes.
	Connectors Connectors
	// Automations publishes Kaa automation invocations; nil serves no such route.
	Automations Automations
	// Hosted keeps the solutions' hosted services; nil serves no such routes.
	Hosted *hosted.Store
	// NodeLink says where a signed-in node's agent connects (the hub's leaf listener's URL,
	// "" without one), the user it logs in as, and its JetStream domain.
	NodeLink func(solution, node string) (leafURL, user, domain string)
	// GraphQL serves the applications' GraphQL API (compass.Handler) at /api/v1/graphql,
	// with its GraphiQL page on GET; nil serves no such route.
	GraphQL http.Handler
}

// EventTails follows the events stored for solutions; *events.Dispatcher is one.
type EventTails interface {
	TakeTail(solution string) (release func(), err error)
	Tail(ctx context.Context, solution, pattern string, heartbeat time.Duration, ready func() error, send func(events.Event) error, idle func() error) error
}

// Server is the management API.
type Server struct {
	opt Options
	mux *http.ServeMux
	// added serializes adding, updating and removing one service of one solution.
	added keyLocks
	// connectorLocks serializes creating, replacing, pausing and deleting one connector.
	connectorLocks keyLocks
	// routes are the patterns registered on mux, in order (for the OpenAPI coverage test); only
	// Handle adds to mux, so every route served is listed.
	routes []string
}

// New returns the API handler; mount it at /api/v1/.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opt: o, mux: http.NewServeMux()}
	s.handle("GET /api/v1/openapi.json", s.openapi)
	s.handle("GET /api/v1/whoami", s.authed(s.whoami))
	s.handle("POST /api/v1/solutions", s.admin(s.createSolution))
	s.handle("GET /api/v1/solutions", s.authed(s.listSolutions))
	s.handle("GET /api/v1/solutions/{solution}", s.owner(s.getSolution))
	s.handle("PATCH /api/v1/solutions/{solution}", s.admin(s.updateSolution))
	s.handle("DELETE /api/v1/solutions/{solution}", s.admin(s.deleteSolution))
	s.handle("POST /api/v1/solutions/{solution}/token", s.owner(s.newSolutionToken))
	s.handle("POST /api/v1/solutions/{solution}/endpoints", s.owner(s.deployEndpoint))
	s.handle("POST /api/v1/solutions/{solution}/check/endpoint", s.owner(s.checkEndpointDeploy))
	s.handle("GET /api/v1/solutions/{solution}/endpoints", s.owner(s.listEndpoints))
	s.handle("GET /api/v1/solutions/{solution}/endpoints/{method}/{path...}", s.owner(s.getEndpoint))
	s.handle("DELETE /api/v1/solutions/{solution}/endpoints/{method}/{path...}", s.owner(s.deleteEndpoint))
	if o.Runs != nil {
		s.handle("POST /api/v1/solutions/{solution}/run", s.owner(s.runScript))
	}
	if o.Catalog != nil {
		s.handle("POST /api/v1/register", s.register)
		s.handle("POST /api/v1/register/", s.register)
		s.handle("GET /api/v1/services", s.authed(s.listServices))
		s.handle("GET /api/v1/services/{name}", s.authed(s.getService))
		s.handle("DELETE /api/v1/services/{name}", s.admin(s.deleteService))
		s.handle("POST /api/v1/solutions/{solution}/services", s.owner(s.addService))
		s.handle("GET /api/v1/solutions/{solution}/services", s.owner(s.listSolutionServices))
		s.handle("GET /api/v1/solutions/{solution}/services/{service}", s.owner(s.getSolutionService))
		s.handle("PUT /api/v1/solutions/{solution}/services/{service}", s.owner(s.updateService))
		s.handle("DELETE /api/v1/solutions/{solution}/services/{service}", s.owner(s.removeService))
		s.handle("POST /api/v1/call/{solution}/{service}/{operation}", s.callFor)
	}
	if o.Logs != nil {
		s.handle("GET /api/v1/solutions/{solution}/logs", s.owner(s.solutionLogs))
	}
	if o.History != nil {
		s.handle("GET /api/v1/solutions/{solution}/metrics", s.owner(s.solutionMetrics))
	}
	if o.Handlers != nil {
		s.handle("POST /api/v1/solutions/{solution}/handlers", s.owner(s.deployHandler))
		s.handle("POST /api/v1/solutions/{solution}/check/handler", s.owner(s.checkHandlerDeploy))
		s.handle("GET /api/v1/solutions/{solution}/handlers", s.owner(s.listHandlers))
		s.handle("GET /api/v1/solutions/{solution}/handlers/{name}", s.owner(s.getHandler))
		s.handle("DELETE /api/v1/solutions/{solution}/handlers/{name}", s.owner(s.deleteHandler))
		s.handle("POST /api/v1/trigger/{solution}/{service}/{event}", s.trigger)
		s.handle("POST /api/v1/solutions/{solution}/events", s.owner(s.publishEvent))
		s.handle("GET /api/v1/solutions/{solution}/events/{id}", s.owner(s.eventReport))
		if o.Tails != nil {
			s.handle("GET /api/v1/solutions/{solution}/events", s.owner(s.tailEvents))
		}
	}
	if o.DeadLetters != nil {
		s.handleDeadLetters()
	}
	if o.Connectors != nil {
		s.handleConnectors()
	}
	if o.Automations != nil {
		s.handle("POST /api/v1/solutions/{solution}/automations/{type}", s.owner(s.invokeAutomation))
	}
	if o.Hosted != nil {
		s.handleHosted()
		s.handleFlows()
	}
	if o.GraphQL != nil {
		s.handle("POST /api/v1/graphql", s.graphql)
		s.Handle("GET /api/v1/graphql", compass.Page("/api/v1/graphql"))
	}
	if o.Keystore != nil {
		s.handle("GET /api/v1/solutions/{solution}/keystore/info", s.owner(s.keystoreInfo))
		s.handle("GET /api/v1/solutions/{solution}/keystore/keys", s.owner(s.keystoreList))
		s.handle("GET /api/v1/solutions/{solution}/keystore/keys/{key}", s.owner(s.keystoreGet))
		s.handle("PUT /api/v1/solutions/{solution}/keystore/keys/{key}", s.owner(s.keystorePut))
		s.handle("DELETE /api/v1/solutions/{solution}/keystore/keys/{key}", s.owner(s.keystoreDelete))
	}
	return s
}

// Handle adds a route to the API (later parts mount theirs here).
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.routes = append(s.routes, pattern)
}

func (s *Server) handle(pattern string, h http.HandlerFunc) { s.Handle(pattern, h) }

// Routes lists the patterns ("POST /api/v1/solutions") of every route the API serves; each
// must be in the OpenAPI document.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// ServeHTTP answers every /api/v1 request; unknown routes and methods get JSON errors too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		if s.opt.Metrics != nil {
			s.opt.Metrics.APIRequests.WithLabelValues(r.Method, strconv.Itoa(rec.code)).Inc()
		}
	}()
	if _, pattern := s.mux.Handler(r); pattern == "" {
		// The mux would answer 404 or 405 in plain text; find out which, answer in JSON.
		probe := &headerProbe{header: http.Header{}}
		s.mux.ServeHTTP(probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			rec.Header().Set("Allow", probe.header.Get("Allow"))
			writeErr(rec, errorf(http.StatusMethodNotAllowed, "", "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, probe.header.Get("Allow")))
			return
		}
		writeErr(rec, errorf(http.StatusNotFound, "", "no API route %s %s; see /api/v1/openapi.json", r.Method, r.URL.Path))
		return
	}
	s.mux.ServeHTTP(rec, r)
}

type principal struct {
	admin    bool
	solution string
}

func (s *Server) authenticate(r *http.Request) (principal, *Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, errorf(http.StatusUnauthorized, "", "missing Authorization header; want Authorization: Bearer <token>")
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return principal{}, errorf(http.StatusUnauthorized, "", "Authorization header must be Bearer <token>")
	}
	if s.opt.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.opt.AdminToken)) == 1 {
		return principal{admin: true}, nil
	}
	if id, ok := s.opt.Store.ByToken(token); ok {
		return principal{solution: id}, nil
	}
	return principal{}, errorf(http.StatusUnauthorized, "", "unknown token")
}

func (s *Server) authed(next func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		next(w, r, p)
	}
}

func (s *Server) admin(next func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p principal) {
		if !p.admin {
			writeErr(w, errorf(http.StatusForbidden, "", "this needs the admin token; a solution token may only manage its own solution's contents"))
			return
		}
		next(w, r, p)
	})
}

// owner lets the admin, or the token of the solution named in the path, through.
func (s *Server) owner(next func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p principal) {
		sol := r.PathValue("solution")
		if !p.admin && p.solution != sol {
			writeErr(w, errorf(http.StatusForbidden, "solution", "this token belongs to another solution"))
			return
		}
		if err := solution.ValidateID(sol); err != nil {
			writeErr(w, errorf(http.StatusBadRequest, "solution", "solution id %q: %v", sol, err.(*solution.FieldError).Reason))
			return
		}
		if _, ok := s.opt.Store.Get(sol); !ok {
			writeErr(w, errorf(http.StatusNotFound, "solution", "no solution %q", sol))
			return
		}
		next(w, r, p)
	})
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiDoc) //nolint:errcheck // client gone
}

// solutionView is a solution as the API shows it: never its token hash.
type solutionView struct {
	ID        string          `json:"id"`
	CreatedAt time.Time       `json:"created_at"`
	Limits    solution.Limits `json:"limits"`
	Debug     bool            `json:"debug"`
	// InvalidPayload is the event gateway's choice for data not matching its schema.
	InvalidPayload string `json:"invalid_payload"`
	Token          string `json:"token,omitempty"`
}

func view(sol solution.Solution) solutionView {
	v := solutionView{ID: sol.ID, CreatedAt: sol.CreatedAt, Limits: sol.Limits, Debug: sol.Debug, InvalidPayload: solution.PayloadReject}
	if sol.MarksInvalidPayload() {
		v.InvalidPayload = solution.PayloadMark
	}
	return v
}

type list[T any] struct {
	Items []T `json:"items"`
}

func (s *Server) createSolution(w http.ResponseWriter, r *http.Request, _ principal) {
	var body struct {
		ID             *string         `json:"id"`
		Limits         solution.Limits `json:"limits"`
		Debug          bool            `json:"debug"`
		InvalidPayload string          `json:"invalid_payload"`
	}
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	if body.ID == nil {
		writeErr(w, errorf(http.StatusBadRequest, "id", "id: required"))
		return
	}
	sol, token, err := s.opt.Store.CreateWith(r.Context(), *body.ID, solution.Settings{Limits: body.Limits, Debug: body.Debug, InvalidPayload: body.InvalidPayload})
	if err != nil {
		writeErr(w, err)
		return
	}
	v := view(sol)
	v.Token = token
	s.opt.Logger.Info("solution created", "solution", sol.ID)
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) listSolutions(w http.ResponseWriter, _ *http.Request, p principal) {
	out := list[solutionView]{Items: []solutionView{}}
	for _, sol := range s.opt.Store.List() {
		if p.admin || p.solution == sol.ID {
			out.Items = append(out.Items, view(sol))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getSolution(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, _ := s.opt.Store.Get(r.PathValue("solution"))
	writeJSON(w, http.StatusOK, view(sol))
}

func (s *Server) updateSolution(w http.ResponseWriter, r *http.Request, _ principal) {
	id := r.PathValue("solution")
	if _, ok := s.opt.Store.Get(id); !ok {
		writeErr(w, errorf(http.StatusNotFound, "solution", "no solution %q", id))
		return
	}
	var body struct {
		Limits         *solution.Limits `json:"limits"`
		Debug          *bool            `json:"debug"`
		InvalidPayload *string          `json:"invalid_payload"`
	}
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	if body.Limits == nil && body.Debug == nil && body.InvalidPayload == nil {
		writeErr(w, errorf(http.StatusBadRequest, "limits", "limits, debug or invalid_payload: required (the settings a solution has to update)"))
		return
	}
	sol, err := s.opt.Store.Update(r.Context(), id, solution.Change{Limits: body.Limits, Debug: body.Debug, InvalidPayload: body.InvalidPayload})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, view(sol))
}

// newSolutionToken answers POST /api/v1/solutions/{solution}/token: the solution gets a new
// token, shown this once, and the old one stops working (a leaked token is revoked so).
func (s *Server) newSolutionToken(w http.ResponseWriter, r *http.Request, _ principal) {
	id := r.PathValue("solution")
	if _, ok := s.opt.Store.Get(id); !ok {
		writeErr(w, errorf(http.StatusNotFound, "solution", "no solution %q", id))
		return
	}
	sol, token, err := s.opt.Store.NewToken(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	v := view(sol)
	v.Token = token
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteSolution(w http.ResponseWriter, r *http.Request, _ principal) {
	id := r.PathValue("solution")
	if _, ok := s.opt.Store.Get(id); !ok {
		writeErr(w, errorf(http.StatusNotFound, "solution", "no solution %q", id))
		return
	}
	// Deleting must finish even if the client goes away half-way.
	ctx := context.WithoutCancel(r.Context())
	if err := s.opt.Store.Delete(ctx, id, s.drop); err != nil {
		writeErr(w, err)
		return
	}
	if s.opt.Metrics != nil {
		s.opt.Metrics.ForgetSolution(id)
	}
	s.opt.Logger.Info("solution deleted", "solution", id)
	w.WriteHeader(http.StatusNoContent)
}

type endpointBody struct {
	Method *string `json:"method"`
	Path   *string `json:"path"`
	Script *string `json:"script"`
}

// checkEndpoint is what deploying body would refuse, or the endpoint's method and path.
func checkEndpoint(sol string, body endpointBody) (method, path string, err error) {
	for _, f := range []struct {
		name string
		v    *string
	}{{"method", body.Method}, {"path", body.Path}, {"script", body.Script}} {
		if f.v == nil {
			return "", "", errorf(http.StatusBadRequest, f.name, "%s: required", f.name)
		}
	}
	method, path, err = solution.NormalizeEndpoint(*body.Method, *body.Path)
	if err != nil {
		return "", "", err
	}
	if len(*body.Script) > solution.MaxScriptBytes {
		return "", "", errorf(http.StatusRequestEntityTooLarge, "script", "script: longer than %d bytes", solution.MaxScriptBytes)
	}
	if _, err := script.Compile(sol+" "+method+" "+path, *body.Script); err != nil {
		return "", "", err
	}
	return method, path, nil
}

// checked is the answer of a deploy check that found nothing the deploy would refuse.
type checked struct {
	OK     bool     `json:"ok"`
	Method string   `json:"method,omitempty"`
	Path   string   `json:"path,omitempty"`
	Name   string   `json:"name,omitempty"`
	Topics []string `json:"topics,omitempty"`
}

// checkEndpointDeploy answers POST .../check/endpoint: what deploying the body would refuse
// (the same errors), without deploying it.
func (s *Server) checkEndpointDeploy(w http.ResponseWriter, r *http.Request, _ principal) {
	var body endpointBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	method, path, err := checkEndpoint(r.PathValue("solution"), body)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, checked{OK: true, Method: method, Path: path})
}

func (s *Server) deployEndpoint(w http.ResponseWriter, r *http.Request, _ principal) {
	var body endpointBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	sol := r.PathValue("solution")
	method, path, err := checkEndpoint(sol, body)
	if err != nil {
		writeErr(w, err)
		return
	}
	ep, created, err := s.opt.Store.PutEndpoint(r.Context(), solution.Endpoint{Solution: sol, Method: method, Path: path, Script: *body.Script})
	if err != nil {
		writeErr(w, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	s.opt.Logger.Info("endpoint deployed", "solution", sol, "method", method, "path", path, "version", ep.Version)
	writeJSON(w, code, ep)
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, list[solution.Endpoint]{Items: s.opt.Store.Endpoints(r.PathValue("solution"))})
}

func (s *Server) endpointFromPath(r *http.Request) (solution.Endpoint, *Error) {
	method, path := strings.ToUpper(r.PathValue("method")), "/"+r.PathValue("path")
	ep, ok := s.opt.Store.GetEndpoint(r.PathValue("solution"), method, path)
	if !ok {
		return ep, errorf(http.StatusNotFound, "", "no endpoint %s %s", method, path)
	}
	return ep, nil
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request, _ principal) {
	ep, err := s.endpointFromPath(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ep)
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request, _ principal) {
	ep, aerr := s.endpointFromPath(r)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	if err := s.opt.Store.DeleteEndpoint(r.Context(), ep.Solution, ep.Method, ep.Path); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// drop asks every Dropper to remove what it keeps for a solution being deleted.
func (s *Server) drop(ctx context.Context, id string) error {
	for _, d := range s.opt.Droppers {
		if err := d.Drop(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (for read deadlines).
func (c *codeRecorder) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// headerProbe records what the mux would answer, writing nothing.
type headerProbe struct {
	header http.Header
	code   int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.code = code }
