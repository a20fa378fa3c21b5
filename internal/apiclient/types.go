package apiclient

import (
	"encoding/json"
	"time"
)

// Limits bound what one run of a solution's scripts may use. A zero field means the server's
// default, both in requests (where it is left out) and in answers.
type Limits struct {
	// TimeoutMS is the wall-clock time one run may take, in milliseconds.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// MemoryBytes is the memory one run may allocate.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// CallDepth is the deepest Lua call stack a run may build.
	CallDepth int `json:"call_depth,omitempty"`
	// Steps is how many VM instructions one run may execute.
	Steps int64 `json:"steps,omitempty"`
}

// Timeout is TimeoutMS as a time.Duration.
func (l Limits) Timeout() time.Duration { return time.Duration(l.TimeoutMS) * time.Millisecond }

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l == Limits{} }

// Solution is a tenant as the API shows it.
type Solution struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Limits    Limits    `json:"limits"`
	// Debug shows callers of a failed endpoint the error's message and line, besides its id.
	Debug bool `json:"debug"`
	// InvalidPayload is what the event gateway does with an application's event whose data
	// does not match its payload schema: "reject" or "mark".
	InvalidPayload string `json:"invalid_payload,omitempty"`
}

// SolutionCreate is the body of POST /api/v1/solutions.
type SolutionCreate struct {
	ID string `json:"id"`
	// Limits may be left zero (or partly zero) for the server's defaults.
	Limits         Limits `json:"limits,omitzero"`
	Debug          bool   `json:"debug,omitempty"`
	InvalidPayload string `json:"invalid_payload,omitempty"`
}

// SolutionCreated is the answer to creating a solution: the solution and its token, which the
// server shows only this once.
type SolutionCreated struct {
	Solution
	Token string `json:"token"`
}

// SolutionUpdate is the body of PATCH /api/v1/solutions/{solution}; nil settings stay as they
// are. Limits replaces the solution's limits as a whole: a zero field goes back to the server's
// default. To change one limit, start from the solution's current Limits (GetSolution).
type SolutionUpdate struct {
	Limits         *Limits `json:"limits,omitempty"`
	Debug          *bool   `json:"debug,omitempty"`
	InvalidPayload *string `json:"invalid_payload,omitempty"`
}

// Endpoint is an HTTP endpoint of a solution: a method and path served by a Lua script.
type Endpoint struct {
	// Method is the HTTP method in upper case ("GET").
	Method string `json:"method"`
	// Path starts with "/" and may hold parameters ("/users/{id}").
	Path string `json:"path"`
	// Script is the Lua source run for each request.
	Script string `json:"script"`
	// Version counts the deployments of this method and path, from 1. Set by the server.
	Version int64 `json:"version,omitempty"`
	// UpdatedAt is when the script was last deployed. Set by the server.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
}

// Service kinds.
const (
	// ServiceKindCore is a service built into the hub (keystore, config, …).
	ServiceKindCore = "core"
	// ServiceKindDynamic is an outside service that registered with the hub.
	ServiceKindDynamic = "dynamic"
)

// Service health statuses.
const (
	HealthUp      = "up"
	HealthDown    = "down"
	HealthUnknown = "unknown"
)

// Service is a service of the hub's catalog, which solutions may add and call.
type Service struct {
	// Name is lowercase letters and digits ("demoexternalservice").
	Name string `json:"name"`
	// Kind is ServiceKindCore or ServiceKindDynamic.
	Kind        string `json:"kind"`
	Description string `json:"description,omitempty"`
	// Operations are what scripts may call.
	Operations []Operation `json:"operations"`
	// Events are the events the service may trigger; a solution handles them with handlers.
	Events []string `json:"events"`
	// Health is the hub's last health check of the service.
	Health ServiceHealth `json:"health"`
	// Version counts the service's registrations, from 1.
	Version int64 `json:"version,omitempty"`
	// BaseURL is where the hub reaches a dynamic service.
	BaseURL string `json:"base_url,omitempty"`
	// Marketplace is what a user needs to add a dynamic service and call it; nil for a core
	// one.
	Marketplace *Marketplace `json:"marketplace,omitempty"`
	// Document is the service's OpenAPI document, as JSON. Only GetService returns it.
	Document json.RawMessage `json:"document,omitempty"`
}

