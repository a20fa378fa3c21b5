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

// body reads the request body: the schema of its JSON content, else of its first content
// type. An object body is expanded unless one of its properties is also a parameter's name.
func body(ref *openapi3.RequestBodyRef, params []Param) *BodySpec {
	if ref == nil || ref.Value == nil {
		return nil
	}
	rb := ref.Value
	b := &BodySpec{Required: rb.Required, Name: "body"}
	if n, ok := rb.Extensions[extOriginalParamName].(string); ok && n != "" {
		b.Name = n
	}
	if mt := rb.Content.Get("application/json"); mt != nil {
		b.Schema = mt.Schema
	} else {
		types := make([]string, 0, len(rb.Content))
		for t := range rb.Content {
			types = append(types, t)
		}
		sort.Strings(types)
		if len(types) > 0 && rb.Content[types[0]] != nil {
			b.Schema = rb.Content[types[0]].Schema
		}
	}
	if b.Schema == nil || b.Schema.Value == nil {
		return b
	}
	s := b.Schema.Value
	if !s.Type.Is(openapi3.TypeObject) && !(s.Type == nil && len(s.Properties) > 0) {
		return b
	}
	b.Expand = true
	for _, p := range params {
		if _, clash := s.Properties[p.Name]; clash {
			b.Expand = false
		}
	}
	return b
}
