// Package connector runs solutions' connectors: sources outside the hub (brokers, schedules,
// webhooks) whose messages become events on a topic of the solution, and (direction out)
// brokers the solution's scripts publish to through the Outbound service. A connector type is
// one file that calls Register (and one that calls RegisterOut for publishing); the hub, the
// API and the CLI know types only through Kinds and OutKinds.
//
// A source hands messages to a Sink and acknowledges them to where they came from only once
// Publish returned nil: by then the events are stored, so a crash in between sends them again,
// and the event id (taken from the source's message id where it has one) stores them once.
package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// Message is what a source received, to become an event.
type Message struct {
	// ID is the source's id of the message ("" when it has none: the event gets a fresh one).
	// Redelivered, a message keeps its id, so its event is stored once.
	ID string
	// Data is the payload; ContentType says what it is ("" guesses: JSON when it parses as
	// JSON, text otherwise).
	Data        []byte
	ContentType string
	// Subject is where in the source it came from: a subject, an MQTT topic, a routing key.
	Subject string
	// Extensions become the event's CloudEvents extensions (lower-case names).
	Extensions map[string]string
	// Time is when the source says the message was made; zero is now.
	Time time.Time
}

// Sink stores messages as events of the connector's topic. Publish returns once they are
// stored (nil), or with the reason they were not; a message refused for what it is (too
// large, no handler on the topic) is counted as rejected and does not fail the batch.
type Sink interface {
	Publish(ctx context.Context, msgs []Message) error
}

// Checkpoint keeps a little state of a connector across runs and instances: the last tick
// of a schedule, a position in a source without one of its own.
type Checkpoint interface {
	Load(ctx context.Context) ([]byte, error) // nil when never saved
	Save(ctx context.Context, v []byte) error
}

// Source reads one connector's source. Run returns nil once ctx ends, or an error when the
// source failed (a lost connection, refused credentials): the connector then backs off and
// runs again.
type Source interface {
	Run(ctx context.Context, sink Sink, cp Checkpoint) error
}

// Kind is a connector type.
type Kind struct {
	Type        string
	Description string
	// Schema is the JSON Schema (draft 2020-12) of the type's config.
	Schema string
	// Secrets are config fields (top-level) never shown back.
	Secrets []string
	// Inbound types receive on the hub's own listeners (webhooks): they run on every
	// instance and hold no lease; New is not called for them.
	Inbound bool
	// New makes the source of a config that passed the schema; it refuses what the schema
	// cannot say with a *solution.FieldError naming the field under "config".
	New func(cfg json.RawMessage) (Source, error)
	// Check refuses, for an inbound type, what the schema cannot say (as New does).
	Check func(cfg json.RawMessage) error
	// OutOnly types only publish (see RegisterOut): a connector of theirs of direction in is
	// refused naming direction, and New is never called. Schema is their outbound one.
	OutOnly bool

	schema *jsonschema.Schema
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]*Kind{}
)

// Register adds a connector type; a second type of one name, or a schema that does not
// compile, is a programming error.
func Register(k Kind) {
	s, err := compileSchema(k.Type, k.Schema)
	if err != nil {
		panic(fmt.Sprintf("connector type %s: %v", k.Type, err))
	}
	k.schema = s
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[k.Type]; dup {
		panic("connector type " + k.Type + " registered twice")
	}
	kinds[k.Type] = &k
}

// Kinds are the registered types, by name.
func Kinds() []Kind {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]Kind, 0, len(kinds))
	for _, t := range slices.Sorted(maps.Keys(kinds)) {
		out = append(out, *kinds[t])
	}
	return out
}

// KindOf is the registered type named t.
func KindOf(t string) (Kind, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	k, ok := kinds[t]
	if !ok {
		return Kind{}, false
	}
	return *k, true
}

func typeNames() string {
	var names []string
	for _, k := range Kinds() {
		names = append(names, k.Type)
	}
	return strings.Join(names, ", ")
}

func compileSchema(typ, src string) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	url := "switchboard:connector/" + typ
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

var printer = message.NewPrinter(language.English)

// validate checks cfg against k's schema; the error names the place under "config".
func (k Kind) validate(cfg json.RawMessage) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(cfg))
	if err != nil {
		return &solution.FieldError{Field: "config", Reason: "not JSON: " + err.Error()}
	}
	err = k.schema.Validate(doc)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		leaf := ve
		for len(leaf.Causes) > 0 {
			leaf = leaf.Causes[0]
		}
		field := "config"
		for _, p := range leaf.InstanceLocation {
			field += "." + p
		}
		return &solution.FieldError{Field: field, Reason: leaf.ErrorKind.LocalizedString(printer)}
	}
	return err
}