// Marketplace is a dynamic service as the marketplace shows it. It holds no configured value,
// no default or choices of a secret parameter, and nothing of where the service runs.
type Marketplace struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Version is the service document's own version (info.version).
	Version string `json:"version,omitempty"`
	Tags    []Tag  `json:"tags"`
	// ConfigParameters are the configuration form, in the document's order.
	ConfigParameters []ConfigParameter `json:"config_parameters"`
	// Operations are what scripts may call, by name, with their examples.
	Operations []MarketOperation `json:"operations"`
	Events     []Event           `json:"events"`
	// SecuritySchemes are how the hub authenticates to the service.
	SecuritySchemes []SecurityScheme `json:"security_schemes"`
	// Security is the document's requirement: alternatives, each naming the schemes applied
	// together.
	Security [][]string `json:"security,omitempty"`
}

// Tag is a tag of a service's document.
type Tag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ConfigParameter is one field of a service's configuration form.
type ConfigParameter struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Secret      bool   `json:"secret"`
	Description string `json:"description,omitempty"`
	Default     any    `json:"default,omitempty"`
	Enum        []any  `json:"enum,omitempty"`
	// Restricted parameters are not the user's to set; From names where the hub takes the
	// value (solution_id, domain, business_id).
	Restricted bool   `json:"restricted,omitempty"`
	From       string `json:"from,omitempty"`
}

// MarketOperation is an operation scripts may call, as the marketplace shows it.
type MarketOperation struct {
	Name        string `json:"name"`
	Summary     string `json:"summary,omitempty"`
	Description string `json:"description,omitempty"`
	// Example is a Lua script calling the operation (x-exosite-example).
	Example string   `json:"example,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	// Security is the requirement that applies to the operation; nil when it needs none.
	Security [][]string `json:"security,omitempty"`
}

// Event is an event a service may trigger.
type Event struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// SecurityScheme is how the hub authenticates to a service. UserField and SecretField name the
// configuration parameters holding the credentials.
type SecurityScheme struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	UserField   string `json:"user_field,omitempty"`
	SecretField string `json:"secret_field,omitempty"`
}

// Operation is one callable operation of a service.
type Operation struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ServiceHealth is the result of the hub's last health check of a service.
type ServiceHealth struct {
	// Status is HealthUp, HealthDown or HealthUnknown.
	Status string `json:"status"`
	// CheckedAt is when the service was last checked; zero if it never was.
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Error is why the last check failed.
	Error string `json:"error,omitempty"`
}

// ServiceConfig is a service as a solution added it: its per-solution parameters. The server
// never returns secret parameters (those the service marks as passwords).
type ServiceConfig struct {
	Service    string         `json:"service"`
	Parameters map[string]any `json:"parameters"`
	AddedAt    time.Time      `json:"added_at,omitzero"`
	UpdatedAt  time.Time      `json:"updated_at,omitzero"`
	// Info is what the service's x-exosite-info operation answered (GetSolutionService
	// only), as it came; InfoError says why that call failed.
	Info      json.RawMessage `json:"info,omitempty"`
	InfoError string          `json:"info_error,omitempty"`
}

// RetryPolicy is how often and how far apart a handler's durable runs are tried; waits are
// Go durations ("100ms", "30s"). Zero fields take the server's defaults.
type RetryPolicy struct {
	Attempts int    `json:"attempts,omitempty"`
	MinWait  string `json:"min_wait,omitempty"`
	MaxWait  string `json:"max_wait,omitempty"`
	// On names the kinds of failure retried ("runtime", "time", …); empty: every one.
	On []string `json:"on,omitempty"`
}

// Handler is an event handler of a solution: a Lua script run for each event on its topics.
type Handler struct {
	// Name identifies the handler in its solution. A name of the form "<service>_<event>"
	// ("demoexternalservice_event") subscribes to the topic "<service>.<event>" when Topics is
	// empty.
	Name string `json:"name"`
	// Topics are the "<service>.<event>" topics the handler runs for.
	Topics []string `json:"topics,omitempty"`
	// Script is the Lua source run for each event.
	Script string `json:"script"`
	// Retry is how durable events' runs of the handler are retried; nil: the server's
	// defaults.
	Retry *RetryPolicy `json:"retry,omitempty"`
	// MaxInFlight bounds the handler's concurrent durable runs on one server; 0: the
	// server's default (16).
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// OrderBy, when set, runs the handler's durable events one at a time per key, in the
	// order stored: "topic", "subject", "correlation_id" or "data.<path>".
	OrderBy string `json:"order_by,omitempty"`
	// Version counts the deployments of this handler, from 1. Set by the server.
	Version int64 `json:"version,omitempty"`
	// UpdatedAt is when the script was last deployed. Set by the server.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}
