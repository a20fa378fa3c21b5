package hosted

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Bounds of flows.
const (
	MaxFlows                = 128 // per solution
	MaxInstancesPerFlow     = 64
	MaxInstancesPerSolution = 256
	MaxSecretBytes          = 4096 // one security value
	MaxFlowBytes            = 256 << 10
)

// SetMark is how a security value is shown: that it is set, never what it is. Given back on
// an update it keeps the stored value.
const SetMark = "(set)"

// FlowNamePattern is what a flow's or an instance's name must match.
var FlowNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// Errors a caller can test for.
var (
	ErrFlowNotFound = errors.New("no such flow")
	ErrInUse        = errors.New("in use")
	ErrConflict     = errors.New("changed meanwhile; read it again and retry")
)

// InUseError is a service or node a flow uses, kept.
type InUseError struct {
	What  string
	Flows []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s is used by flow %s: remove it from them first", e.What, strings.Join(e.Flows, ", "))
}

func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Secrets are security property values. As JSON they show only that each is set, so no answer,
// log line or error carries one; a runtime passing them on reads the map.
type Secrets map[string]string

// MarshalJSON shows each value as SetMark.
func (s Secrets) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, len(s))
	for k := range s {
		m[k] = SetMark
	}
	return json.Marshal(m)
}

// Instance is a service instance of a flow: a version of a service, run on a node (by name, or
// "hub") or on every node with a tag, with its property values.
type Instance struct {
	// Name is the instance's SubmitAction destination, unique among the solution's flows.
	Name    string `json:"name"`
	Service string `json:"service"`
	// Version pins the service's version: "" the newest, "1" the newest of major 1, "1.2".
	Version string `json:"version,omitempty"`
	Node    string `json:"node,omitempty"`
	Tag     string `json:"tag,omitempty"`
	// Static values, by property name; security values are write-only.
	Static   map[string]any `json:"static,omitempty"`
	Security Secrets        `json:"security,omitempty"`
	// Upstream is the solution's topic the instance's SubmitMessage publishes to.
	Upstream string `json:"upstream,omitempty"`
	Disabled bool   `json:"disabled,omitempty"`
}

// Flow is a solution's flow: service instances and where they run.
type Flow struct {
	Solution    string     `json:"solution"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Instances   []Instance `json:"instances"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`

	// Revision is the KV revision the flow was read at.
	Revision uint64 `json:"-"`
	// salt keys the digest of security values in assignment hashes, which are shown: a weak
	// secret cannot be guessed from its hash.
	salt string
}

// flowRecord is a flow as stored: with its security values and salt.
type flowRecord struct {
	Flow
	Instances []storedInstance `json:"instances"`
	Salt      string           `json:"salt"`
}

type storedInstance struct {
	Instance
	Security map[string]string `json:"security,omitempty"`
}

// marshal is the stored form of r.Flow; answers use Flow's own encoding, which hides
// security values.
func (r flowRecord) marshal() []byte {
	r.Instances = make([]storedInstance, len(r.Flow.Instances))
	for i, in := range r.Flow.Instances {
		r.Instances[i] = storedInstance{Instance: in, Security: in.Security}
	}
	r.Salt = r.Flow.salt
	data, _ := json.Marshal(r)
	return data
}

// UnmarshalJSON reads a stored flow, security values and salt included.
func (f *Flow) UnmarshalJSON(data []byte) error {
	type plain Flow // without this method
	var r struct {
		plain
		Instances []storedInstance `json:"instances"`
		Salt      string           `json:"salt"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	*f = Flow(r.plain)
	f.Instances = make([]Instance, len(r.Instances))
	for i, in := range r.Instances {
		f.Instances[i] = in.Instance
		f.Instances[i].Security = in.Security
	}
	f.salt = r.Salt
	return nil
}

func flowKey(sol, name string) string { return sol + ".flow." + name }

// GetFlow is sol's flow called name.
func (s *Store) GetFlow(sol, name string) (Flow, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.flows[sol+"."+name]
	return f, ok
}

