package asyncapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// payloadURL is where a payload schema is placed for compiling; it is never fetched. An
// http URL (not a URN) so that a relative $ref resolves to another URL, which is refused.
const payloadURL = "https://switchboard.invalid/asyncapi/payload.json"

// jsonSchemaFormat reports whether a schemaFormat is JSON Schema: the AsyncAPI Schema Object
// of a 2.x version (a superset of draft-07) or draft-07 itself, in JSON or YAML. Media type
// names are compared without case and spaces around ";", as media types are.
func jsonSchemaFormat(format string) bool {
	f := strings.ToLower(strings.ReplaceAll(format, " ", ""))
	for _, p := range []string{
		"application/vnd.aai.asyncapi;version=2.",
		"application/vnd.aai.asyncapi+json;version=2.",
		"application/vnd.aai.asyncapi+yaml;version=2.",
	} {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	switch f {
	case "application/schema+json;version=draft-07", "application/schema+yaml;version=draft-07":
		return true
	}
	return false
}

// Validator checks the data of events against a message's payload schema. Compile it once
// per message and keep it: validating is then linear in the data (patterns are Go regular
// expressions, which never backtrack).
type Validator struct {
	schema *jsonschema.Schema
	skip   string // why data is not checked, when it is not
}

// CompilePayload makes the Validator of a message's payload. A message without payload,
// or whose schemaFormat is not JSON Schema (Avro, RAML, OpenAPI), gives a Validator that
// accepts any data and says why in Skipped.
func CompilePayload(msg Message) (*Validator, error) {
	if msg.Payload == nil {
		return &Validator{skip: "the message has no payload schema"}, nil
	}
	if !jsonSchemaFormat(msg.SchemaFormat) {
		return &Validator{skip: fmt.Sprintf("payload schema format %q is not JSON Schema", msg.SchemaFormat)}, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(msg.Payload))
	if err != nil {
		return nil, fmt.Errorf("payload schema of message %q: %w", msg.Name, err)
	}
	c := newCompiler()
	if err := c.AddResource(payloadURL, doc); err != nil {
		return nil, fmt.Errorf("payload schema of message %q: %w", msg.Name, err)
	}
	s, err := c.Compile(payloadURL)
	if err != nil {
		return nil, fmt.Errorf("payload schema of message %q: %w", msg.Name, err)
	}
	return &Validator{schema: s}, nil
}

// Skipped is why the Validator accepts any data without checking it, "" when it checks.
func (v *Validator) Skipped() string { return v.skip }

// Validate checks data, a value as encoding/json decodes it (map[string]any, []any,
// string, float64 or json.Number, bool, nil), or JSON text as json.RawMessage. A mismatch
// gives a *ValidationError locating each problem in data. The cost is linear in data, whose
// size the caller bounds (the gateway's body limit).
func (v *Validator) Validate(data any) error {
	if v.schema == nil {
		return nil
	}
	if raw, ok := data.(json.RawMessage); ok {
		var err error
		if data, err = jsonschema.UnmarshalJSON(bytes.NewReader(raw)); err != nil {
			return fmt.Errorf("event data is not JSON: %w", err)
		}
	}
	err := v.schema.Validate(data)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate event data: %w", err)
	}
	var ps problems
	addLeaves(ve, &ps)
	return &ValidationError{Problems: ps.list, Omitted: ps.omitted, Data: true}
}
