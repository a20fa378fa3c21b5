package catalog

import (
	"net/url"
	"sort"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchboardhq/switchboard/internal/service"
)

// DefaultTimeout is how long a call may take when the document sets no x-exosite-timeout.
const DefaultTimeout = 10 * time.Second

// Bounds of x-exosite-timeout.
const (
	MinTimeout = time.Millisecond
	MaxTimeout = 5 * time.Minute
)

// Description is a registered service as the hub sees it.
type Description struct {
	// Name is the service name; Description is info.description, else info.title; Version is
	// info.version.
	Name, Description, Version string
	// BaseURL is scheme://host[:port]/basePath of a Swagger 2.0 document (the first listed
	// scheme, http when none is) or the first server URL of an OpenAPI 3 document. With a
	// namespace the host becomes {name}.{namespace}:{port}, the port taken from the document or
	// else 80 or 443 by scheme.
	BaseURL *url.URL
	// HealthPath is x-exosite-health-path, else the base path, else "/".
	HealthPath string
	// Timeout is the document's x-exosite-timeout, else DefaultTimeout.
	Timeout time.Duration
	// Operations are the operations by operationId.
	Operations map[string]*Operation
	// Events are the events of x-events, by name.
	Events []Event
	// ConfigParameters is the per-solution configuration form of x-exosite-config-parameters,
	// in the document's order (by name when given as an object).
	ConfigParameters []ConfigParameter
	// Init, Update and GC are the operationIds of x-exosite-init, -update and -gc, "" if none.
	Init, Update, GC string
	// Doc is the document, converted to OpenAPI 3 when it was Swagger 2.0.
	Doc *openapi3.T

	public publicDoc // Doc without addresses, made on first use (PublicDoc)
}

// Operation is one operation of the service.
type Operation struct {
	ID, Method, Path, Summary string
	// Restricted operations (x-exosite-restricted: true) cannot be called from scripts.
	Restricted bool
	// Timeout is the operation's x-exosite-timeout, else the document's.
	Timeout time.Duration
	// Params are the path, query, header and cookie parameters, path-level ones included.
	Params []Param
	// Body is the request body, nil if the operation takes none.
	Body *BodySpec
}

// Param is a parameter of an operation.
type Param struct {
	Name string
	In   string // path, query, header or cookie
	// Required is true for every path parameter.
	Required bool
	Schema   *openapi3.SchemaRef
	// Default is the schema's default, nil if none.
	Default any
	// FromSolution (x-exosite-from: solution_id) parameters are filled in by the hub with the
	// calling solution's id, whatever the script passes.
	FromSolution bool
}

// BodySpec is the request body of an operation.
type BodySpec struct {
	Required bool
	// Schema is the schema of the application/json content, else of the first content type
	// in lexical order.
	Schema *openapi3.SchemaRef
	// Expand is true for an object body none of whose properties is also a parameter's name:
	// its properties are then separate arguments of the call.
	Expand bool
	// Name is the argument holding the whole body when it is not expanded: the Swagger 2.0
	// body parameter's name, else "body".
	Name string
}

// Event is an event the service may trigger.
type Event struct {
	Name, Description string
}

// ConfigParameter is one field of the per-solution configuration form.
type ConfigParameter struct {
	Name, Type, Description string
	// Secret parameters (format: password) are never shown back.
	Secret   bool
	Required bool
	Default  any
}

// Spec returns the service's spec: kind dynamic, the operations scripts may call by name and the
// events by name. Restricted operations are left out: scripts cannot call them, and the spec is
// what scripts, listings and help show. Each operation is described by its summary.
func (d *Description) Spec() service.Spec {
	spec := service.Spec{
		Name:        d.Name,
		Kind:        service.KindDynamic,
		Description: d.Description,
		Operations:  []service.Operation{},
	}
	for _, op := range d.Operations {
		if op.Restricted {
			continue
		}
		spec.Operations = append(spec.Operations, service.Operation{Name: op.ID, Description: op.Summary})
	}
	sort.Slice(spec.Operations, func(i, j int) bool { return spec.Operations[i].Name < spec.Operations[j].Name })
	for _, e := range d.Events {
		spec.Events = append(spec.Events, e.Name)
	}
	return spec
}
