package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/switchboardhq/switchboard/internal/hosted"
)

// Settings are what a node's instances learn of where they run (get_settings()).
type Settings struct {
	NodeName string
	Tags     []string
	Solution string
	Flow     string
}

// Spec is one instance a node is to run.
type Spec struct {
	Name    string // the instance's name: its SubmitAction destination, unique on the node
	Service string
	Kind    string // hosted.KindLua is run; other kinds are logged and left alone
	Version string
	Code    string
	Static  map[string]any
	// Security holds the security property values. They are never written to a log or an
	// error by the orchestrator, and Spec's String, GoString and LogValue leave them out.
	Security hosted.Secrets
	Upstream string // the topic SubmitMessage publishes to; "" refuses SubmitMessage
	// Hash changes when anything that must restart the instance changes (hosted.Assigned.Hash).
	Hash     string
	Settings Settings
}

// SpecOf is the spec of an assigned instance, given its version's code and the node's settings
// (whose Flow is the instance's).
func SpecOf(a hosted.Assigned, code string, settings Settings) Spec {
	settings.Flow = a.Flow
	settings.Tags = slices.Clone(settings.Tags)
	return Spec{
		Name: a.Instance, Service: a.Service, Kind: a.Kind, Version: a.Version, Code: code,
		Static: maps.Clone(a.Static), Security: maps.Clone(a.Security), Upstream: a.Upstream,
		Hash: a.Hash, Settings: settings,
	}
}

// String names the instance; never its code or security values.
func (s Spec) String() string {
	return fmt.Sprintf("%s (%s %s on %s)", s.Name, s.Service, s.Version, s.Settings.NodeName)
}

// GoString is String, so %#v does not print the security values either.
func (s Spec) GoString() string { return "orchestrator.Spec{" + s.String() + "}" }

// LogValue is what a structured log shows of s.
func (s Spec) LogValue() slog.Value {
	return slog.GroupValue(slog.String("instance", s.Name), slog.String("service", s.Service),
		slog.String("version", s.Version), slog.String("node", s.Settings.NodeName), slog.String("flow", s.Settings.Flow))
}

// Host is what the orchestrator needs from where it runs. Its methods are called from the
// instances' goroutines, concurrently.
type Host interface {
	// Log writes one entry to the solution's log, with the instance's node and service. It must
	// not block. msg and fields never hold a security value of spec.
	Log(spec Spec, level slog.Level, msg string, fields map[string]any)
	// Alert records a ThrowError: the host publishes an alerts.{node}.{service} event and
	// logs the message at error. It must not block.
	Alert(spec Spec, message, faultCode, faultDescription string)
	// Submit publishes message to spec.Upstream durably; it may block until ctx ends, and
	// must return when it does.
	Submit(ctx context.Context, spec Spec, message any) error
}
