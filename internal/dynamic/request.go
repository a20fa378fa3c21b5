package dynamic

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/service"
)

// call is one call being mapped onto its operation.
type call struct {
	d        *catalog.Description
	op       *catalog.Operation
	name     string // Alias.operationId, the prefix of error messages
	solution string
	domain   string // the solution's domain, for x-exosite-from: domain
	args     map[string]any
	params   map[string]any
	opts     []openapi3.SchemaValidationOption
	// lifecycle calls (x-exosite-init, …) take the solution's parameters alone.
	lifecycle bool
}

// request is the HTTP request a call maps to, before headers.
type request struct {
	method string
	url    string
	header http.Header
	body   []byte // nil when the request has none
	// contentType is the body's Content-Type, as its encoding made it.
	contentType string
}

// newCall checks args is a table of named arguments.
func newCall(d *catalog.Description, op *catalog.Operation, solution string, args any, params map[string]any) (*call, error) {
	c := &call{d: d, op: op, name: service.Alias(d.Name) + "." + op.ID, solution: solution, params: params}
	switch a := args.(type) {
	case nil:
	case map[string]any:
		c.args = a
	case []any:
		if len(a) > 0 {
			return nil, c.errorf(400, "arguments must be a table of named arguments, not a list")
		}
	default:
		return nil, c.errorf(400, "arguments must be a table of named arguments, not %s", kind(args))
	}
	if d.Doc != nil && d.Doc.OpenAPIMajorMinor() != "3.0" && d.Doc.OpenAPIMajorMinor() != "" {
		c.opts = append(c.opts, openapi3.EnableJSONSchema2020())
	}
	return c, nil
}

// errorf is a *service.Error of status about the call.
func (c *call) errorf(status int, format string, args ...any) *service.Error {
	return service.Errorf(status, "%s: %s", c.name, fmt.Sprintf(format, args...))
}

