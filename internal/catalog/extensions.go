package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Extensions read by Parse.
const (
	extInit         = "x-exosite-init"
	extUpdate       = "x-exosite-update"
	extGC           = "x-exosite-gc"
	extInfo         = "x-exosite-info"
	extHealthPath   = "x-exosite-health-path"
	extConfigParams = "x-exosite-config-parameters"
	extRestricted   = "x-exosite-restricted"
	extFrom         = "x-exosite-from"
	extHidden       = "x-exosite-hidden"
	extInternalUse  = "x-exosite-internal-use"
	extTimeout      = "x-exosite-timeout"
	extEvents       = "x-events"
	// extOriginalParamName is where the Swagger 2.0 converter keeps a body parameter's name.
	extOriginalParamName = "x-originalParamName"
)

// Sources of x-exosite-from: what the hub fills a parameter in with, from the calling
// solution. Switchboard has no business above solutions, so a business id is the solution's
// id; a domain is the solution's host under the hub's apps domain (see dynamic.Options).
const (
	FromSolutionID = "solution_id"
	FromDomain     = "domain"
	FromBusinessID = "business_id"
)

// HubSet reports whether the hub, not the user, sets the parameter: a restricted one or one
// with a From source.
func (p ConfigParameter) HubSet() bool { return p.Restricted || p.From != "" }

// restriction reads x-exosite-restricted, x-exosite-hidden and x-exosite-internal-use (restricted
// and hidden both) off an operation's or parameter's extensions.
func restriction(ext map[string]any) (restricted, hidden bool, err error) {
	var internal bool
	for _, f := range []struct {
		name string
		dst  *bool
	}{{extRestricted, &restricted}, {extHidden, &hidden}, {extInternalUse, &internal}} {
		switch v := ext[f.name].(type) {
		case nil:
		case bool:
			*f.dst = v
		default:
			return false, false, fmt.Errorf("%s must be true or false", f.name)
		}
	}
	return restricted || internal, hidden || internal, nil
}

// access reads restriction and x-exosite-from off a parameter's extensions.
func access(ext map[string]any) (restricted, hidden bool, from string, err error) {
	if restricted, hidden, err = restriction(ext); err != nil {
		return false, false, "", err
	}
	switch v := ext[extFrom].(type) {
	case nil:
	case string:
		switch v {
		case FromSolutionID, FromDomain, FromBusinessID:
			from = v
		default:
			return false, false, "", fmt.Errorf("%s must be %s, %s or %s, not %q", extFrom, FromSolutionID, FromDomain, FromBusinessID, v)
		}
	default:
		return false, false, "", fmt.Errorf("%s must be %s, %s or %s", extFrom, FromSolutionID, FromDomain, FromBusinessID)
	}
	return restricted, hidden, from, nil
}

// EventNamePattern is what an event name must match: it is the last part of the topic
// <service>.<event> that handlers subscribe to.
var EventNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// healthPath is x-exosite-health-path, else basePath, else "/".
func healthPath(ext map[string]any, basePath string) (string, error) {
	v, ok := ext[extHealthPath]
	if !ok || v == nil {
		if basePath == "" {
			return "/", nil
		}
		return basePath, nil
	}
	p, ok := v.(string)
	if !ok || !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") {
		return "", invalid(FieldSwagger, extHealthPath+" must be a path starting with /")
	}
	return p, nil
}

// timeout is the x-exosite-timeout of ext, else def. The value is a number of milliseconds,
// or a string holding either that or a Go duration ("30s").
func timeout(ext map[string]any, def time.Duration) (time.Duration, error) {
	v, ok := ext[extTimeout]
	if !ok || v == nil {
		return def, nil
	}
	bad := invalid(FieldSwagger, extTimeout+` must be milliseconds or a duration such as "30s"`)
	var d time.Duration
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > float64(MaxTimeout/time.Millisecond)+1 {
			return 0, outOfRange(fmt.Sprintf("%vms", v))
		}
		d = time.Duration(v * float64(time.Millisecond))
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return 0, bad
		}
		return timeout(map[string]any{extTimeout: f}, def)
	case string:
		if ms, err := strconv.ParseFloat(v, 64); err == nil {
			return timeout(map[string]any{extTimeout: ms}, def)
		}
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, bad
		}
	default:
		return 0, bad
	}
	if d < MinTimeout || d > MaxTimeout {
		return 0, outOfRange(d.String())
	}
	return d, nil
}

func outOfRange(got string) error {
	return invalid(FieldSwagger, fmt.Sprintf("%s must be between %s and %s, not %s", extTimeout, MinTimeout, MaxTimeout, got))
}

