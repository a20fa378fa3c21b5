package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/dynamic"
	"github.com/switchboardhq/switchboard/internal/service"
)

// Services is what the API needs of the service layer: the catalog and calls.
type Services interface {
	// Call runs service.operation for a solution, as a script would (core or added dynamic).
	Call(ctx context.Context, solution, name, operation string, args any) (any, error)
	// Lifecycle runs a dynamic service's x-exosite-init/-update/-gc/-info hook (op empty:
	// none) and returns its answer. A failure before anything was sent matches
	// dynamic.ErrNotCalled.
	Lifecycle(ctx context.Context, solution, name, op string, params map[string]any) (any, error)
}

// serviceView is a service in the marketplace.
type serviceView struct {
	Name        string              `json:"name"`
	Kind        string              `json:"kind"`
	Description string              `json:"description,omitempty"`
	Operations  []service.Operation `json:"operations"`
	Events      []string            `json:"events"`
	Health      catalog.Health      `json:"health"`
	Version     int                 `json:"version,omitempty"`
	BaseURL     string              `json:"base_url,omitempty"`
	// Marketplace is what a user needs to add a dynamic service and call it; nil for a core one.
	Marketplace *catalog.Market `json:"marketplace,omitempty"`
	Document    any             `json:"document,omitempty"`
}

func (s *Server) coreView(sp service.Spec) serviceView {
	return serviceView{Name: sp.Name, Kind: service.KindCore, Description: sp.Description, Operations: sp.Operations,
		Events: []string{}, Health: catalog.Health{Status: "up"}}
}

// dynamicView is a dynamic service as p may see it: where it runs and why a health check
// failed are for the admin only.
func (s *Server) dynamicView(e *catalog.Entry, p principal) serviceView {
	sp := e.Desc.Spec()
	ev := sp.Events
	if ev == nil {
		ev = []string{}
	}
	// The operations are the marketplace's: hidden ones are left out of what is shown, though
	// scripts may still call them.
	market := e.Desc.Market()
	ops := make([]service.Operation, 0, len(market.Operations))
	for _, op := range market.Operations {
		ops = append(ops, service.Operation{Name: op.Name, Description: op.Summary})
	}
	v := serviceView{Name: sp.Name, Kind: service.KindDynamic, Description: sp.Description, Operations: ops,
		Events: ev, Health: s.opt.Catalog.Health(sp.Name), Version: e.Version, Marketplace: &market}
	if p.admin {
		if e.Desc.BaseURL != nil {
			v.BaseURL = e.Desc.BaseURL.String()
		}
	} else {
		v.Health.Error = ""
	}
	return v
}

