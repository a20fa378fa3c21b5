package hosted

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Assigned is an instance a node is to run, as its runtime needs it.
type Assigned struct {
	Flow     string `json:"flow"`
	Instance string `json:"instance"`
	Service  string `json:"service"`
	Kind     string `json:"kind"`
	// Version is the version the instance's pin resolves to now.
	Version    string         `json:"version"`
	CodeSHA256 string         `json:"code_sha256"`
	Static     map[string]any `json:"static"`
	// Security holds the values, for the runtime; as JSON each shows as SetMark.
	Security Secrets `json:"security"`
	Upstream string  `json:"upstream,omitempty"`
	// Hash changes when anything that must restart the instance changes: its version or code,
	// a property, its upstream, or the node's restart generation.
	Hash string `json:"hash"`
}

// Assignment is what sol's node name is to run, by flow and instance name: the instances of
// flows placed on it by name or by one of its tags, not disabled; nothing when the node is
// disabled. An instance whose service went meanwhile is left out.
func (s *Store) Assignment(sol, name string) ([]Assigned, error) {
	n, ok := s.GetNode(sol, name)
	if !ok {
		return nil, fmt.Errorf("node %s: %w", name, ErrNodeNotFound)
	}
	out := []Assigned{}
	if n.Disabled {
		return out, nil
	}
	for _, f := range s.Flows(sol) {
		for _, in := range f.Instances {
			if in.Disabled || !(in.Node == n.Name || (in.Tag != "" && slices.Contains(n.Tags, in.Tag))) {
				continue
			}
			svc, ok := s.Get(sol, in.Service)
			if !ok {
				s.opt.Logger.Warn("hosted service of an instance is gone", "solution", sol, "flow", f.Name, "instance", in.Name, "service", in.Service)
				continue
			}
			v, err := svc.Resolve(in.Version)
			if err != nil {
				s.opt.Logger.Warn("version of an instance is gone", "solution", sol, "flow", f.Name, "instance", in.Name, "service", in.Service, "version", in.Version)
				continue
			}
			a := Assigned{Flow: f.Name, Instance: in.Name, Service: svc.Name, Kind: svc.Kind, Version: v.Version, CodeSHA256: v.CodeSHA256,
				Static: withDefaults(in.Static, v.Static), Security: maps.Clone(in.Security), Upstream: in.Upstream}
			if a.Security == nil {
				a.Security = Secrets{}
			}
			a.Hash = a.digest(f.salt, n.Generation)
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Flow != out[j].Flow {
			return out[i].Flow < out[j].Flow
		}
		return out[i].Instance < out[j].Instance
	})
	return out, nil
}

// withDefaults is values with the defaults of the static properties not given.
func withDefaults(values map[string]any, defs []Property) map[string]any {
	out := maps.Clone(values)
	if out == nil {
		out = map[string]any{}
	}
	for _, p := range defs {
		if _, ok := out[p.Name]; !ok && p.Default != nil {
			out[p.Name] = p.Default
		}
	}
	return out
}

// digest is a's hash with the node's generation. Security values enter keyed by the flow's
// salt, which is never shown, so the hash tells nothing of them.
func (a Assigned) digest(salt string, generation uint64) string {
	mac := hmac.New(sha256.New, []byte(salt))
	secrets, _ := json.Marshal(map[string]string(a.Security)) // keys sorted
	mac.Write(secrets)
	data, _ := json.Marshal(struct {
		Flow, Instance, Service, Kind, Version, CodeSHA256, Upstream string
		Static                                                       map[string]any
		Security                                                     string
		Generation                                                   uint64
	}{a.Flow, a.Instance, a.Service, a.Kind, a.Version, a.CodeSHA256, a.Upstream, a.Static, hex.EncodeToString(mac.Sum(nil)), generation})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
