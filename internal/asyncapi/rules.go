package asyncapi

import (
	"maps"
	"regexp"
	"slices"
	"strings"
)

// The rules of @asyncapi/parser (ruleset/v2) beyond the JSON Schema that Parse checks too.
// Those it does not check are listed, with the reason, in agreement_test.go.

// channelParameter is a {parameter} of a channel name, as the parser finds them.
var channelParameter = regexp.MustCompile(`\{(.+?)\}`)

// channelParameters are the names of the {parameters} of a channel name.
func channelParameters(name string) []string {
	var out []string
	for _, m := range channelParameter.FindAllStringSubmatch(name, -1) {
		out = append(out, m[1])
	}
	return out
}

// checkRules checks a document that its schema accepts against the rules below.
func checkRules(d *document, ps *problems) {
	chans, _ := d.root["channels"].(map[string]any)
	for _, name := range sortedKeys(chans) {
		at := []string{"channels", name}
		// asyncapi2-channel-no-query-nor-fragment
		if strings.ContainsAny(name, "?#") {
			ps.add(at, "a channel name holds no query (?) or fragment (#)")
		}
		item, _, err := d.resolve(chans[name], at)
		if err != nil {
			ps.add(at, "%v", err)
			continue
		}
		checkChannelParameters(name, item, at, ps)
	}
	checkUnique(d, "operationId", func(op map[string]any) []map[string]any { return []map[string]any{op} }, ps)
	checkUnique(d, "messageId", func(op map[string]any) []map[string]any { return d.messagesOf(op) }, ps)
}

// checkChannelParameters (asyncapi2-channel-parameters): when a channel describes its
// parameters, it describes each of its name and no other.
func checkChannelParameters(name string, item any, at []string, ps *problems) {
	obj, _ := item.(map[string]any)
	params, ok := obj["parameters"].(map[string]any)
	if !ok {
		return
	}
	names := channelParameters(name)
	var missing []string
	for _, p := range names {
		if _, ok := params[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		ps.add(append(at, "parameters"), "parameters of the channel name not described: %s", strings.Join(missing, ", "))
	}
	for _, p := range sortedKeys(params) {
		if !slices.Contains(names, p) {
			ps.add(append(at, "parameters", p), "parameter %q is not in the channel name", p)
		}
	}
}

// checkUnique (asyncapi2-operation-operationId-uniqueness,
// asyncapi2-message-messageId-uniqueness): no two operations, or messages, of the channels
// share an id. A trait's id overrides the object's, the last trait's first.
func checkUnique(d *document, key string, objects func(op map[string]any) []map[string]any, ps *problems) {
	seen := map[string]bool{}
	chans, _ := d.root["channels"].(map[string]any)
	for _, name := range sortedKeys(chans) {
		item, _, err := d.resolve(chans[name], nil)
		if err != nil {
			continue
		}
		obj, _ := item.(map[string]any)
		for _, op := range []Operation{Publish, Subscribe} {
			o, ok := obj[string(op)].(map[string]any)
			if !ok {
				continue
			}
			for _, x := range objects(o) {
				id, ok := d.idOf(x, key)
				if !ok {
					continue
				}
				if seen[id] {
					ps.add([]string{"channels", name, string(op)}, "%s %q is not unique", key, id)
				}
				seen[id] = true
			}
		}
	}
}

// idOf is an object's id under key, the last of its traits' first.
func (d *document) idOf(obj map[string]any, key string) (string, bool) {
	traits, _ := obj["traits"].([]any)
	for i := len(traits) - 1; i >= 0; i-- {
		t, _, err := d.resolve(traits[i], nil)
		if err != nil {
			continue
		}
		tm, _ := t.(map[string]any)
		if id, ok := tm[key].(string); ok {
			return id, true
		}
	}
	id, ok := obj[key].(string)
	return id, ok
}

// messagesOf are the Message Objects of an operation, its message or each of its oneOf,
// those that resolve.
func (d *document) messagesOf(op map[string]any) []map[string]any {
	raw, ok := op["message"]
	if !ok {
		return nil
	}
	v, _, err := d.resolve(raw, nil)
	if err != nil {
		return nil
	}
	m, _ := v.(map[string]any)
	alts, ok := m["oneOf"].([]any)
	if !ok {
		return []map[string]any{m}
	}
	var out []map[string]any
	for _, a := range alts {
		if av, _, err := d.resolve(a, nil); err == nil {
			if am, ok := av.(map[string]any); ok {
				out = append(out, am)
			}
		}
	}
	return out
}

// sortedKeys are the keys of m in order, so that problems come in the same order each time.
func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
