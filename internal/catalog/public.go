package catalog

import (
	"encoding/json"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// PublicDoc is the document as JSON without what says where the service runs: servers (of the
// document, its paths, operations, callbacks and links) and Swagger 2.0's host, basePath and
// schemes. Like the base URL, the address is for the admin only. Nor does it have what the
// marketplace leaves out (see undocumented), nor x-exosite-token, the secret a service gives
// for calling back (Murano removes it too). It is made once per description, on first use,
// not on every request that shows it; nil when there is none.
func (d *Description) PublicDoc() json.RawMessage {
	d.public.once.Do(func() { d.public.doc = withoutAddress(d.Doc, d.ConfigParameters) })
	return d.public.doc
}

// publicDoc holds a description's PublicDoc once made.
type publicDoc struct {
	once sync.Once
	doc  json.RawMessage
}

func withoutAddress(doc *openapi3.T, form []ConfigParameter) json.RawMessage {
	if doc == nil {
		return nil
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil
	}
	for _, k := range []string{"servers", "host", "basePath", "schemes", extToken} {
		delete(m, k)
	}
	for _, item := range objects(m["paths"]) {
		stripPathItem(item)
	}
	for _, item := range objects(m["webhooks"]) {
		stripPathItem(item)
	}
	comp, _ := m["components"].(map[string]any)
	for _, item := range objects(comp["pathItems"]) {
		stripPathItem(item)
	}
	for _, cb := range objects(comp["callbacks"]) {
		for _, item := range objects(cb) {
			stripPathItem(item)
		}
	}
	for _, link := range objects(comp["links"]) {
		delete(link, "server")
	}
	for _, resp := range objects(comp["responses"]) {
		stripResponse(resp)
	}
	undocumented(m, form)
	out, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return out
}

// objects are the values of v that are JSON objects, when v is one.
func objects(v any) []map[string]any {
	m, _ := v.(map[string]any)
	out := make([]map[string]any, 0, len(m))
	for _, x := range m {
		if o, ok := x.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// stripPathItem drops the servers of a path item, its operations, their callbacks (path items
// again) and their responses' links. It walks only where OpenAPI puts addresses, so a schema
// property that happens to be named "servers" stays.
func stripPathItem(item map[string]any) {
	delete(item, "servers")
	for _, op := range objects(item) {
		delete(op, "servers")
		for _, cb := range objects(op["callbacks"]) {
			for _, inner := range objects(cb) {
				stripPathItem(inner)
			}
		}
		for _, resp := range objects(op["responses"]) {
			stripResponse(resp)
		}
	}
}

func stripResponse(resp map[string]any) {
	for _, link := range objects(resp["links"]) {
		delete(link, "server")
	}
}

// methods are the keys of a path item that hold operations.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// undocumented removes from the document what Murano keeps out of documentation: hidden and
// restricted operations and parameters (x-exosite-hidden, x-exosite-restricted,
// x-exosite-internal-use), hidden configuration parameters, and the default and choices of
// secret ones (form is the description's configuration form, which knows which are).
func undocumented(m map[string]any, form []ConfigParameter) {
	paths, _ := m["paths"].(map[string]any)
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			continue
		}
		shownParams(item)
		removed, left := false, false
		for _, method := range methods {
			op, ok := item[method].(map[string]any)
			switch {
			case !ok:
			case undocumentedExt(op):
				delete(item, method)
				removed = true
			default:
				shownParams(op)
				left = true
			}
		}
		if removed && !left {
			delete(paths, path) // the path would tell of what it held
		}
	}
	hidden, secret := map[string]bool{}, map[string]bool{}
	for _, p := range form {
		hidden[p.Name], secret[p.Name] = p.Hidden, p.Secret
	}
	show := func(name string, p map[string]any) bool {
		if secret[name] {
			delete(p, "default")
			delete(p, "enum")
		}
		return !hidden[name]
	}
	switch v := m[extConfigParams].(type) {
	case []any:
		kept := v[:0]
		for _, x := range v {
			p, _ := x.(map[string]any)
			if name, _ := p["name"].(string); p == nil || show(name, p) {
				kept = append(kept, x)
			}
		}
		m[extConfigParams] = kept
	case map[string]any:
		byName := v
		if props, ok := v["properties"].(map[string]any); ok && v["type"] == "object" {
			byName = props
		}
		for name, x := range byName {
			if p, ok := x.(map[string]any); ok && !show(name, p) {
				delete(byName, name)
			}
		}
	}
}

// undocumentedExt reports whether an operation's or parameter's extensions keep it out of
// documentation: hidden, internal use, or restricted, which Murano documents as "restrict and
// hide".
func undocumentedExt(ext map[string]any) bool {
	restricted, hidden, _ := restriction(ext) // a bad value was refused when the document was read
	return hidden || restricted
}

// shownParams drops the hidden and restricted parameters of a path item or operation.
func shownParams(owner map[string]any) {
	list, ok := owner["parameters"].([]any)
	if !ok {
		return
	}
	kept := list[:0]
	for _, x := range list {
		if p, _ := x.(map[string]any); p == nil || !undocumentedExt(p) {
			kept = append(kept, x)
		}
	}
	owner["parameters"] = kept
}
