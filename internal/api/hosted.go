package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/script"
)

func (s *Server) handleHosted() {
	s.handle("GET /api/v1/solutions/{solution}/hosted-services", s.owner(s.listHosted))
	s.handle("POST /api/v1/solutions/{solution}/hosted-services", s.owner(s.createHosted))
	s.handle("GET /api/v1/solutions/{solution}/hosted-services/{name}", s.owner(s.getHosted))
	s.handle("DELETE /api/v1/solutions/{solution}/hosted-services/{name}", s.owner(s.deleteHosted))
	s.handle("POST /api/v1/solutions/{solution}/hosted-services/{name}/versions", s.owner(s.addHostedVersion))
	s.handle("GET /api/v1/solutions/{solution}/hosted-services/{name}/versions/{version}", s.owner(s.getHostedVersion))
}

// hostedBody is a new service, or (without name, kind and description) a new version of one.
type hostedBody struct {
	Name        *string           `json:"name"`
	Kind        *string           `json:"kind"`
	Description string            `json:"description"`
	Update      *string           `json:"update"`
	Code        *string           `json:"code"`
	Static      []hosted.Property `json:"static_properties"`
	Security    []hosted.Property `json:"security_properties"`
}

func (b hostedBody) input() hosted.Input {
	in := hosted.Input{Static: b.Static, Security: b.Security}
	if b.Code != nil {
		in.Code = *b.Code
	}
	return in
}

// hostedErr is err as the API answers it: code that does not compile names the field code
// and its line; what is missing is a 404, what a flow uses or what changed meanwhile a 409.
func hostedErr(err error) error {
	var ce *script.CompileError
	switch {
	case errors.As(err, &ce):
		return &Error{Status: http.StatusBadRequest, Field: "code", Line: ce.Line, Message: "code: " + ce.Error()}
	case errors.Is(err, hosted.ErrNotFound), errors.Is(err, hosted.ErrFlowNotFound), errors.Is(err, hosted.ErrNodeNotFound):
		return errorf(http.StatusNotFound, "name", "%v", err)
	case errors.Is(err, hosted.ErrInUse), errors.Is(err, hosted.ErrConflict):
		return errorf(http.StatusConflict, "name", "%v", err)
	}
	return err
}

func (s *Server) listHosted(w http.ResponseWriter, r *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, list[hosted.Service]{Items: s.opt.Hosted.List(r.PathValue("solution"))})
}

// createHosted answers POST …/hosted-services: a new service with its version 0.1 (201).
func (s *Server) createHosted(w http.ResponseWriter, r *http.Request, _ principal) {
	var body hostedBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"name", body.Name}, {"kind", body.Kind}, {"code", body.Code}} {
		if f.v == nil {
			writeErr(w, errorf(http.StatusBadRequest, f.name, "%s: required", f.name))
			return
		}
	}
	if body.Update != nil {
		writeErr(w, errorf(http.StatusBadRequest, "update", "update: only for a new version (POST …/hosted-services/{name}/versions); a new service starts at 0.1"))
		return
	}
	sol := r.PathValue("solution")
	svc, err := s.opt.Hosted.Create(context.WithoutCancel(r.Context()), sol, hosted.Service{Name: *body.Name, Kind: *body.Kind, Description: body.Description}, body.input())
	if err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	s.opt.Logger.Info("hosted service created", "solution", sol, "service", svc.Name, "kind", svc.Kind)
	writeJSON(w, http.StatusCreated, svc)
}

func (s *Server) getHosted(w http.ResponseWriter, r *http.Request, _ principal) {
	svc, ok := s.opt.Hosted.Get(r.PathValue("solution"), r.PathValue("name"))
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "name", "no hosted service %q", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, svc)
}

func (s *Server) deleteHosted(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, name := r.PathValue("solution"), r.PathValue("name")
	if err := s.opt.Hosted.Delete(context.WithoutCancel(r.Context()), sol, name); err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	s.opt.Logger.Info("hosted service deleted", "solution", sol, "service", name)
	w.WriteHeader(http.StatusNoContent)
}

// hostedVersion is a version with its code.
type hostedVersion struct {
	hosted.Version
	Code string `json:"code"`
}

// addHostedVersion answers POST …/hosted-services/{name}/versions: {update: minor|major,
// code, properties}; 201 with the new version.
func (s *Server) addHostedVersion(w http.ResponseWriter, r *http.Request, _ principal) {
	var body hostedBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	switch {
	case body.Name != nil || body.Kind != nil || body.Description != "":
		writeErr(w, errorf(http.StatusBadRequest, "name", "name, kind and description are the service's, not a version's"))
		return
	case body.Update == nil || (*body.Update != "minor" && *body.Update != "major"):
		writeErr(w, errorf(http.StatusBadRequest, "update", "update: required, minor (0.1 to 0.2) or major (0.2 to 1.0)"))
		return
	case body.Code == nil:
		writeErr(w, errorf(http.StatusBadRequest, "code", "code: required"))
		return
	}
	sol, name := r.PathValue("solution"), r.PathValue("name")
	_, v, err := s.opt.Hosted.AddVersion(context.WithoutCancel(r.Context()), sol, name, *body.Update == "major", body.input())
	if err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	s.opt.Logger.Info("hosted service updated", "solution", sol, "service", name, "version", v.Version)
	writeJSON(w, http.StatusCreated, hostedVersion{Version: v, Code: *body.Code})
}

// getHostedVersion answers GET …/versions/{version}: a version (or the newest of a major, or
// "latest") with its code.
func (s *Server) getHostedVersion(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, name, pin := r.PathValue("solution"), r.PathValue("name"), r.PathValue("version")
	svc, ok := s.opt.Hosted.Get(sol, name)
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "name", "no hosted service %q", name))
		return
	}
	if pin == "latest" {
		pin = ""
	}
	v, err := svc.Resolve(pin)
	if err != nil {
		writeErr(w, &Error{Status: http.StatusNotFound, Field: "version", Message: err.Error()})
		return
	}
	code, err := s.opt.Hosted.Code(r.Context(), sol, name, v.Version)
	if err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	writeJSON(w, http.StatusOK, hostedVersion{Version: v, Code: code})
}
