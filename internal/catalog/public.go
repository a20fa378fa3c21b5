package catalog

import (
	"encoding/json"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// PublicDoc is the document as JSON without what says where the service runs: servers (of the
// document, its paths, operations, callbacks and links) and Swagger 2.0's host, basePath and
// schemes. Like the base URL, the address is for the admin only. Nor does it hold
// x-exosite-token, the secret a service gives for calling back (Murano removes it too). It is made once per
// description, on first use, not on every request that shows it; nil when there is none.
func (d *Description) PublicDoc() json.RawMessage {
	d.public.once.Do(func() { d.public.doc = withoutAddress(d.Doc) })
	return d.public.doc
}

// publicDoc holds a description's PublicDoc once made.
type publicDoc struct {
	once sync.Once
	doc  json.RawMessage
}

func withoutAddress(doc *openapi3.T) json.RawMessage {
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
