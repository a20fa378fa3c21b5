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
	// Init, Update, GC and Info are the operationIds of x-exosite-init, -update, -gc and
	// -info, "" if none.
	Init, Update, GC, Info string
	// SecuritySchemes are the document's security schemes (Swagger 2.0 securityDefinitions,
	// OpenAPI 3 components.securitySchemes), by name.
	SecuritySchemes []SecurityScheme
	// Security is the document's security requirement: alternatives, each naming the schemes
	// applied together; nil when the document sets none.
	Security [][]string
	// Tags are the document's tags, in its order.
	Tags []Tag
	// Doc is the document, converted to OpenAPI 3 when it was Swagger 2.0.
	Doc *openapi3.T

	public publicDoc // Doc without addresses, made on first use (PublicDoc)
	// callbackToken is the document's x-exosite-token, "" if none: a second secret, of the
	// service's choosing, it may call the hub with.
	callbackToken string
}

// Operation is one operation of the service.
type Operation struct {
	ID, Method, Path, Summary string
	// Description is the operation's description; Example its x-exosite-example (Lua); Tags
	// its tags.
	Description, Example string
	Tags                 []string
	// Hidden operations (x-exosite-hidden: true) are left out of documentation.
	Hidden bool
	// Security is the operation's own security requirement, nil when it takes the
	// document's; an empty, non-nil list means none.
	Security [][]string
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
	// From is x-exosite-from: solution_id, domain or business_id, "" if none. The hub fills
	// such a parameter in from the calling solution, whatever the script passes.
	From string
	// Restricted parameters (x-exosite-restricted or x-exosite-internal-use: true) cannot be
	// set by scripts: their value is the From source's, else the solution's configuration
	// parameter of that name, else the schema's default.
	Restricted bool
	// Hidden parameters (x-exosite-hidden: true) are left out of documentation.
	Hidden      bool
	Description string
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
	// MediaType is how the body is sent: application/json, application/x-www-form-urlencoded,
	// multipart/form-data, or the declared type of a string body.
	MediaType string
}

// Event is an event the service may trigger.
type Event struct {
	Name, Description string
}

// ConfigParameter is one field of the per-solution configuration form.
type ConfigParameter struct {
	Name, Type, Description, Title string
	// Secret parameters (format: password, or used as a credential by a security scheme) are
	// never shown back.
	Secret   bool
	Required bool
	Default  any
	Enum     []any
	// Restricted parameters (x-exosite-restricted or x-exosite-internal-use: true) cannot be
	// set by users; From (x-exosite-from: solution_id, domain or business_id) fills them in
	// from the solution, else they take their default.
	Restricted bool
	From       string
	// Hidden parameters (x-exosite-hidden: true) are left out of forms and documentation.
	Hidden bool
}

// Tag is a tag of the document.
type Tag struct {
	Name, Description string
}

// SecurityScheme is one security scheme of the document, applied by the hub to the calls of
// the operations that require it.
type SecurityScheme struct {
	// Name is the scheme's key in the document.
	Name string
	// Type is one of the SecurityType* constants, whatever the case in the document.
	Type        string
	Description string
	// In is where an apiKey goes: header or query. ParamName is that header's or query
	// parameter's name (the scheme's name).
	In, ParamName string
	// UserField and SecretField name the parameters holding the credentials
	// (x-exosite-user-field, x-exosite-secret-field, x-exosite-from, or the scheme's name as
	// Murano documents for each type).
	UserField, SecretField string
	// Prefix is x-exosite-prefix: put before an apiKey's value, separated by a space.
	Prefix string
	// Restricted schemes (x-exosite-restricted or x-exosite-internal-use: true) take their
	// credentials from the solution's configuration only, never from a script's arguments.
	Restricted bool
}

// Security scheme types.
const (
	SecurityBasic     = "basic"
	SecurityAPIKey    = "apiKey"
	SecurityBearer    = "bearer"
	SecurityOAuth2    = "oauth2"
	SecuritySignature = "signature"
	SecurityClientCA  = "clientCA"
)

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