// build maps the arguments onto the operation's parameters and body and validates them.
func (c *call) build() (*request, error) {
	r := &request{method: c.op.Method, header: http.Header{}}
	used := make(map[string]bool, len(c.op.Params)+1)
	path := c.op.Path
	query := url.Values{}
	var cookies []*http.Cookie
	for _, p := range c.op.Params {
		used[p.Name] = true
		v, err := c.param(p)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		switch p.In {
		case openapi3.ParameterInPath:
			path = strings.ReplaceAll(path, "{"+p.Name+"}", url.PathEscape(joined(v)))
		case openapi3.ParameterInQuery:
			if list, ok := v.([]any); ok {
				for _, e := range list {
					query.Add(p.Name, scalar(e))
				}
			} else {
				query.Add(p.Name, scalar(v))
			}
		case openapi3.ParameterInHeader:
			r.header.Set(p.Name, joined(v))
		case openapi3.ParameterInCookie:
			cookies = append(cookies, &http.Cookie{Name: p.Name, Value: url.QueryEscape(joined(v))})
		}
	}
	if err := c.authorize(r.header, query, used); err != nil {
		return nil, err
	}
	body, err := c.body(used)
	if err != nil {
		return nil, err
	}
	if body != nil {
		if r.body, r.contentType, err = c.encode(body); err != nil {
			return nil, err
		}
	}
	for _, ck := range cookies {
		if s := ck.String(); s != "" {
			r.header.Add("Cookie", s)
		}
	}
	u := strings.TrimSuffix(c.d.BaseURL.String(), "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	r.url = u
	return r, nil
}

// param is the value of parameter p, validated; nil when there is none and none is required.
// A parameter with a From source gets the calling solution's value; a restricted one, and a
// path parameter named like one of the solution's configuration parameters, the configured
// value, else the schema's default (the script's argument is ignored, as Murano does); any
// other the argument, else the configuration parameter, else the default.
func (c *call) param(p catalog.Param) (any, error) {
	var v any
	switch {
	case p.From != "":
		v = c.from(p.From)
	case p.Restricted || (p.In == openapi3.ParameterInPath && c.params[p.Name] != nil):
		v = c.configured(p.Name, p.Schema, p.Default)
	default:
		v = c.value(p.Name, p.Schema, p.Default)
	}
	if v == nil {
		if p.Required {
			return nil, c.missing(p.Name, p.Restricted)
		}
		return nil, nil
	}
	if err := c.validate(p.Name, p.Schema, v); err != nil {
		return nil, err
	}
	return v, nil
}

// from is the value of an x-exosite-from source for the calling solution.
func (c *call) from(source string) any { return fromSource(source, c.solution, c.domain) }

// fromSource is the value of an x-exosite-from source for a solution and its domain.
// Switchboard has no business above solutions: a business id is the solution's id.
func fromSource(source, solution, domain string) any {
	switch source {
	case catalog.FromSolutionID, catalog.FromBusinessID:
		return solution
	case catalog.FromDomain:
		return domain
	}
	return nil
}

// missing is the refusal of a required parameter or argument name with no value; restricted
// ones cannot come from the script.
func (c *call) missing(name string, restricted bool) error {
	switch {
	case c.lifecycle:
		return c.errorf(400, "missing required parameter %q (no configuration parameter of that name)", name)
	case restricted:
		return c.errorf(400, "missing required parameter %q: scripts cannot set it and the solution has no configuration parameter of that name", name)
	}
	return c.errorf(400, "missing required argument %q", name)
}

// value is argument name, else the solution's parameter of that name, else def; normalized
// to schema s.
func (c *call) value(name string, s *openapi3.SchemaRef, def any) any {
	if v := c.args[name]; v != nil {
		return normalize(s, v)
	}
	return c.configured(name, s, def)
}

// configured is the solution's parameter name, else def; normalized to schema s.
func (c *call) configured(name string, s *openapi3.SchemaRef, def any) any {
	v := c.params[name]
	if v == nil {
		v = def
	}
	return normalize(s, v)
}

// body is the request body: the object of the arguments not used by parameters for an
// expanded body, else the argument named after the body. It is nil when there is none. It is
// validated as its schema sees it (see fileContents) and encoded by encode.
func (c *call) body(used map[string]bool) (any, error) {
	b := c.op.Body
	if b == nil || !b.Expand {
		if b != nil {
			used[b.Name] = true
		}
		if extra := unused(c.args, used); len(extra) > 0 {
			return nil, c.errorf(400, "unknown argument %q", extra[0])
		}
		if b == nil {
			return nil, nil
		}
		v := normalize(b.Schema, c.args[b.Name])
		if v == nil {
			if b.Required {
				return nil, c.missing(b.Name, false)
			}
			return nil, nil
		}
		seen, err := c.fileContents(v)
		if err != nil {
			return nil, err
		}
		return v, c.validate(b.Name, b.Schema, seen)
	}
	obj := map[string]any{}
	for k, v := range c.args {
		if !used[k] && v != nil {
			obj[k] = v
		}
	}
	s := b.Schema.Value
	for name, ps := range s.Properties {
		var def any
		if ps != nil && ps.Value != nil {
			def = ps.Value.Default
		}
		if used[name] {
			continue
		}
		if v := c.value(name, ps, def); v != nil {
			obj[name] = v
		}
	}
	for _, name := range s.Required {
		if obj[name] == nil {
			return nil, c.missing(name, false)
		}
	}
	if len(obj) == 0 && !b.Required {
		return nil, nil
	}
	seen, err := c.fileContents(obj)
	if err != nil {
		return nil, err
	}
	if err := b.Schema.Value.VisitJSON(seen, c.validation()...); err != nil {
		return nil, c.invalid("", err)
	}
	return obj, nil
}

// validate checks argument name's value v against schema s.
func (c *call) validate(name string, s *openapi3.SchemaRef, v any) error {
	if s == nil || s.Value == nil {
		return nil
	}
	if err := s.Value.VisitJSON(v, c.validation()...); err != nil {
		return c.invalid(name, err)
	}
	return nil
}

func (c *call) validation() []openapi3.SchemaValidationOption {
	return append([]openapi3.SchemaValidationOption{openapi3.VisitAsRequest()}, c.opts...)
}

// unused lists the names of the non-nil arguments not in used, sorted.
func unused(args map[string]any, used map[string]bool) []string {
	var out []string
	for k, v := range args {
		if !used[k] && v != nil {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
