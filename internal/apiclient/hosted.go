package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// HostedProperty is a property an instance of a hosted service's version is given: static
// (configuration) or security (a secret, never shown once set).
type HostedProperty struct {
	Name string `json:"name"`
	// Type of a static property: string (the default), number or boolean.
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Default     any    `json:"default,omitempty"`
}

// HostedProperties are a version's property definitions.
type HostedProperties struct {
	Static   []HostedProperty `json:"static_properties,omitempty"`
	Security []HostedProperty `json:"security_properties,omitempty"`
}

// HostedVersion is one immutable version of a hosted service.
type HostedVersion struct {
	Version string `json:"version"`
	HostedProperties
	CodeBytes  int       `json:"code_bytes"`
	CodeSHA256 string    `json:"code_sha256"`
	CreatedAt  time.Time `json:"created_at"`
	// Code is set when a version is read by itself.
	Code string `json:"code,omitempty"`
}

// HostedService is a solution's hosted service with its versions, oldest first.
type HostedService struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"`
	Description string          `json:"description,omitempty"`
	Versions    []HostedVersion `json:"versions"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// HostedCreate is the body of POST /api/v1/solutions/{solution}/hosted-services.
type HostedCreate struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description,omitempty"`
	Code        string `json:"code"`
	HostedProperties
}

// HostedUpdate is the body of POST …/hosted-services/{name}/versions.
type HostedUpdate struct {
	// Update is "minor" (0.1 to 0.2) or "major" (0.2 to 1.0).
	Update string `json:"update"`
	Code   string `json:"code"`
	HostedProperties
}

func hostedPath(solution, name string, elems ...string) (string, error) {
	return namedPath(solution, "hosted-services", name, elems...)
}

// CreateHosted creates a hosted service with its version 0.1. A Lua service's code that does
// not compile is Status 400 with Field "code" and its Line.
func (c *Client) CreateHosted(ctx context.Context, solution string, in HostedCreate) (HostedService, error) {
	var out HostedService
	p, err := solutionPath(solution, "hosted-services")
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, p, in, &out)
	return out, err
}

// ListHosted lists a solution's hosted services.
func (c *Client) ListHosted(ctx context.Context, solution string) ([]HostedService, error) {
	p, err := solutionPath(solution, "hosted-services")
	if err != nil {
		return nil, err
	}
	return getList[HostedService](ctx, c, p)
}

// GetHosted returns one hosted service with its versions; Status 404 if there is none.
func (c *Client) GetHosted(ctx context.Context, solution, name string) (HostedService, error) {
	var out HostedService
	p, err := hostedPath(solution, name)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// AddHostedVersion stores the next version of a hosted service.
func (c *Client) AddHostedVersion(ctx context.Context, solution, name string, in HostedUpdate) (HostedVersion, error) {
	var out HostedVersion
	p, err := hostedPath(solution, name, "versions")
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodPost, p, in, &out)
	return out, err
}

// GetHostedVersion returns a version with its code: "1.2", the newest of a major ("1"), or
// "latest".
func (c *Client) GetHostedVersion(ctx context.Context, solution, name, version string) (HostedVersion, error) {
	var out HostedVersion
	if version == "" {
		version = "latest"
	}
	p, err := hostedPath(solution, name, "versions", url.PathEscape(version))
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// DeleteHosted removes a hosted service with every version's code.
func (c *Client) DeleteHosted(ctx context.Context, solution, name string) error {
	p, err := hostedPath(solution, name)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, nil)
	return err
}