func (s *Server) listServices(w http.ResponseWriter, _ *http.Request, p principal) {
	out := list[serviceView]{Items: []serviceView{}}
	for _, sp := range s.opt.Core.Specs() {
		out.Items = append(out.Items, s.coreView(sp))
	}
	for _, e := range s.opt.Catalog.List() {
		out.Items = append(out.Items, s.dynamicView(e, p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request, p principal) {
	name := service.NameOf(r.PathValue("name"))
	if c, ok := s.opt.Core.Lookup(name); ok {
		writeJSON(w, http.StatusOK, s.coreView(c.Spec))
		return
	}
	e, ok := s.opt.Catalog.Get(name)
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "", "no service %q", name))
		return
	}
	v := s.dynamicView(e, p)
	v.Document = e.Desc.Doc
	if !p.admin {
		v.Document = e.Desc.PublicDoc()
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteService(w http.ResponseWriter, r *http.Request, _ principal) {
	name := service.NameOf(r.PathValue("name"))
	if _, ok := s.opt.Core.Lookup(name); ok {
		writeErr(w, errorf(http.StatusBadRequest, "name", "%s is a core service; it cannot be deregistered", name))
		return
	}
	if err := s.opt.Catalog.Delete(context.WithoutCancel(r.Context()), name); err != nil {
		writeErr(w, err)
		return
	}
	s.opt.Logger.Info("service deregistered", "service", name)
	w.WriteHeader(http.StatusNoContent)
}

// HeaderServiceToken carries, on a registration, the registered service's own token (or the
// admin token): what updating a name that is already registered needs.
const HeaderServiceToken = "X-Switchboard-Service-Token"

// register answers POST /api/v1/register/ for services holding the registration token.
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || s.opt.RegistrationToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.opt.RegistrationToken)) != 1 {
		writeErr(w, errorf(http.StatusUnauthorized, "", "registration needs Authorization: Bearer <registration token>"))
		return
	}
	var reg catalog.Registration
	release, err := s.decode(w, r, &reg)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	// Updating a registered name also needs the service's own token, or the admin token.
	var cred catalog.Credentials
	if t := r.Header.Get(HeaderServiceToken); t != "" {
		cred.Admin = s.opt.AdminToken != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.opt.AdminToken)) == 1
		if !cred.Admin {
			cred.ServiceToken = t
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	res, err := s.opt.Catalog.Register(ctx, reg, cred)
	if errors.Is(err, catalog.ErrNotOwner) {
		s.opt.Logger.Warn("registration refused: the name is registered and the caller does not own it", "service", reg.Name, "remote", r.RemoteAddr)
		writeErr(w, errorf(http.StatusForbidden, "", "service %s is already registered: updating it needs its service token (or the admin token) in %s", reg.Name, HeaderServiceToken))
		return
	}
	if errors.Is(err, catalog.ErrBusy) {
		w.Header().Set("Retry-After", "1")
		writeErr(w, errorf(http.StatusServiceUnavailable, "", "%v", err))
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	code := http.StatusOK
	if res.Status == catalog.StatusRegistered {
		code = http.StatusCreated
	}
	writeJSON(w, code, res)
}

// serviceConfigView is a service added to a solution; secret parameters are left out. Info
// is the answer of the service's x-exosite-info operation, as it came, on GET of one service;
// InfoError says why there is none when that call failed.
type serviceConfigView struct {
	Service    string         `json:"service"`
	Parameters map[string]any `json:"parameters"`
	AddedAt    time.Time      `json:"added_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Info       any            `json:"info,omitempty"`
	InfoError  string         `json:"info_error,omitempty"`
}

func (s *Server) configView(cfg catalog.Config) serviceConfigView {
	var d *catalog.Description
	if e, ok := s.opt.Catalog.Get(cfg.Service); ok {
		d = e.Desc
	}
	return serviceConfigView{Service: cfg.Service, Parameters: catalog.Masked(d, cfg), AddedAt: cfg.AddedAt, UpdatedAt: cfg.UpdatedAt}
}

// describe returns the description of a service a solution may add (nil for a core one).
func (s *Server) describe(name string) (*catalog.Description, *Error) {
	if _, ok := s.opt.Core.Lookup(name); ok {
		return nil, nil
	}
	e, ok := s.opt.Catalog.Get(name)
	if !ok {
		return nil, errorf(http.StatusNotFound, "service", "no service %q in the catalog (see GET /api/v1/services)", name)
	}
	return e.Desc, nil
}

func (s *Server) addService(w http.ResponseWriter, r *http.Request, _ principal) {
	var body struct {
		Service    *string        `json:"service"`
		Parameters map[string]any `json:"parameters"`
	}
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	if body.Service == nil || *body.Service == "" {
		writeErr(w, errorf(http.StatusBadRequest, "service", "service: required"))
		return
	}
	name := service.NameOf(*body.Service)
	defer s.added.lock(r.PathValue("solution") + "/" + name)()
	s.putService(w, r, name, body.Parameters)
}

func (s *Server) updateService(w http.ResponseWriter, r *http.Request, _ principal) {
	var body struct {
		Parameters map[string]any `json:"parameters"`
	}
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	name := service.NameOf(r.PathValue("service"))
	defer s.added.lock(r.PathValue("solution") + "/" + name)()
	cfg, ok := s.opt.Catalog.AddedConfig(r.PathValue("solution"), name)
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "service", "service %s is not added to this solution", name))
		return
	}
	var d *catalog.Description
	if e, ok := s.opt.Catalog.Get(name); ok {
		d = e.Desc
	}
	s.putService(w, r, name, catalog.KeepSecrets(d, cfg, body.Parameters))
}

func (s *Server) putService(w http.ResponseWriter, r *http.Request, name string, params map[string]any) {
	sol := r.PathValue("solution")
	d, aerr := s.describe(name)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	checked, err := catalog.CheckParameters(d, params)
	if err != nil {
		writeErr(w, err)
		return
	}
	_, existed := s.opt.Catalog.AddedConfig(sol, name)
	if d != nil {
		hook := d.Init
		if existed {
			hook = d.Update
		}
		if _, err := s.opt.Services.Lifecycle(origin(r), sol, name, hook, checked); err != nil {
			writeErr(w, lifecycleErr(name, hook, err))
			return
		}
	}
	cfg, created, err := s.opt.Catalog.PutConfig(r.Context(), sol, name, checked)
	if err != nil {
		writeErr(w, err)
		return
	}
	// The service may have been deregistered, or the solution deleted, while its init hook ran:
	// then the config just written must not stay behind.
	_, stillSolution := s.opt.Store.Get(sol)
	_, stillService := s.opt.Catalog.Get(name)
	if !stillSolution || (d != nil && !stillService) {
		if rerr := s.opt.Catalog.RemoveConfig(context.WithoutCancel(r.Context()), sol, name); rerr != nil {
			s.opt.Logger.Error("remove a config left behind", "solution", sol, "service", name, "err", rerr)
		}
		writeErr(w, errorf(http.StatusConflict, "service", "%s or solution %s went away while it was being added; nothing was kept", name, sol))
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	s.opt.Logger.Info("service added to solution", "solution", sol, "service", name, "created", created)
	writeJSON(w, code, s.configView(cfg))
}

// lifecycleErr is the answer to a failed lifecycle hook: the hub's own refusal before sending
// (its message says the service was not called) is the request's 400, or 503 when the
// service's circuit is open; anything else is the service's, a 502 naming it.
func lifecycleErr(name, hook string, err error) *Error {
	var se *service.Error
	switch {
	case errors.Is(err, dynamic.ErrNotCalled) && errors.As(err, &se):
		if se.Status >= 500 {
			return errorf(http.StatusServiceUnavailable, "", "%s", se.Message)
		}
		return errorf(http.StatusBadRequest, "parameters", "%s", se.Message)
	case errors.As(err, &se):
		return errorf(http.StatusBadGateway, "parameters", "%s refused %s: %s (status %d)", name, hook, se.Message, se.Status)
	}
	return errorf(http.StatusBadGateway, "", "%s.%s: %v", name, hook, err)
}

func (s *Server) listSolutionServices(w http.ResponseWriter, r *http.Request, _ principal) {
	out := list[serviceConfigView]{Items: []serviceConfigView{}}
	for _, cfg := range s.opt.Catalog.Added(r.PathValue("solution")) {
		out.Items = append(out.Items, s.configView(cfg))
	}
	writeJSON(w, http.StatusOK, out)
}

// getSolutionService shows a service added to the solution, with the answer of its
// x-exosite-info operation when it has one. A failed info call is shown, not answered: the
// configuration is there whatever the service says.
func (s *Server) getSolutionService(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, name := r.PathValue("solution"), service.NameOf(r.PathValue("service"))
	unlock := s.added.lock(sol + "/" + name)
	cfg, ok := s.opt.Catalog.AddedConfig(sol, name)
	unlock() // the info call below may take the service's timeout; changes need not wait
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "service", "service %s is not added to this solution", name))
		return
	}
	v := s.configView(cfg)
	if e, ok := s.opt.Catalog.Get(name); ok && e.Desc.Info != "" {
		res, err := s.opt.Services.Lifecycle(origin(r), sol, name, e.Desc.Info, cfg.Parameters)
		if err != nil {
			v.InfoError = lifecycleErr(name, e.Desc.Info, err).Message
		} else {
			v.Info = res
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) removeService(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, name := r.PathValue("solution"), service.NameOf(r.PathValue("service"))
	defer s.added.lock(sol + "/" + name)()
	cfg, ok := s.opt.Catalog.AddedConfig(sol, name)
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "service", "service %s is not added to this solution", name))
		return
	}
	if e, ok := s.opt.Catalog.Get(name); ok && e.Desc.GC != "" {
		// The service's clean-up is its own business: a failure is logged, the removal goes on.
		if _, err := s.opt.Services.Lifecycle(origin(r), sol, name, e.Desc.GC, cfg.Parameters); err != nil {
			s.opt.Logger.Warn("service clean-up failed", "solution", sol, "service", name, "err", err)
		}
	}
	if err := s.opt.Catalog.RemoveConfig(context.WithoutCancel(r.Context()), sol, name); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
