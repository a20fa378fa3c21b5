package servicekit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/oasdiff/yaml"
)

// methods are the HTTP methods an OpenAPI path item may hold operations for.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// document is what the service needs of its OpenAPI document.
type document struct {
	raw        map[string]any // the whole document, for rewriting the host
	v2         bool           // Swagger 2.0, else OpenAPI 3
	basePath   string         // "" for the root, else "/x" without a trailing slash
	healthPath string         // always starts with "/"
	routes     []*route       // sorted by template
	byID       map[string]*route
}

// route is one operation of the document.
type route struct {
	id       string
	method   string // upper case
	template string // the operation's path, relative to the base path
	segments []segment
	params   []param // the operation's parameters, the path item's ones included
	bodyName string  // name of the Swagger 2.0 body parameter, "" if none
}

// segment is one segment of a path template: a literal, or a {param}.
type segment struct {
	literal string
	param   string
}

type param struct {
	Name string `json:"name"`
	In   string `json:"in"`
	Ref  string `json:"$ref"`
}

type rawOperation struct {
	OperationID string  `json:"operationId"`
	Parameters  []param `json:"parameters"`
}

type rawDocument struct {
	Swagger  string `json:"swagger"`
	OpenAPI  string `json:"openapi"`
	BasePath string `json:"basePath"`
	Servers  []struct {
		URL       string `json:"url"`
		Variables map[string]struct {
			Default string `json:"default"`
		} `json:"variables"`
	} `json:"servers"`
	HealthPath any                                   `json:"x-exosite-health-path"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Parameters map[string]param                      `json:"parameters"` // Swagger 2.0
	Components struct {
		Parameters map[string]param `json:"parameters"`
	} `json:"components"`
}

// parseDocument reads the operations, base path and health path of an OpenAPI document in
// YAML or JSON.
func parseDocument(text []byte) (*document, error) {
	if len(strings.TrimSpace(string(text))) == 0 {
		return nil, errors.New("the document is empty")
	}
	j, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, fmt.Errorf("the document is neither YAML nor JSON: %w", err)
	}
	var rd rawDocument
	if err := json.Unmarshal(j, &rd); err != nil {
		return nil, fmt.Errorf("the document is not an OpenAPI document: %w", err)
	}
	d := &document{byID: map[string]*route{}}
	if err := json.Unmarshal(j, &d.raw); err != nil {
		return nil, fmt.Errorf("the document is not an object: %w", err)
	}
	switch {
	case rd.Swagger == "2.0":
		d.v2 = true
		d.basePath = cleanPath(rd.BasePath)
	case strings.HasPrefix(rd.OpenAPI, "3."):
		for _, s := range rd.Servers {
			raw := s.URL
			for name, v := range s.Variables {
				raw = strings.ReplaceAll(raw, "{"+name+"}", v.Default)
			}
			if u, err := url.Parse(raw); err == nil {
				d.basePath = cleanPath(u.Path)
				break
			}
		}
	default:
		return nil, errors.New(`the document has neither swagger: "2.0" nor openapi: "3.x"`)
	}
	switch hp := rd.HealthPath.(type) {
	case nil:
		d.healthPath = d.basePath
		if d.healthPath == "" {
			d.healthPath = "/"
		}
	case string:
		if !strings.HasPrefix(hp, "/") || strings.ContainsAny(hp, "?# ") {
			return nil, errors.New("x-exosite-health-path must be a path starting with /")
		}
		d.healthPath = hp
	default:
		return nil, errors.New("x-exosite-health-path must be a string")
	}
	resolve := func(p param) param {
		if p.Ref == "" {
			return p
		}
		for prefix, defs := range map[string]map[string]param{"#/parameters/": rd.Parameters, "#/components/parameters/": rd.Components.Parameters} {
			if name, ok := strings.CutPrefix(p.Ref, prefix); ok {
				if def, ok := defs[name]; ok {
					return def
				}
			}
		}
		return p
	}
	for template, item := range rd.Paths {
		if !strings.HasPrefix(template, "/") {
			return nil, fmt.Errorf("path %q does not start with /", template)
		}
		var common []param
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &common); err != nil {
				return nil, fmt.Errorf("path %s: parameters: %w", template, err)
			}
		}
		for _, m := range methods {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op rawOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", strings.ToUpper(m), template, err)
			}
			if op.OperationID == "" {
				continue // scripts call operations by operationId: without one it cannot be called
			}
			if prev, dup := d.byID[op.OperationID]; dup {
				return nil, fmt.Errorf("operationId %q is used by both %s %s and %s %s", op.OperationID, prev.method, prev.template, strings.ToUpper(m), template)
			}
			r := &route{id: op.OperationID, method: strings.ToUpper(m), template: template, segments: parseTemplate(template)}
			seen := map[string]bool{}
			for _, p := range append(op.Parameters, common...) { // the operation's override the path item's
				p = resolve(p)
				if key := p.In + "\x00" + p.Name; p.Name != "" && !seen[key] {
					seen[key] = true
					r.params = append(r.params, p)
					if p.In == "body" {
						r.bodyName = p.Name
					}
				}
			}
			d.byID[r.id] = r
			d.routes = append(d.routes, r)
		}
	}
	sort.Slice(d.routes, func(i, j int) bool {
		if d.routes[i].template != d.routes[j].template {
			return d.routes[i].template < d.routes[j].template
		}
		return d.routes[i].method < d.routes[j].method
	})
	return d, nil
}

// parseTemplate splits "/things/{id}" into its segments.
func parseTemplate(t string) []segment {
	t = strings.Trim(t, "/")
	if t == "" {
		return nil
	}
	var segs []segment
	for _, s := range strings.Split(t, "/") {
		if len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' {
			segs = append(segs, segment{param: s[1 : len(s)-1]})
		} else {
			segs = append(segs, segment{literal: s})
		}
	}
	return segs
}

// match returns the path parameters of p (relative to the base path, escaped) if it matches
// the route's template, and how many of the template's segments are literals.
func (r *route) match(segs []string) (map[string]string, bool) {
	if len(segs) != len(r.segments) {
		return nil, false
	}
	var params map[string]string
	for i, s := range r.segments {
		v, err := url.PathUnescape(segs[i])
		if err != nil {
			return nil, false
		}
		if s.param == "" {
			if v != s.literal {
				return nil, false
			}
			continue
		}
		if v == "" {
			return nil, false
		}
		if params == nil {
			params = map[string]string{}
		}
		params[s.param] = v
	}
	return params, true
}

// more reports whether the template of r is more specific than that of o: at the first
// segment where they differ, r has a literal and o a parameter.
func (r *route) more(o *route) bool {
	for i := range r.segments {
		if i >= len(o.segments) {
			return false
		}
		if a, b := r.segments[i].param == "", o.segments[i].param == ""; a != b {
			return a
		}
	}
	return false
}

// shape is the template with its parameter names dropped: routes of the same shape match the
// same paths.
func (r *route) shape() string {
	var b strings.Builder
	for _, s := range r.segments {
		b.WriteByte('/')
		if s.param != "" {
			b.WriteString("{}")
		} else {
			b.WriteString(s.literal)
		}
	}
	return b.String()
}

// relative is the escaped path p without the document's base path, false if p is not under it.
func (d *document) relative(p string) ([]string, bool) {
	if d.basePath != "" {
		rest, ok := strings.CutPrefix(p, d.basePath)
		if !ok || (rest != "" && rest[0] != '/') {
			return nil, false
		}
		p = rest
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, true
	}
	return strings.Split(p, "/"), true
}

// withHost returns the document as JSON with its host replaced: host of Swagger 2.0, the
// host of each absolute server URL of OpenAPI 3.
func (d *document) withHost(host string) (json.RawMessage, error) {
	if strings.ContainsAny(host, "/?#@ ") {
		return nil, fmt.Errorf("host %q is not a host name with an optional port", host)
	}
	doc := make(map[string]any, len(d.raw))
	for k, v := range d.raw {
		doc[k] = v
	}
	if d.v2 {
		doc["host"] = host
	} else if servers, ok := doc["servers"].([]any); ok {
		out := make([]any, len(servers))
		for i, s := range servers {
			out[i] = s
			m, ok := s.(map[string]any)
			if !ok {
				continue
			}
			raw, _ := m["url"].(string)
			u, err := url.Parse(raw)
			if err != nil || u.Host == "" {
				continue
			}
			u.Host = host
			c := make(map[string]any, len(m))
			for k, v := range m {
				c[k] = v
			}
			c["url"] = u.String()
			out[i] = c
		}
		doc["servers"] = out
	}
	return json.Marshal(doc)
}

// cleanPath is p without a trailing slash, "" for the root.
func cleanPath(p string) string {
	if p == "" {
		return ""
	}
	p = path.Clean("/" + p)
	if p == "/" {
		return ""
	}
	return p
}
