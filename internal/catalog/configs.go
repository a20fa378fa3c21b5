package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
)

const configsBucket = "sb_service_configs"

// Config is a service added to a solution, with the solution's parameters for it.
type Config struct {
	Solution   string         `json:"-"`
	Service    string         `json:"service"`
	Parameters map[string]any `json:"parameters"`
	// Secret names the parameters that were secret (format: password) when they were set;
	// they stay hidden whatever the service's document says later.
	Secret    []string  `json:"secret,omitempty"`
	AddedAt   time.Time `json:"added_at"`
	UpdatedAt time.Time `json:"updated_at"`
	rev       uint64
}

// configs keeps service configs in KV ("<solution>.<service>") with an in-memory view.
type configs struct {
	kv jetstream.KeyValue
	mu sync.RWMutex
	m  map[string]map[string]Config // solution → service → config
}

func openConfigs(ctx, wctx context.Context, wg *sync.WaitGroup, b *bus.Bus) (*configs, error) {
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: configsBucket, Description: "Switchboard services added to solutions"})
	if err != nil {
		return nil, err
	}
	c := &configs{kv: kv, m: map[string]map[string]Config{}}
	if err := bus.Watch(ctx, wctx, wg, kv, c.apply); err != nil {
		return nil, fmt.Errorf("watch service configs: %w", err)
	}
	return c, nil
}

func (c *configs) apply(e jetstream.KeyValueEntry) {
	sol, svc, _ := strings.Cut(e.Key(), ".")
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.m[sol][svc]
	if ok && cur.rev >= e.Revision() {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(c.m[sol], svc)
		return
	}
	var cfg Config
	if err := json.Unmarshal(e.Value(), &cfg); err != nil {
		return
	}
	cfg.Solution, cfg.rev = sol, e.Revision()
	if c.m[sol] == nil {
		c.m[sol] = map[string]Config{}
	}
	c.m[sol][svc] = cfg
}

func (c *configs) get(sol, svc string) (Config, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cfg, ok := c.m[sol][svc]
	return cfg, ok
}

func (c *configs) list(sol string) []Config {
	c.mu.RLock()
	out := make([]Config, 0, len(c.m[sol]))
	for _, cfg := range c.m[sol] {
		out = append(out, cfg)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

func (c *configs) put(ctx context.Context, cfg Config) (Config, bool, error) {
	key := cfg.Solution + "." + cfg.Service
	old, existed := c.get(cfg.Solution, cfg.Service)
	now := time.Now().UTC().Truncate(time.Millisecond)
	cfg.UpdatedAt, cfg.AddedAt = now, now
	if existed {
		cfg.AddedAt = old.AddedAt
	}
	data, _ := json.Marshal(cfg)
	rev, err := c.kv.Put(ctx, key, data)
	if err != nil {
		return Config{}, false, fmt.Errorf("add %s to %s: %w", cfg.Service, cfg.Solution, err)
	}
	cfg.rev = rev
	c.mu.Lock()
	if c.m[cfg.Solution] == nil {
		c.m[cfg.Solution] = map[string]Config{}
	}
	if cur, ok := c.m[cfg.Solution][cfg.Service]; !ok || cur.rev < rev {
		c.m[cfg.Solution][cfg.Service] = cfg
	}
	c.mu.Unlock()
	return cfg, !existed, nil
}

func (c *configs) remove(ctx context.Context, sol, svc string) error {
	if err := c.kv.Purge(ctx, sol+"."+svc); err != nil {
		return fmt.Errorf("remove %s from %s: %w", svc, sol, err)
	}
	c.mu.Lock()
	delete(c.m[sol], svc)
	c.mu.Unlock()
	return nil
}

// dropService removes a service from every solution. It lists the keys in KV, not the view,
// so a config another instance just wrote is not missed.
func (c *configs) dropService(ctx context.Context, svc string) error {
	return c.removeMatching(ctx, "*."+svc)
}

// removeMatching removes every config whose key matches the KV filter.
func (c *configs) removeMatching(ctx context.Context, filter string) error {
	lister, err := c.kv.ListKeysFiltered(ctx, filter)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("list service configs %s: %w", filter, err)
	}
	if lister == nil {
		return nil
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		sol, svc, _ := strings.Cut(k, ".")
		if err := c.remove(ctx, sol, svc); err != nil {
			return err
		}
	}
	return nil
}

// ErrNotAdded is returned for a service the solution has not added.
var ErrNotAdded = errors.New("not added to this solution")

// AddedConfig returns the solution's config of a service.
func (c *Catalog) AddedConfig(solution, service string) (Config, bool) {
	return c.configs.get(solution, service)
}

// Added lists the services a solution has added.
func (c *Catalog) Added(solution string) []Config { return c.configs.list(solution) }

// CheckParameters validates parameters against a dynamic service's config form and fills in
// defaults; core services (d nil) take none. A restricted parameter, or one with a From
// source, cannot be set: the hub gives it the source's value, else its default, on every call
// (see the dynamic package), so it is neither required nor kept here.
func CheckParameters(d *Description, params map[string]any) (map[string]any, error) {
	out := map[string]any{}
	if d == nil {
		if len(params) > 0 {
			return nil, invalid("parameters", "this service takes no parameters")
		}
		return out, nil
	}
	known := map[string]ConfigParameter{}
	for _, p := range d.ConfigParameters {
		known[p.Name] = p
	}
	for k, v := range params {
		if len(known) > 0 {
			p, ok := known[k]
			if !ok {
				return nil, invalid("parameters."+k, fmt.Sprintf("%s has no parameter %q", d.Name, k))
			}
			if p.HubSet() {
				if v != nil {
					return nil, invalid("parameters."+k, fmt.Sprintf("%q is set by the hub (restricted or filled in from the solution); it cannot be set", k))
				}
				continue
			}
			if err := p.check(v); err != nil {
				return nil, err
			}
		}
		out[k] = v
	}
	for _, p := range d.ConfigParameters {
		if _, ok := out[p.Name]; ok || p.HubSet() {
			continue
		}
		if p.Default != nil {
			out[p.Name] = p.Default
		} else if p.Required {
			return nil, invalid("parameters."+p.Name, "required")
		}
	}
	return out, nil
}

// check refuses a value the parameter's form cannot hold: of another type than it declares, or
// not one of its enum. A null value is no value.
func (p ConfigParameter) check(v any) error {
	if v == nil {
		return nil
	}
	field := "parameters." + p.Name
	if want := jsonType(p.Type); want != "" {
		k := kindOf(v)
		if jsonType(k) != want {
			return invalid(field, fmt.Sprintf("%q must be of type %s, not %s", p.Name, p.Type, k))
		}
		if p.Type == "integer" && k == "number" {
			return invalid(field, fmt.Sprintf("%q must be a whole number", p.Name))
		}
	}
	if len(p.Enum) == 0 {
		return nil
	}
	for _, e := range p.Enum {
		if reflect.DeepEqual(normalJSON(e), normalJSON(v)) {
			return nil
		}
	}
	choices := make([]string, len(p.Enum))
	for i, e := range p.Enum {
		b, _ := json.Marshal(e)
		choices[i] = string(b)
	}
	return invalid(field, fmt.Sprintf("%q must be one of %s", p.Name, strings.Join(choices, ", ")))
}

// jsonType is the JSON type a form's type names, "" for one the hub does not check.
func jsonType(t string) string {
	switch t {
	case "string", "boolean", "object", "array", "number":
		return t
	case "integer":
		return "number"
	}
	return ""
}

// kindOf names the JSON type of a decoded value: integer for a whole number.
func kindOf(v any) string {
	switch x := normalJSON(v).(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return "integer"
		}
		return "number"
	}
	return "null"
}

