package hub

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/core/config"
	"github.com/switchboardhq/switchboard/internal/dynamic"
	"github.com/switchboardhq/switchboard/internal/metrics"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/tracing"
	"github.com/switchboardhq/switchboard/internal/webapp"
)

// router is the service layer: which services a solution sees, and calls to them. Core
// services are always there; a dynamic service only once the solution added it.
type router struct {
	core    *service.Registry
	catalog *catalog.Catalog
	invoker *dynamic.Invoker
	metrics *metrics.Metrics
	tracer  *tracing.Tracer // nil: no spans
}

// dynamicFor returns a dynamic service the solution added, with its parameters there.
func (r *router) dynamicFor(solution, name string) (*catalog.Entry, catalog.Config, bool) {
	cfg, ok := r.catalog.AddedConfig(solution, name)
	if !ok {
		return nil, catalog.Config{}, false
	}
	e, ok := r.catalog.Get(name)
	return e, cfg, ok
}

// Call runs name.operation for solution.
func (r *router) Call(ctx context.Context, solution, name, operation string, args any) (res any, err error) {
	if r.tracer.Enabled() {
		var span trace.Span
		ctx, span = r.tracer.Start(ctx, service.Alias(name)+"."+operation, trace.SpanKindClient,
			attribute.String("switchboard.solution", solution), attribute.String("switchboard.service", name),
			attribute.String("switchboard.operation", operation))
		defer func() { tracing.End(span, err) }()
	}
	if c, ok := r.core.Lookup(name); ok {
		res, err := c.Caller.Call(ctx, solution, operation, args)
		if err == nil {
			return res, nil // the common case, without listing the operations
		}
		return res, unknownOperation(err, name, operation, specOperations(c.Spec))
	}
	e, cfg, ok := r.dynamicFor(solution, name)
	if !ok {
		return nil, service.Errorf(404, "no service %s in this solution (add it first)", service.Alias(name))
	}
	o := service.OriginOf(ctx)
	ctx = dynamic.WithTraceparent(ctx, o.Traceparent)
	start := time.Now()
	res, err = r.invoker.Call(ctx, solution, e.Desc, r.catalog.Token(name), operation, args, cfg.Parameters, o.RequestID)
	code := http.StatusOK
	var se *service.Error
	switch {
	case errors.As(err, &se):
		code = se.Status
	case err != nil:
		code = http.StatusInternalServerError
	}
	r.metrics.ServiceCalls.WithLabelValues(solution, name, strconv.Itoa(code)).Inc()
	r.metrics.ServiceLatency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if _, listed := e.Desc.Operations[operation]; !listed {
		err = unknownOperation(err, name, operation, specOperations(e.Desc.Spec()))
	}
	return res, err
}

// specOperations are the names of spec's operations.
func specOperations(spec service.Spec) []string {
	names := make([]string, len(spec.Operations))
	for i, op := range spec.Operations {
		names[i] = op.Name
	}
	return names
}

// unknownOperation turns a service's 404 for an operation it does not list into an error
// naming the operations it has; other errors are returned as they are.
func unknownOperation(err error, name, operation string, ops []string) error {
	var se *service.Error
	if !errors.As(err, &se) || se.Status != http.StatusNotFound || slices.Contains(ops, operation) {
		return err
	}
	return &service.UnknownOperationError{Service: service.Alias(name), Operation: operation, Operations: ops}
}

// Lifecycle runs a dynamic service's init/update/gc/info operation, when it has one, and
// returns its answer.
func (r *router) Lifecycle(ctx context.Context, solution, name, op string, params map[string]any) (any, error) {
	if op == "" {
		return nil, nil
	}
	e, ok := r.catalog.Get(name)
	if !ok {
		return nil, service.Errorf(404, "no service %s", name)
	}
	o := service.OriginOf(ctx)
	return r.invoker.CallLifecycle(dynamic.WithTraceparent(ctx, o.Traceparent), solution, e.Desc, r.catalog.Token(name), op, params, o.RequestID)
}

// Visible lists what Config.listServices shows a solution: every core service and the dynamic
// ones it added.
func (r *router) Visible(solution string) []service.Spec {
	specs := r.core.Specs()
	for _, cfg := range r.catalog.Added(solution) {
		if e, ok := r.catalog.Get(cfg.Service); ok {
			specs = append(specs, e.Desc.Spec())
		}
	}
	return specs
}

// Parameters is the solution's parameters for a visible service, secrets left out.
func (r *router) Parameters(solution, name string) (map[string]any, bool) {
	if _, ok := r.core.Lookup(name); ok {
		return map[string]any{}, true
	}
	e, cfg, ok := r.dynamicFor(solution, name)
	if !ok {
		return nil, false
	}
	return catalog.Masked(e.Desc, cfg), true
}

// forSolution is a script run's view of the services.
func (r *router) forSolution(solution string) script.Services {
	return solutionServices{solution: solution, r: r}
}

// solutionServices is a script run's view of the services, bound to its solution.
type solutionServices struct {
	solution string
	r        *router
}

var (
	_ script.Services      = solutionServices{}
	_ script.ServiceLister = solutionServices{}
)

func (s solutionServices) Has(alias string) bool {
	name := service.NameOf(alias)
	if _, ok := s.r.core.Lookup(name); ok {
		return true
	}
	_, _, ok := s.r.dynamicFor(s.solution, name)
	return ok
}

// Aliases are the services the solution's scripts may call, core ones first.
func (s solutionServices) Aliases() []string {
	specs := s.r.Visible(s.solution)
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = service.Alias(sp.Name)
	}
	return names
}

func (s solutionServices) Call(ctx context.Context, alias, operation string, args any) (any, error) {
	return s.r.Call(ctx, s.solution, service.NameOf(alias), operation, args)
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
