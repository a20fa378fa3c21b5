package catalog

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// operations reads the document's operations by operationId; def is the document's timeout.
func operations(t *openapi3.T, def time.Duration) (map[string]*Operation, error) {
	ops := map[string]*Operation{}
	if t.Paths == nil {
		return ops, nil
	}
	paths := t.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, p := range paths {
		item := t.Paths.Value(p)
		if item == nil {
			continue
		}
		methods := make([]string, 0, 8)
		byMethod := item.Operations()
		for m := range byMethod {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, m := range methods {
			o := byMethod[m]
			if o == nil {
				continue
			}
			op, err := operation(strings.ToUpper(m), p, item, o, def)
			if err != nil {
				return nil, err
			}
			if prev, dup := ops[op.ID]; dup {
				return nil, invalid(FieldSwagger, fmt.Sprintf("operationId %q is used by both %s %s and %s %s", op.ID, prev.Method, prev.Path, op.Method, op.Path))
			}
			ops[op.ID] = op
		}
	}
	return ops, nil
}

// operation reads the operation of method on path p; its summary falls back to its description.
func operation(method, p string, item *openapi3.PathItem, o *openapi3.Operation, def time.Duration) (*Operation, error) {
	if o.OperationID == "" {
		return nil, invalid(FieldSwagger, fmt.Sprintf("operation %s %s has no operationId", method, p))
	}
	op := &Operation{ID: o.OperationID, Method: method, Path: p, Summary: o.Summary}
	if op.Summary == "" {
		op.Summary = o.Description
	}
	if err := operationDocs(op, o); err != nil {
		return nil, err
	}
	var err error
	if op.Restricted, op.Hidden, err = restriction(o.Extensions); err != nil {
		return nil, invalid(FieldSwagger, fmt.Sprintf("operation %s: %v", op.ID, err))
	}
	if op.Timeout, err = timeout(o.Extensions, def); err != nil {
		return nil, within("operation "+op.ID, err)
	}
	if op.Params, err = params(op.ID, item.Parameters, o.Parameters); err != nil {
		return nil, err
	}
	op.Body = body(o.RequestBody, op.Params)
	return op, nil
}

// params merges the path item's parameters with the operation's, which override them.
func params(id string, shared, own openapi3.Parameters) ([]Param, error) {
	var out []Param
	index := map[string]int{}
	for _, list := range []openapi3.Parameters{shared, own} {
		for _, ref := range list {
			if ref == nil || ref.Value == nil {
				continue
			}
			v := ref.Value
			p := Param{Name: v.Name, In: v.In, Required: v.Required || v.In == openapi3.ParameterInPath, Schema: v.Schema, Description: v.Description}
			if v.Schema != nil && v.Schema.Value != nil {
				p.Default = v.Schema.Value.Default
			}
			var err error
			if p.Restricted, p.Hidden, p.From, err = access(v.Extensions); err != nil {
				return nil, invalid(FieldSwagger, fmt.Sprintf("operation %s: parameter %q: %v", id, v.Name, err))
			}
			key := v.In + " " + v.Name
			if i, ok := index[key]; ok {
				out[i] = p
				continue
			}
			index[key] = len(out)
			out = append(out, p)
		}
	}
	return out, nil
}

// body reads the request body and how it is sent (see mediaType). An object body is expanded
// unless one of its properties is also a parameter's name or its Swagger 2.0 parameter says
// x-exosite-expand-body-parameters: false.
func body(ref *openapi3.RequestBodyRef, params []Param) *BodySpec {
	if ref == nil || ref.Value == nil {
		return nil
	}
	rb := ref.Value
	b := &BodySpec{Required: rb.Required, Name: "body"}
	if n, ok := rb.Extensions[extOriginalParamName].(string); ok && n != "" {
		b.Name = n
	}
	types := make([]string, 0, len(rb.Content))
	for t := range rb.Content {
		types = append(types, t)
	}
	sort.Strings(types)
	// The schema of the JSON content, else of the first type: the Swagger 2.0 converter puts
	// the same schema under every type the operation consumes.
	if mt := rb.Content.Get(MediaJSON); mt != nil {
		b.Schema = mt.Schema
	} else if len(types) > 0 && rb.Content[types[0]] != nil {
		b.Schema = rb.Content[types[0]].Schema
	}
	var s *openapi3.Schema
	if b.Schema != nil {
		s = b.Schema.Value
	}
	b.MediaType = mediaType(types, s)
	if s == nil || !s.Type.Is(openapi3.TypeObject) && !(s.Type == nil && len(s.Properties) > 0) {
		return b
	}
	b.Expand = rb.Extensions[extExpandBody] != false
	for _, p := range params {
		if _, clash := s.Properties[p.Name]; clash {
			b.Expand = false
		}
	}
	return b
}

// Media types of request bodies (BodySpec.MediaType).
const (
	MediaJSON      = "application/json"
	MediaForm      = "application/x-www-form-urlencoded"
	MediaMultipart = "multipart/form-data"
	// MediaText is the type of a string body of an operation that declares only JSON.
	MediaText = "text/plain"
)

// Extensions read off request bodies.
const (
	// extFormDataName marks the properties the Swagger 2.0 converter makes of formData
	// parameters.
	extFormDataName = "x-formData-name"
	// extExpandBody: false keeps an object body parameter one argument.
	extExpandBody = "x-exosite-expand-body-parameters"
)

// mediaType is how a body of schema s is sent, given the content types the operation declares
// (for Swagger 2.0, what it consumes; "*/*" when it says nothing):
//   - a body made of Swagger 2.0 formData parameters is multipart/form-data when one of them is
//     a file or the operation consumes only multipart, else a URL-encoded form;
//   - a string body is sent as it is, as a URL-encoded form when the operation accepts one,
//     else with the first declared type that is neither JSON nor multipart, else text/plain;
//   - any other body is JSON when the operation accepts JSON or says nothing, else a form when
//     it accepts one (multipart when that is the only one), else JSON.
func mediaType(types []string, s *openapi3.Schema) string {
	has := func(want string) bool {
		for _, t := range types {
			if strings.EqualFold(mediaBase(t), want) {
				return true
			}
		}
		return false
	}
	acceptsJSON := len(types) == 0
	for _, t := range types {
		if isJSON(t) {
			acceptsJSON = true
		}
	}
	form := func() string {
		if has(MediaForm) || !has(MediaMultipart) {
			return MediaForm
		}
		return MediaMultipart
	}
	switch {
	case s != nil && formData(s):
		for _, p := range s.Properties {
			if isFile(p) {
				return MediaMultipart
			}
		}
		return form()
	case s != nil && s.Type.Is(openapi3.TypeString):
		if has(MediaForm) {
			return MediaForm
		}
		// A string cannot be multipart: that needs the boundary the hub writes.
		for _, t := range types {
			if !isJSON(t) && !strings.EqualFold(mediaBase(t), MediaMultipart) {
				return t
			}
		}
		return MediaText
	case acceptsJSON:
		return MediaJSON
	case has(MediaForm) || has(MediaMultipart):
		return form()
	}
	return MediaJSON
}

// formData reports whether object schema s is made of Swagger 2.0 formData parameters (the
// converter marks each property with x-formData-name).
func formData(s *openapi3.Schema) bool {
	for _, p := range s.Properties {
		if p != nil && p.Value != nil {
			if _, ok := p.Value.Extensions[extFormDataName]; ok {
				return true
			}
		}
	}
	return false
}

// isFile reports whether a property is a file: Swagger 2.0's type: file, which the converter
// makes a binary string, as OpenAPI 3 writes one.
func isFile(p *openapi3.SchemaRef) bool {
	return p != nil && p.Value != nil && p.Value.Type.Is(openapi3.TypeString) && p.Value.Format == "binary"
}

// IsFile reports whether the property of body schema s named name is a file of a
// multipart/form-data body.
func (b *BodySpec) IsFile(name string) bool {
	if b == nil || b.Schema == nil || b.Schema.Value == nil {
		return false
	}
	return isFile(b.Schema.Value.Properties[name])
}

// isJSON reports whether media type t is JSON: application/json, any +json type, or the "*/*"
// the Swagger 2.0 converter writes for an operation that consumes nothing in particular.
func isJSON(t string) bool {
	t = strings.ToLower(mediaBase(t))
	return t == MediaJSON || t == "*/*" || strings.HasSuffix(t, "+json")
}

// mediaBase is media type t without its parameters.
func mediaBase(t string) string {
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	return strings.TrimSpace(t)
}
