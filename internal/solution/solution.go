// Package solution holds the tenants of Switchboard — solutions, their tokens and their
// endpoints — in JetStream KV, with an in-memory view kept fresh by watches so that request
// paths never read KV.
package solution

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// IDPattern is what a solution id must match.
var IDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrDeleting = errors.New("is being deleted; try again shortly")
)

// Limits are a solution's per-run script limits; zero fields use the engine's defaults.
type Limits struct {
	TimeoutMS   int64 `json:"timeout_ms,omitempty"`
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	CallDepth   int   `json:"call_depth,omitempty"`
	Steps       int64 `json:"steps,omitempty"`
}

// Bounds on what a solution may ask for, so one tenant cannot configure itself out of the sandbox.
const (
	MaxTimeoutMS   = 60_000
	MaxMemoryBytes = 256 << 20
	MaxCallDepth   = 1000
	MaxSteps       = 1_000_000_000
)

// FieldError is invalid input, naming the field.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks every limit is within bounds.
func (l Limits) Validate() error {
	switch {
	case l.TimeoutMS < 0 || l.TimeoutMS > MaxTimeoutMS:
		return &FieldError{"limits.timeout_ms", fmt.Sprintf("must be between 1 and %d (0 = default)", MaxTimeoutMS)}
	case l.MemoryBytes < 0 || l.MemoryBytes > MaxMemoryBytes:
		return &FieldError{"limits.memory_bytes", fmt.Sprintf("must be between 1 and %d (0 = default)", MaxMemoryBytes)}
	case l.MemoryBytes > 0 && l.MemoryBytes < 64<<10:
		return &FieldError{"limits.memory_bytes", "must be at least 65536 (64 KiB)"}
	case l.CallDepth < 0 || l.CallDepth > MaxCallDepth:
		return &FieldError{"limits.call_depth", fmt.Sprintf("must be between 1 and %d (0 = default)", MaxCallDepth)}
	case l.Steps < 0 || l.Steps > MaxSteps:
		return &FieldError{"limits.steps", fmt.Sprintf("must be between 1 and %d (0 = default)", MaxSteps)}
	}
	return nil
}

// Solution is one tenant.
type Solution struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Limits    Limits    `json:"limits"`
	// Debug shows callers of a failed endpoint the error's message and line, besides its id.
	Debug bool `json:"debug,omitempty"`
	// InvalidPayload is what the event gateway does with an application's event whose data
	// does not match its payload schema: PayloadReject ("" too) or PayloadMark.
	InvalidPayload string `json:"invalid_payload,omitempty"`
	// TokenHash is the SHA-256 of the solution's token; the token itself is never stored.
	TokenHash string `json:"token_hash"`
	// Deleting marks a solution whose deletion has begun: it no longer exists for anyone, and
	// its id cannot be taken again until everything it owned is gone.
	Deleting bool `json:"deleting,omitempty"`
}

// What the event gateway does with an event whose data does not match its payload schema.
const (
	// PayloadReject refuses the event (400 naming the data), the default.
	PayloadReject = "reject"
	// PayloadMark stores it with the extension payloadvalid=false.
	PayloadMark = "mark"
)

// ValidateInvalidPayload checks a solution's invalid_payload setting.
func ValidateInvalidPayload(v string) error {
	switch v {
	case "", PayloadReject, PayloadMark:
		return nil
	}
	return &FieldError{"invalid_payload", fmt.Sprintf("%q: want %s or %s", v, PayloadReject, PayloadMark)}
}

// MarksInvalidPayload says whether the gateway accepts, marked, an event whose data does not
// match its payload schema.
func (s Solution) MarksInvalidPayload() bool { return s.InvalidPayload == PayloadMark }

// ValidateID checks a solution id.
func ValidateID(id string) error {
	if !IDPattern.MatchString(id) {
		return &FieldError{"id", "must match " + IDPattern.String() + " (lower-case letters, digits and '-', 1 to 63 characters)"}
	}
	return nil
}

// NewToken makes a random solution token and its hash.
func NewToken() (token, hash string) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // rand.Read never fails on supported platforms.
	}
	token = "sbs_" + hex.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is how tokens are stored and looked up.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
