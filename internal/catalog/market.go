package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// extExample is an operation's Lua example, shown by the marketplace.
const extExample = "x-exosite-example"

// Market is a service as the marketplace shows it: what a user needs to add the service to a
// solution and call it from scripts. It holds nothing secret (no configured value, no default
// or choices of a secret parameter) and nothing of where the service runs, so it may be shown
// to anyone who may see the service.
type Market struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Version is the document's info.version.
	Version string      `json:"version,omitempty"`
	Tags    []MarketTag `json:"tags"`
	// ConfigParameters are the configuration form, in the document's order; hidden ones are
	// left out.
	ConfigParameters []MarketParameter `json:"config_parameters"`
	// Operations are what scripts may call, by name; restricted and hidden ones are left out.
	Operations []MarketOperation `json:"operations"`
	Events     []MarketEvent     `json:"events"`
	// SecuritySchemes are how the hub authenticates to the service.
	SecuritySchemes []MarketScheme `json:"security_schemes"`
	// Security is the document's requirement: alternatives, each naming the schemes applied
	// together.
	Security [][]string `json:"security,omitempty"`
}

// MarketTag is a tag of the document.
type MarketTag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// MarketParameter is one field of the configuration form.
type MarketParameter struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Secret      bool   `json:"secret"`
	Description string `json:"description,omitempty"`
	// Default and Enum are never given for a secret parameter.
	Default any   `json:"default,omitempty"`
	Enum    []any `json:"enum,omitempty"`
	// Restricted parameters are not the user's to set; From names where the hub takes the
	// value (solution_id, domain, business_id).
	Restricted bool   `json:"restricted,omitempty"`
	From       string `json:"from,omitempty"`
}

// MarketOperation is an operation scripts may call.
type MarketOperation struct {
	Name        string `json:"name"`
	Summary     string `json:"summary,omitempty"`
	Description string `json:"description,omitempty"`
	// Example is the x-exosite-example Lua script, as written.
	Example string   `json:"example,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	// Security is the requirement that applies to the operation (its own, else the
	// document's); absent when it needs none.
	Security [][]string `json:"security,omitempty"`
}

// MarketEvent is an event the service may trigger; handlers subscribe to <service>.<name>.
type MarketEvent struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// MarketScheme is a security scheme: its name, type and description. The parameters it takes
// its credentials from are named; their values never appear.
type MarketScheme struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	// UserField and SecretField name the configuration parameters holding the credentials.
	UserField   string `json:"user_field,omitempty"`
	SecretField string `json:"secret_field,omitempty"`
}

// Market returns the service as the marketplace shows it.
func (d *Description) Market() Market {
	m := Market{
		Name: d.Name, Description: d.Description, Version: d.Version, Security: d.Security,
		Tags: []MarketTag{}, ConfigParameters: []MarketParameter{}, Operations: []MarketOperation{},
		Events: []MarketEvent{}, SecuritySchemes: []MarketScheme{},
	}
	for _, t := range d.Tags {
		m.Tags = append(m.Tags, MarketTag(t))
	}
	for _, p := range d.ConfigParameters {
		if p.Hidden {
			continue
		}
		mp := MarketParameter{Name: p.Name, Title: p.Title, Type: p.Type, Required: p.Required, Secret: p.Secret,
			Description: p.Description, Restricted: p.Restricted, From: p.From}
		if !p.Secret {
			mp.Default, mp.Enum = p.Default, p.Enum
		}
		m.ConfigParameters = append(m.ConfigParameters, mp)
	}
	for _, op := range d.Operations {
		if op.Restricted || op.Hidden {
			continue
		}
		mo := MarketOperation{Name: op.ID, Summary: op.Summary, Example: op.Example, Tags: op.Tags, Security: op.Security}
		if op.Description != op.Summary {
			mo.Description = op.Description
		}
		if mo.Security == nil {
			mo.Security = d.Security
		}
		if len(mo.Security) == 0 {
			mo.Security = nil
		}
		m.Operations = append(m.Operations, mo)
	}
	sort.Slice(m.Operations, func(i, j int) bool { return m.Operations[i].Name < m.Operations[j].Name })
	for _, e := range d.Events {
		m.Events = append(m.Events, MarketEvent(e))
	}
	for _, s := range d.SecuritySchemes {
		m.SecuritySchemes = append(m.SecuritySchemes, MarketScheme{Name: s.Name, Type: s.Type, Description: s.Description,
			UserField: s.UserField, SecretField: s.SecretField})
	}
	return m
}

// documentTags reads the document's tags, in its order.
func documentTags(t *openapi3.T) []Tag {
	var out []Tag
	for _, tag := range t.Tags {
		if tag != nil && tag.Name != "" {
			out = append(out, Tag{Name: tag.Name, Description: tag.Description})
		}
	}
	return out
}

// operationDocs reads what documents an operation: its description, x-exosite-example (as
// written, but for trailing white space) and tags.
func operationDocs(op *Operation, o *openapi3.Operation) error {
	op.Description = o.Description
	op.Tags = o.Tags
	switch v := o.Extensions[extExample].(type) {
	case nil:
	case string:
		op.Example = strings.TrimRight(v, " \t\r\n")
	default:
		return invalid(FieldSwagger, fmt.Sprintf("operation %s: %s must be a string (a Lua script)", op.ID, extExample))
	}
	return nil
}
