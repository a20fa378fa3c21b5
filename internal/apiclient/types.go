package apiclient

import "time"

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
}

// SolutionCreate is the body of POST /api/v1/solutions.
type SolutionCreate struct {
	ID string `json:"id"`
	// Limits may be left zero (or partly zero) for the server's defaults.
	Limits Limits `json:"limits,omitzero"`
}

// SolutionCreated is the answer to creating a solution: the solution and its token, which the
// server shows only this once.
type SolutionCreated struct {
	Solution
	Token string `json:"token"`
}

// SolutionUpdate is the body of PATCH /api/v1/solutions/{solution}. Limits replaces the
// solution's limits as a whole: a zero field goes back to the server's default. To change one
// limit, start from the solution's current Limits (GetSolution).
type SolutionUpdate struct {
	Limits Limits `json:"limits"`
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
