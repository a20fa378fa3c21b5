package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
)

// Events is what the API needs of the event layer.
type Events interface {
	Dispatch(ctx context.Context, e events.Event, slots func(handlers int) int) (any, error)
	Enqueue(ctx context.Context, e events.Event) error
	// EnqueueBatch stores many events at once; see events.Dispatcher.EnqueueBatch.
	EnqueueBatch(ctx context.Context, es []events.Event) []error
	// Report is a durable event's delivery report; an unknown event is events.ErrNotFound.
	Report(ctx context.Context, sol, id string) (events.Report, error)
}

type handlerBody struct {
	Name        *string    `json:"name"`
	Topics      []string   `json:"topics"`
	Script      *string    `json:"script"`
	Retry       *retryBody `json:"retry"`
	MaxInFlight int        `json:"max_in_flight"`
	OrderBy     string     `json:"order_by"`
}

// retryBody is a handler's retry policy as sent: waits are strings such as "100ms", parsed
// here so that a bad one is answered naming its field.
type retryBody struct {
	Attempts int      `json:"attempts"`
	MinWait  string   `json:"min_wait"`
	MaxWait  string   `json:"max_wait"`
	On       []string `json:"on"`
}

func (b *retryBody) policy() (*events.RetryPolicy, *Error) {
	if b == nil {
		return nil, nil
	}
	p := &events.RetryPolicy{Attempts: b.Attempts, On: b.On}
	for _, w := range []struct {
		field, val string
		to         *events.Duration
	}{{"retry.min_wait", b.MinWait, &p.MinWait}, {"retry.max_wait", b.MaxWait, &p.MaxWait}} {
		if w.val == "" {
			continue
		}
		d, err := time.ParseDuration(w.val)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, w.field, "%s: %q is not a duration such as \"100ms\" or \"30s\"", w.field, w.val)
		}
		*w.to = events.Duration(d)
	}
	return p, nil
}

// handlerOf is the handler body names, or what deploying it would refuse before the store.
func handlerOf(sol string, body handlerBody) (events.Handler, *Error) {
	if body.Name == nil {
		return events.Handler{}, errorf(http.StatusBadRequest, "name", "name: required")
	}
	if body.Script == nil {
		return events.Handler{}, errorf(http.StatusBadRequest, "script", "script: required")
	}
	if len(*body.Script) > solution.MaxScriptBytes {
		return events.Handler{}, errorf(http.StatusRequestEntityTooLarge, "script", "script: longer than %d bytes", solution.MaxScriptBytes)
	}
	retry, aerr := body.Retry.policy()
	if aerr != nil {
		return events.Handler{}, aerr
	}
	return events.Handler{Solution: sol, Name: *body.Name, Topics: body.Topics, Script: *body.Script, Retry: retry, MaxInFlight: body.MaxInFlight, OrderBy: body.OrderBy}, nil
}