// Flows is sol's flows by name.
func (s *Store) Flows(sol string) []Flow {
	s.mu.RLock()
	out := []Flow{}
	for _, f := range s.flows {
		if f.Solution == sol {
			out = append(out, f)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// flowsUsing names sol's flows with an instance use says yes to.
func (s *Store) flowsUsing(sol string, use func(Instance) bool) []string {
	var names []string
	for _, f := range s.Flows(sol) {
		if slices.ContainsFunc(f.Instances, use) {
			names = append(names, f.Name)
		}
	}
	return names
}

// CreateFlow stores a new flow of sol, its instances checked (see PutFlow).
func (s *Store) CreateFlow(ctx context.Context, sol string, f Flow) (Flow, error) {
	return s.putFlow(ctx, sol, f, true)
}

// UpdateFlow replaces sol's flow f.Name. A security value given as SetMark, or not given,
// keeps the value the instance of that name has, so a shown flow can be sent back.
func (s *Store) UpdateFlow(ctx context.Context, sol string, f Flow) (Flow, error) {
	return s.putFlow(ctx, sol, f, false)
}

func (s *Store) putFlow(ctx context.Context, sol string, f Flow, create bool) (Flow, error) {
	f.Solution = sol
	if !FlowNamePattern.MatchString(f.Name) {
		return Flow{}, &solution.FieldError{Field: "name", Reason: fmt.Sprintf("%q: want a letter, then letters, digits, '_' or '-', at most 64", f.Name)}
	}
	if len(f.Description) > MaxDescriptionLen || !utf8.ValidString(f.Description) {
		return Flow{}, &solution.FieldError{Field: "description", Reason: fmt.Sprintf("at most %d bytes of UTF-8 text", MaxDescriptionLen)}
	}
	if len(f.Instances) > MaxInstancesPerFlow {
		return Flow{}, &solution.FieldError{Field: "instances", Reason: fmt.Sprintf("%d instances: at most %d in a flow", len(f.Instances), MaxInstancesPerFlow)}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur, had := s.GetFlow(sol, f.Name)
	if !had {
		if e, err := s.kv.Get(ctx, flowKey(sol, f.Name)); err == nil {
			s.apply(e) // written through another instance a moment ago
			cur, had = s.GetFlow(sol, f.Name)
		}
	}
	others := 0
	for _, o := range s.Flows(sol) {
		if o.Name == f.Name {
			continue
		}
		if create && strings.EqualFold(o.Name, f.Name) {
			return Flow{}, &solution.FieldError{Field: "name", Reason: fmt.Sprintf("%q: flow %s exists (names differ by more than case)", f.Name, o.Name)}
		}
		others += len(o.Instances)
	}
	switch {
	case create && had:
		return Flow{}, &solution.FieldError{Field: "name", Reason: fmt.Sprintf("%q: a flow of that name exists; update it instead", f.Name)}
	case !create && !had:
		return Flow{}, fmt.Errorf("flow %s: %w", f.Name, ErrFlowNotFound)
	case create && len(s.Flows(sol)) >= MaxFlows:
		return Flow{}, &solution.FieldError{Field: "name", Reason: fmt.Sprintf("solution %s has %d flows, the most it may have; delete one first", sol, MaxFlows)}
	case others+len(f.Instances) > MaxInstancesPerSolution:
		return Flow{}, &solution.FieldError{Field: "instances", Reason: fmt.Sprintf("the solution's flows would have %d instances: at most %d", others+len(f.Instances), MaxInstancesPerSolution)}
	}
	old := map[string]Instance{}
	for _, in := range cur.Instances {
		old[in.Name] = in
	}
	seen := map[string]bool{}
	for i := range f.Instances {
		field := fmt.Sprintf("instances[%d]", i)
		in := &f.Instances[i]
		if seen[strings.ToLower(in.Name)] {
			return Flow{}, &solution.FieldError{Field: field + ".name", Reason: fmt.Sprintf("%q is named twice in the flow", in.Name)}
		}
		seen[strings.ToLower(in.Name)] = true
		if err := s.checkInstance(sol, f.Name, field, in, old[in.Name]); err != nil {
			return Flow{}, err
		}
	}
	now := s.opt.Now().UTC().Truncate(time.Millisecond)
	f.UpdatedAt = now
	if create {
		f.CreatedAt = now
		f.salt = rand.Text()
	} else {
		f.CreatedAt, f.salt = cur.CreatedAt, cur.salt
	}
	data := flowRecord{Flow: f}.marshal()
	if len(data) > MaxFlowBytes {
		return Flow{}, &solution.FieldError{Field: "instances", Reason: fmt.Sprintf("the flow takes %d bytes stored: at most %d", len(data), MaxFlowBytes)}
	}
	var rev uint64
	var err error
	if create {
		rev, err = s.kv.Create(ctx, flowKey(sol, f.Name), data)
	} else {
		rev, err = s.kv.Update(ctx, flowKey(sol, f.Name), data, cur.Revision)
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return Flow{}, fmt.Errorf("flow %s: %w", f.Name, ErrConflict)
	}
	if err != nil {
		return Flow{}, fmt.Errorf("store flow %s: %w", f.Name, err)
	}
	s.apply(bus.Put{K: flowKey(sol, f.Name), V: data, Rev: rev})
	f.Revision = rev
	return f, nil
}

// checkInstance checks in, the instance at field of flow, and completes its security values
// from was, the instance of that name the flow had.
func (s *Store) checkInstance(sol, flow, field string, in *Instance, was Instance) error {
	if !FlowNamePattern.MatchString(in.Name) {
		return &solution.FieldError{Field: field + ".name", Reason: fmt.Sprintf("%q: want a letter, then letters, digits, '_' or '-', at most 64 (the instance's SubmitAction destination)", in.Name)}
	}
	for _, o := range s.Flows(sol) {
		if o.Name == flow {
			continue
		}
		for _, oi := range o.Instances {
			if strings.EqualFold(oi.Name, in.Name) {
				return &solution.FieldError{Field: field + ".name", Reason: fmt.Sprintf("%q: flow %s has an instance %s; instance names are unique in a solution", in.Name, o.Name, oi.Name)}
			}
		}
	}
	svc, ok := s.Get(sol, in.Service)
	if !ok {
		return &solution.FieldError{Field: field + ".service", Reason: fmt.Sprintf("%q: no such hosted service", in.Service)}
	}
	v, err := svc.Resolve(in.Version)
	if err != nil {
		return &solution.FieldError{Field: field + ".version", Reason: strings.TrimPrefix(err.Error(), "version: ")}
	}
	switch {
	case (in.Node == "") == (in.Tag == ""):
		return &solution.FieldError{Field: field + ".node", Reason: `one of node (a node's name, or "hub") or tag (every node with it): required, not both`}
	case in.Node == HubNode && svc.Kind != KindLua:
		return &solution.FieldError{Field: field + ".node", Reason: fmt.Sprintf("the hub runs lua services only; %s is a %s service, for a node with an agent", svc.Name, svc.Kind)}
	case in.Node != "" && in.Node != HubNode:
		if _, ok := s.GetNode(sol, in.Node); !ok {
			return &solution.FieldError{Field: field + ".node", Reason: fmt.Sprintf("%q: no such node; create it first", in.Node)}
		}
	case in.Tag != "" && !NodeNamePattern.MatchString(in.Tag):
		return &solution.FieldError{Field: field + ".tag", Reason: fmt.Sprintf("%q: want %s", in.Tag, nodeNameHint)}
	}
	if in.Upstream != "" {
		if err := events.ValidateTopic(in.Upstream); err != nil {
			return &solution.FieldError{Field: field + ".upstream", Reason: err.Error()}
		}
	}
	if err := checkStatic(field+".static", in.Static, v.Static); err != nil {
		return err
	}
	sec, err := mergeSecurity(field+".security", in.Security, was.Security, v.Security)
	in.Security = sec
	return err
}

func checkStatic(field string, values map[string]any, defs []Property) error {
	known := map[string]Property{}
	for _, p := range defs {
		known[p.Name] = p
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		p, ok := known[name]
		if !ok {
			return &solution.FieldError{Field: field + "." + name, Reason: fmt.Sprintf("not a static property of the version (it has %s)", propertyList(defs))}
		}
		if err := CheckValue(p, values[name]); err != nil {
			return &solution.FieldError{Field: field + "." + name, Reason: err.Error()}
		}
	}
	for _, p := range defs {
		if _, ok := values[p.Name]; !ok && p.Required && p.Default == nil {
			return &solution.FieldError{Field: field + "." + p.Name, Reason: "required: the property has no default"}
		}
	}
	return nil
}

// mergeSecurity checks given security values against defs, keeping was's value for a name
// given as SetMark or not given. Errors name properties, never values.
func mergeSecurity(field string, given, was Secrets, defs []Property) (Secrets, error) {
	out := Secrets{}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if !slices.ContainsFunc(defs, func(p Property) bool { return p.Name == name }) {
			return nil, &solution.FieldError{Field: field + "." + name, Reason: fmt.Sprintf("not a security property of the version (it has %s)", propertyList(defs))}
		}
		v := given[name]
		switch {
		case v == SetMark:
			old, ok := was[name]
			if !ok {
				return nil, &solution.FieldError{Field: field + "." + name, Reason: fmt.Sprintf("%q is how a set value is shown, and none is set: give the value", SetMark)}
			}
			v = old
		case len(v) > MaxSecretBytes:
			return nil, &solution.FieldError{Field: field + "." + name, Reason: fmt.Sprintf("%d bytes: at most %d", len(v), MaxSecretBytes)}
		case !utf8.ValidString(v):
			return nil, &solution.FieldError{Field: field + "." + name, Reason: "not UTF-8 text"}
		}
		out[name] = v
	}
	for _, p := range defs {
		if _, ok := out[p.Name]; ok {
			continue
		}
		if old, ok := was[p.Name]; ok {
			out[p.Name] = old
		} else if p.Required {
			return nil, &solution.FieldError{Field: field + "." + p.Name, Reason: "required"}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func propertyList(defs []Property) string {
	if len(defs) == 0 {
		return "none"
	}
	names := make([]string, len(defs))
	for i, p := range defs {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// DeleteFlow removes sol's flow name; its instances stop.
func (s *Store) DeleteFlow(ctx context.Context, sol, name string) error {
	f, ok := s.GetFlow(sol, name)
	if !ok {
		return fmt.Errorf("flow %s: %w", name, ErrFlowNotFound)
	}
	return s.deleteRecord(ctx, sol, "flow "+name, flowKey(sol, name), f.Revision, nil)
}
