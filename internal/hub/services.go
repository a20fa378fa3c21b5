package hub

import (
	"context"

	"github.com/switchboardhq/switchboard/internal/core/config"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/webapp"
)

// catalog is what a solution sees of the services: for now every core service, with no parameters.
type catalog struct {
	core *service.Registry
}

func (c catalog) Visible(string) []service.Spec { return c.core.Specs() }

func (c catalog) Parameters(_ string, name string) (map[string]any, bool) {
	_, ok := c.core.Lookup(name)
	return map[string]any{}, ok
}

// solutionServices is a script run's view of the services, bound to its solution.
type solutionServices struct {
	solution string
	core     *service.Registry
}

var _ script.Services = solutionServices{}

func (s solutionServices) Has(alias string) bool {
	_, ok := s.core.Lookup(service.NameOf(alias))
	return ok
}

func (s solutionServices) Call(ctx context.Context, alias, operation string, args any) (any, error) {
	c, ok := s.core.Lookup(service.NameOf(alias))
	if !ok {
		return nil, service.Errorf(404, "no service %s in this solution", alias)
	}
	return c.Caller.Call(ctx, s.solution, operation, args)
}

// solutionInfo serves Config.solution from the store.
type solutionInfo struct{ store *solution.Store }

func (s solutionInfo) Info(id string) (config.SolutionInfo, bool) {
	sol, ok := s.store.Get(id)
	if !ok {
		return config.SolutionInfo{}, false
	}
	l := webapp.Limits(sol.Limits).WithDefaults()
	return config.SolutionInfo{ID: sol.ID, CreatedAt: sol.CreatedAt, Limits: map[string]any{
		"timeout_ms":   float64(l.Timeout.Milliseconds()),
		"memory_bytes": float64(l.Memory),
		"call_depth":   float64(l.CallDepth),
		"steps":        float64(l.Steps),
	}}, true
}
