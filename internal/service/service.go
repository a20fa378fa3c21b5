// Package service holds the vocabulary shared by everything that offers or calls a service:
// the spec a service declares, the error a call returns, and the registry of core services.
package service

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// NamePattern is what a service name must match.
var NamePattern = regexp.MustCompile(`^[a-z0-9]+$`)

// Kinds of service.
const (
	KindCore    = "core"
	KindDynamic = "dynamic"
)

// Operation is one callable operation of a service.
type Operation struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Spec describes a service: what the catalog, Config.listServices, docs and help show.
type Spec struct {
	Name        string      `json:"name"`
	Kind        string      `json:"kind"`
	Description string      `json:"description,omitempty"`
	Operations  []Operation `json:"operations"`
	Events      []string    `json:"events,omitempty"`
}

// Alias is the global a script uses for the service: its name capitalized ("keystore" → "Keystore").
func Alias(name string) string {
	if name == "" {
		return ""
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// NameOf is the inverse of Alias: the service name a script alias refers to.
func NameOf(alias string) string { return strings.ToLower(alias) }

// Error is a failed call as a script sees it: {error=Message, status=Status}.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// StatusCode is the HTTP-like status of the failure.
func (e *Error) StatusCode() int { return e.Status }

// Errorf makes an *Error with the given status.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Caller runs one operation of a service on behalf of a solution. args is the script's table
// converted to Go (map[string]any, []any, string, float64, bool or nil); the result is converted
// back the same way. An *Error is a failure the script sees as {error=…, status=…}.
type Caller interface {
	Call(ctx context.Context, solution, operation string, args any) (any, error)
}

// CallerFunc adapts a function to Caller.
type CallerFunc func(ctx context.Context, solution, operation string, args any) (any, error)

// Call calls f.
func (f CallerFunc) Call(ctx context.Context, solution, operation string, args any) (any, error) {
	return f(ctx, solution, operation, args)
}

// Core is a built-in service: its spec and the code that runs it.
type Core struct {
	Spec   Spec
	Caller Caller
}

// Registry holds the core services. Each is registered once at start; reads are concurrent.
type Registry struct {
	mu    sync.RWMutex
	items map[string]Core
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{items: map[string]Core{}} }

// Register adds a core service. A second service of the same name is a programming error.
func (r *Registry) Register(c Core) error {
	if !NamePattern.MatchString(c.Spec.Name) {
		return fmt.Errorf("register core service %q: name must match %s", c.Spec.Name, NamePattern)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.items[c.Spec.Name]; dup {
		return fmt.Errorf("register core service %q: already registered", c.Spec.Name)
	}
	c.Spec.Kind = KindCore
	r.items[c.Spec.Name] = c
	return nil
}

// Lookup returns the core service named name.
func (r *Registry) Lookup(name string) (Core, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.items[name]
	return c, ok
}

// Specs lists the registered services by name.
func (r *Registry) Specs() []Spec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Spec, 0, len(r.items))
	for _, c := range r.items {
		out = append(out, c.Spec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
