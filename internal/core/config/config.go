// Package config is the Config core service: what a solution's scripts may learn about their
// own solution and the services it has.
package config

import (
	"context"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/service"
)

// Catalog tells which services a solution sees, and their parameters there.
type Catalog interface {
	// Visible lists the services the solution's scripts may call.
	Visible(solution string) []service.Spec
	// Parameters returns the solution's parameters for a visible service.
	Parameters(solution, name string) (map[string]any, bool)
}

// SolutionInfo describes a solution for Config.solution.
type SolutionInfo struct {
	ID        string
	CreatedAt time.Time
	Limits    map[string]any
}

// Solutions looks up a solution.
type Solutions interface {
	Info(id string) (SolutionInfo, bool)
}

// Service is the Config core service.
type Service struct {
	catalog   Catalog
	solutions Solutions
}

// New returns the Config service.
func New(c Catalog, s Solutions) *Service { return &Service{catalog: c, solutions: s} }

// Spec describes Config.
func (s *Service) Spec() service.Spec {
	return service.Spec{
		Name:        "config",
		Kind:        service.KindCore,
		Description: "What a solution's scripts may learn about their solution and its services.",
		Operations: []service.Operation{
			{Name: "listServices", Description: "Lists the services this solution can call; {type=\"core\"|\"dynamic\"} filters by kind. Also spelled listservices."},
			{Name: "getParameters", Description: "Returns this solution's parameters for a service: {service=\"name\"}."},
			{Name: "solution", Description: "Returns this solution's id, creation time and script limits."},
		},
	}
}

// Call runs one Config operation. Operation names are matched without regard to case, so the
// seed's Config.listservices() works as well as Config.listServices().
func (s *Service) Call(_ context.Context, solution, operation string, args any) (any, error) {
	a, _ := args.(map[string]any)
	switch strings.ToLower(operation) {
	case "listservices":
		return s.listServices(solution, a)
	case "getparameters":
		return s.getParameters(solution, a)
	case "solution":
		info, ok := s.solutions.Info(solution)
		if !ok {
			return nil, service.Errorf(404, "config.solution: no solution %q", solution)
		}
		return map[string]any{
			"id":         info.ID,
			"created_at": info.CreatedAt.UTC().Format(time.RFC3339),
			"limits":     info.Limits,
		}, nil
	}
	return nil, service.Errorf(404, "config has no operation %q (it has listServices, getParameters, solution)", operation)
}

func (s *Service) listServices(solution string, a map[string]any) (any, error) {
	kind := ""
	if v, ok := a["type"]; ok {
		k, isStr := v.(string)
		if !isStr || (k != service.KindCore && k != service.KindDynamic) {
			return nil, service.Errorf(400, "config.listServices: type: want \"core\" or \"dynamic\"")
		}
		kind = k
	}
	out := []any{}
	for _, sp := range s.catalog.Visible(solution) {
		if kind != "" && sp.Kind != kind {
			continue
		}
		ops := make([]any, len(sp.Operations))
		for i, o := range sp.Operations {
			ops[i] = o.Name
		}
		out = append(out, map[string]any{
			"service":     sp.Name,
			"alias":       service.Alias(sp.Name),
			"type":        sp.Kind,
			"description": sp.Description,
			"operations":  ops,
		})
	}
	return out, nil
}

func (s *Service) getParameters(solution string, a map[string]any) (any, error) {
	name, ok := a["service"].(string)
	if !ok || name == "" {
		return nil, service.Errorf(400, "config.getParameters: service: required string")
	}
	params, ok := s.catalog.Parameters(solution, service.NameOf(name))
	if !ok {
		return nil, service.Errorf(404, "config.getParameters: service %q is not added to this solution", name)
	}
	if params == nil {
		params = map[string]any{}
	}
	return params, nil
}
