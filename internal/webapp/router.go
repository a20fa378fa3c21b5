package webapp

import (
	"strings"
)

// router matches request paths against a solution's endpoint path templates. Static segments
// win over {param} segments, which win over a trailing {rest...}.
type router struct {
	root *node
}

type node struct {
	static map[string]*node
	param  *node             // any one segment; each route keeps its own parameter names
	rest   map[string]*route // method → route, for a trailing {name...}
	routes map[string]*route // method → route ending at this node
}

func newNode() *node { return &node{static: map[string]*node{}} }

func newRouter() *router { return &router{root: newNode()} }

// add binds template (already validated) and method to rt.
func (r *router) add(method, template string, rt *route) {
	n := r.root
	segs := splitPath(template)
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}") && i == len(segs)-1 {
			if n.rest == nil {
				n.rest = map[string]*route{}
			}
			n.rest[method] = rt
			return
		}
		if strings.HasPrefix(seg, "{") {
			if n.param == nil {
				n.param = newNode()
			}
			n = n.param
			continue
		}
		next, ok := n.static[seg]
		if !ok {
			next = newNode()
			n.static[seg] = next
		}
		n = next
	}
	if n.routes == nil {
		n.routes = map[string]*route{}
	}
	n.routes[method] = rt
}

// match finds the routes for path: the methods bound there and the path parameters' values in
// template order. ok is false when no template matches the path at all.
func (r *router) match(path string) (routes map[string]*route, values []string, ok bool) {
	segs := splitPath(path)
	values = make([]string, 0, 4)
	return r.root.match(segs, values)
}

func (n *node) match(segs []string, values []string) (map[string]*route, []string, bool) {
	if len(segs) == 0 {
		if len(n.routes) > 0 {
			return n.routes, values, true
		}
		if len(n.rest) > 0 { // {rest...} also matches nothing
			return n.rest, append(values, ""), true
		}
		return nil, values, false
	}
	if next, ok := n.static[segs[0]]; ok {
		if rs, v, ok := next.match(segs[1:], values); ok {
			return rs, v, true
		}
	}
	if n.param != nil && segs[0] != "" {
		if rs, v, ok := n.param.match(segs[1:], append(values, segs[0])); ok {
			return rs, v, true
		}
	}
	if len(n.rest) > 0 {
		return n.rest, append(values, strings.Join(segs, "/")), true
	}
	return nil, values, false
}

// splitPath turns "/a/b" into ["a","b"] and "/" into [].
func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// paramNames lists a template's parameter names in order.
func paramNames(template string) []string {
	var names []string
	for _, seg := range splitPath(template) {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, strings.TrimSuffix(seg[1:len(seg)-1], "..."))
		}
	}
	return names
}