// normalJSON is v with numbers as float64, as encoding/json decodes them, for comparing.
func normalJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case int:
		return float64(x)
	case int64:
		return float64(x)
	}
	return v
}

// PutConfig adds a service to a solution, or replaces its parameters. params must already be
// checked with CheckParameters.
func (c *Catalog) PutConfig(ctx context.Context, solution, service string, params map[string]any) (Config, bool, error) {
	cfg := Config{Solution: solution, Service: service, Parameters: params}
	if e, ok := c.Get(service); ok {
		cfg.Secret = secretNames(e.Desc)
	}
	return c.configs.put(ctx, cfg)
}

// RemoveConfig removes a service from a solution.
func (c *Catalog) RemoveConfig(ctx context.Context, solution, service string) error {
	if _, ok := c.configs.get(solution, service); !ok {
		return fmt.Errorf("service %s: %w", service, ErrNotAdded)
	}
	return c.configs.remove(ctx, solution, service)
}

// Drop removes every service config of a solution (when it is deleted).
func (c *Catalog) Drop(ctx context.Context, solution string) error {
	return c.configs.removeMatching(ctx, solution+".*")
}

// KeepSecrets is the parameters of an update of config old: params, with the secret values of
// old that params does not mention. Secret values are never shown, so a client that sends
// back what it read must not erase them; a secret given as null is removed (its default, if
// any, applies again). Secret here is what Masked hides, limited to parameters the service's
// form still has.
func KeepSecrets(d *Description, old Config, params map[string]any) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
	}
	if d == nil {
		return out
	}
	inForm := map[string]bool{}
	secret := map[string]bool{}
	restricted := map[string]bool{} // not the user's to keep: the hub sets them
	for _, p := range d.ConfigParameters {
		inForm[p.Name] = true
		secret[p.Name] = p.Secret && !p.HubSet()
		restricted[p.Name] = p.HubSet()
	}
	for _, n := range old.Secret {
		if (inForm[n] || len(inForm) == 0) && !restricted[n] {
			secret[n] = true
		}
	}
	for n, isSecret := range secret {
		if !isSecret {
			continue
		}
		v, given := out[n]
		switch {
		case given && v == nil:
			delete(out, n)
		case !given:
			if ov, had := old.Parameters[n]; had {
				out[n] = ov
			}
		}
	}
	return out
}

// Masked returns a config's parameters without the secret ones: those secret in the service's
// description d, and those that were secret when they were set. Without a description (the
// service is gone, or its record unreadable) nothing is shown: masking fails closed.
func Masked(d *Description, cfg Config) map[string]any {
	out := make(map[string]any, len(cfg.Parameters))
	if d == nil {
		return out
	}
	secret := map[string]bool{}
	for _, p := range d.ConfigParameters {
		secret[p.Name] = p.Secret
	}
	for _, n := range cfg.Secret {
		secret[n] = true
	}
	for k, v := range cfg.Parameters {
		if !secret[k] {
			out[k] = v
		}
	}
	return out
}

// secretNames lists the parameters d declares secret.
func secretNames(d *Description) []string {
	var out []string
	if d != nil {
		for _, p := range d.ConfigParameters {
			if p.Secret {
				out = append(out, p.Name)
			}
		}
	}
	return out
}