// eventReport answers GET /api/v1/solutions/{solution}/events/{id}: where each handler's run
// of a durable event stands.
func (s *Server) eventReport(w http.ResponseWriter, r *http.Request, _ principal) {
	rep, err := s.opt.Events.Report(r.Context(), r.PathValue("solution"), r.PathValue("id"))
	if errors.Is(err, events.ErrNotFound) {
		writeErr(w, errorf(http.StatusNotFound, "id", "no durable event %q in this solution (or its report expired)", r.PathValue("id")))
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// checkHandlerDeploy answers POST .../check/handler: what deploying the body would refuse
// (the same errors), without deploying it.
func (s *Server) checkHandlerDeploy(w http.ResponseWriter, r *http.Request, _ principal) {
	var body handlerBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	h, aerr := handlerOf(r.PathValue("solution"), body)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	h, err = events.Check(h)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, checked{OK: true, Name: h.Name, Topics: h.Topics})
}

func (s *Server) deployHandler(w http.ResponseWriter, r *http.Request, _ principal) {
	var body handlerBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	hb, aerr := handlerOf(r.PathValue("solution"), body)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	h, created, err := s.opt.Handlers.Put(r.Context(), hb)
	if err != nil {
		writeErr(w, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	s.opt.Logger.Info("handler deployed", "solution", h.Solution, "handler", h.Name, "topics", h.Topics, "version", h.Version)
	writeJSON(w, code, h)
}

func (s *Server) listHandlers(w http.ResponseWriter, r *http.Request, _ principal) {
	hs := s.opt.Handlers.List(r.PathValue("solution"))
	if hs == nil {
		hs = []events.Handler{}
	}
	writeJSON(w, http.StatusOK, list[events.Handler]{Items: hs})
}

func (s *Server) getHandler(w http.ResponseWriter, r *http.Request, _ principal) {
	h, ok := s.opt.Handlers.Get(r.PathValue("solution"), r.PathValue("name"))
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "name", "no handler %q", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) deleteHandler(w http.ResponseWriter, r *http.Request, _ principal) {
	if err := s.opt.Handlers.Delete(r.Context(), r.PathValue("solution"), r.PathValue("name")); err != nil {
		writeErr(w, err)
		return
	}
	if s.opt.Metrics != nil {
		s.opt.Metrics.ForgetHandler(r.PathValue("solution"), r.PathValue("name"))
	}
	w.WriteHeader(http.StatusNoContent)
}

// trigger answers POST /api/v1/trigger/{solution}/{service}/{event}: a service triggers its own
// event for a solution that added it; the solution's handlers of topic <service>.<event> run now
// (the answer is their result) or, with ?mode=async, durably later (202).
func (s *Server) trigger(w http.ResponseWriter, r *http.Request) {
	if aerr := s.serviceAuth(r); aerr != nil {
		writeErr(w, aerr)
		return
	}
	sol, svc, ev := r.PathValue("solution"), r.PathValue("service"), r.PathValue("event")
	if e, ok := s.opt.Catalog.Get(svc); ok && len(e.Desc.Events) > 0 {
		declared := false
		for _, d := range e.Desc.Events {
			declared = declared || d.Name == ev
		}
		if !declared {
			writeErr(w, errorf(http.StatusForbidden, "event", "%s does not declare the event %q (x-events)", svc, ev))
			return
		}
	}
	sync, aerr := syncMode(r, true)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	ticket, err := s.admit(sol)
	if err != nil {
		writeErr(w, err)
		return
	}
	defer ticket.Release()
	body, aerr := s.readBody(w, r, ticket)
	if aerr == nil && !blank(body) {
		aerr = checkJSON(body)
	}
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	// The data is never decoded here: a handler run decodes it, charged to its memory limit,
	// only if it reads event.data; a durable event stores it as it came.
	var data any = map[string]any{}
	if !blank(body) {
		data = json.RawMessage(body)
	}
	e := events.Event{ID: eventID(r), Solution: sol, Topic: svc + "." + ev, Service: svc, Type: ev, Data: data, Time: time.Now().UTC()}
	s.deliver(w, r, ticket, e, sync, func(err error) { s.writeEventErr(w, sol, err) })
}

// syncMode is the ?mode= of a request that publishes an event: sync or async, or def when
// absent.
func syncMode(r *http.Request, def bool) (bool, *Error) {
	switch mode := r.URL.Query().Get("mode"); mode {
	case "":
		return def, nil
	case "sync":
		return true, nil
	case "async":
		return false, nil
	default:
		return false, errorf(http.StatusBadRequest, "mode", "mode %q: want sync or async", mode)
	}
}

// deliver runs e's handlers now (sync: their result is the answer) or stores e for them
// (202 {"id"}); fail answers what went wrong. e.ID must be set, so the answer can name it.
func (s *Server) deliver(w http.ResponseWriter, r *http.Request, ticket *admission.Ticket, e events.Event, sync bool, fail func(error)) {
	if !sync {
		if err := s.opt.Events.Enqueue(origin(r), e); err != nil {
			fail(err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"id": e.ID})
		return
	}
	// The data is decoded only if a handler reads event.data, charged to its memory limit.
	if raw, ok := e.Data.(json.RawMessage); ok {
		e.Data = script.Body{Data: string(raw), JSON: true}
	}
	// One run slot per handler: the request holds one; its other handlers take what is free
	// and run in turn beyond that.
	res, err := s.opt.Events.Dispatch(origin(r), e, func(n int) int { return 1 + ticket.RunMore(n-1) })
	if err != nil {
		fail(err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func eventID(r *http.Request) string {
	if id := r.Header.Get("X-Event-Id"); id != "" && len(id) <= events.MaxIDBytes {
		return id
	}
	return events.NewID()
}

// writeEventErr answers a trigger whose handlers could not run or failed, or whose event could
// not be stored (503: send it again). A failed handler's answer names its error id and request
// id (the whole error is in the solution's log); with the solution in debug mode, its message
// and line too.
func (s *Server) writeEventErr(w http.ResponseWriter, sol string, err error) {
	var he *events.HandlerError
	switch {
	case errors.Is(err, events.ErrNoHandler):
		writeErr(w, errorf(http.StatusNotFound, "event", "%v", err))
	case errors.Is(err, events.ErrNotStored):
		// NATS not reachable or without quorum for a moment (a node lost): nothing is wrong
		// with the event, and sending it again with its id stores it once.
		s.opt.Logger.Warn("event not stored", "solution", sol, "err", err)
		w.Header().Set("Retry-After", "1")
		writeErr(w, errorf(http.StatusServiceUnavailable, "", "%v; send the event again with the same id (an id is stored once)", err))
	case errors.As(err, &he):
		ae := errorf(http.StatusInternalServerError, "", "handler %s failed: %s", he.Handler, he.Kind())
		if he.Kind() == script.LimitServerMemory {
			// The runs in progress hold all the memory runs may have: busy, not broken.
			w.Header().Set("Retry-After", "1")
			ae = errorf(http.StatusServiceUnavailable, "", "handler %s not run: server busy (%s)", he.Handler, he.Kind())
		}
		ae.ErrorID, ae.RequestID, ae.Handler = he.ErrorID, he.RequestID, he.Handler
		if cur, ok := s.opt.Store.Get(sol); ok && cur.Debug {
			e := solutionlog.Failure(sol, "", "", "", he.Err)
			ae.Detail, ae.Line = e.Message, e.Line
		}
		writeErr(w, ae)
	default:
		writeErr(w, err)
	}
}