// lifecycleHook is the operationId named by extension name, "" if none; it must name an
// operation.
func lifecycleHook(ext map[string]any, name string, ops map[string]*Operation) (string, error) {
	v, ok := ext[name]
	if !ok || v == nil {
		return "", nil
	}
	id, ok := v.(string)
	if !ok {
		return "", invalid(FieldSwagger, name+" must be an operationId")
	}
	if _, ok := ops[id]; !ok {
		return "", invalid(FieldSwagger, fmt.Sprintf("%s names no operation: %q", name, id))
	}
	return id, nil
}

// events reads x-events: a map from name to {description, ...}, or a list of names or of
// {name, description, ...}. The events come back by name.
func events(ext map[string]any) ([]Event, error) {
	v, ok := ext[extEvents]
	if !ok || v == nil {
		return nil, nil
	}
	bad := invalid(FieldSwagger, extEvents+" must be an object of events by name or a list of events")
	var out []Event
	switch v := v.(type) {
	case map[string]any:
		for name, e := range v {
			desc, ok := description(e)
			if !ok {
				return nil, bad
			}
			out = append(out, Event{Name: name, Description: desc})
		}
	case []any:
		for _, e := range v {
			switch e := e.(type) {
			case string:
				out = append(out, Event{Name: e})
			case map[string]any:
				name, _ := e["name"].(string)
				desc, _ := e["description"].(string)
				out = append(out, Event{Name: name, Description: desc})
			default:
				return nil, bad
			}
		}
	default:
		return nil, bad
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i, e := range out {
		if !EventNamePattern.MatchString(e.Name) {
			return nil, invalid(FieldSwagger, fmt.Sprintf("%s: event name %q must match %s", extEvents, e.Name, EventNamePattern))
		}
		if i > 0 && out[i-1].Name == e.Name {
			return nil, invalid(FieldSwagger, fmt.Sprintf("%s: event %q is listed twice", extEvents, e.Name))
		}
	}
	return out, nil
}

// description is the description of an x-events entry: the entry's "description", or the
// entry itself when a string.
func description(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case map[string]any:
		d, _ := v["description"].(string)
		return d, true
	}
	return "", false
}

// configParameters reads x-exosite-config-parameters: a list of parameters, an object of
// parameters by name, or an object schema whose properties are the parameters.
func configParameters(ext map[string]any) ([]ConfigParameter, error) {
	v, ok := ext[extConfigParams]
	if !ok || v == nil {
		return nil, nil
	}
	bad := invalid(FieldSwagger, extConfigParams+" must be a list of parameters or an object of parameters by name")
	var out []ConfigParameter
	switch v := v.(type) {
	case []any:
		for _, p := range v {
			m, ok := p.(map[string]any)
			if !ok {
				return nil, bad
			}
			name, _ := m["name"].(string)
			cp, err := configParameter(name, m, false)
			if err != nil {
				return nil, err
			}
			out = append(out, cp)
		}
	case map[string]any:
		required := map[string]bool{}
		if props, ok := v["properties"].(map[string]any); ok && v["type"] == "object" {
			if list, ok := v["required"].([]any); ok {
				for _, r := range list {
					if s, ok := r.(string); ok {
						required[s] = true
					}
				}
			}
			v = props
		}
		names := make([]string, 0, len(v))
		for name := range v {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			m, ok := v[name].(map[string]any)
			if !ok {
				return nil, bad
			}
			cp, err := configParameter(name, m, required[name])
			if err != nil {
				return nil, err
			}
			out = append(out, cp)
		}
	default:
		return nil, bad
	}
	seen := map[string]bool{}
	for _, p := range out {
		if p.Name == "" {
			return nil, invalid(FieldSwagger, extConfigParams+": every parameter needs a name")
		}
		if seen[p.Name] {
			return nil, invalid(FieldSwagger, fmt.Sprintf("%s: parameter %q is listed twice", extConfigParams, p.Name))
		}
		seen[p.Name] = true
	}
	return out, nil
}

// configParameter reads one configuration parameter; a type defaults to string.
func configParameter(name string, m map[string]any, required bool) (ConfigParameter, error) {
	p := ConfigParameter{Name: name, Type: "string", Required: required, Default: m["default"]}
	if t, ok := m["type"].(string); ok && t != "" {
		p.Type = t
	}
	p.Description, _ = m["description"].(string)
	p.Title, _ = m["title"].(string)
	p.Enum, _ = m["enum"].([]any)
	if f, _ := m["format"].(string); f == "password" {
		p.Secret = true
	}
	if r, ok := m["required"].(bool); ok {
		p.Required = r
	}
	var err error
	if p.Restricted, p.Hidden, p.From, err = access(m); err != nil {
		return p, invalid(FieldSwagger, fmt.Sprintf("%s: parameter %q: %v", extConfigParams, name, err))
	}
	return p, nil
}
