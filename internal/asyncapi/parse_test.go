package asyncapi

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// problemsOf is the problems of a *ValidationError, failing the test on any other error.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want a *ValidationError", err, err)
	}
	return ve.Problems
}

func TestParseCorpusValid(t *testing.T) {
	tests := map[string][]string{
		"simple-2.0.0.yml":           {"user/signedup"},
		"gitter-streaming-2.0.0.yml": {"/rooms/{roomId}/{resource}"},
		"oneof-2.5.0.yml":            {"test", "test2"},
		"correlation-id-2.1.0.yml": {
			"smartylighting/streetlights/1/0/event/{streetlightId}/lighting/measured",
			"smartylighting/streetlights/1/0/action/{streetlightId}/dim",
		},
		"streetlights-2.0.0.yml": {
			"smartylighting/streetlights/1/0/event/{streetlightId}/lighting/measured",
			"smartylighting/streetlights/1/0/action/{streetlightId}/turn/on",
			"smartylighting/streetlights/1/0/action/{streetlightId}/turn/off",
			"smartylighting/streetlights/1/0/action/{streetlightId}/dim",
		},
		"streetlights-mqtt-2.5.0.yml": {
			"smartylighting/streetlights/1/0/event/{streetlightId}/lighting/measured",
			"smartylighting/streetlights/1/0/action/{streetlightId}/turn/on",
			"smartylighting/streetlights/1/0/action/{streetlightId}/turn/off",
			"smartylighting/streetlights/1/0/action/{streetlightId}/dim",
		},
		"streetlights-kafka-2.5.0.yml": {
			"smartylighting.streetlights.1.0.event.{streetlightId}.lighting.measured",
			"smartylighting.streetlights.1.0.action.{streetlightId}.turn.on",
			"smartylighting.streetlights.1.0.action.{streetlightId}.turn.off",
			"smartylighting.streetlights.1.0.action.{streetlightId}.dim",
		},
		"order-service-2.6.0.json":   {"order.created.v1", "order/cancelled/v1", "order/return-requested/v1"},
		"recursive-schema-2.6.0.yml": {"catalog/category/changed"},
	}
	files, _ := filepath.Glob("testdata/corpus/valid/*")
	if len(files) != len(tests) {
		t.Errorf("%d documents in testdata/corpus/valid, %d in this test", len(files), len(tests))
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			spec, err := Parse(readFile(t, "corpus/valid/"+name))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range spec.Channels {
				got = append(got, ch.Name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("channels %q, want %q", got, want)
			}
		})
	}
}

func TestParseCorpusInvalid(t *testing.T) {
	// The first problem each document is refused for.
	tests := map[string]Problem{
		"bad-payload-type.json":      {"/channels/a/subscribe/message/payload/type", "value must be one of"},
		"channel-parameters.yml":     {"/channels/light~1{id}~1{state}/parameters", "not described: state"},
		"channel-query.yml":          {"/channels/user~1signedup?x=1", "no query (?) or fragment (#)"},
		"contact-email.yml":          {"/info/contact/email", "is not valid email"},
		"duplicate-key.yml":          {"/channels/a", `duplicate key "a"`},
		"duplicate-message-id.yml":   {"/channels/b/publish", `messageId "m" is not unique`},
		"duplicate-operation-id.yml": {"/channels/b/subscribe", `operationId "send" is not unique`},
		"message-content-type.yml":   {"/channels/a/subscribe/message/contentType", "want string"},
		"misplaced-contact.yml":      {"/contact", `field "contact" is not allowed here`},
		"missing-info.yml":           {"", "missing property 'info'"},
		"missing-ref.yml":            {"/channels/a", `"#/components/messages/Missing" names nothing`},
		"no-channels.yml":            {"", "missing property 'channels'"},
		"unknown-field.yml":          {"/services", `field "services" is not allowed here`},
		"unknown-operation.yml":      {"/channels/a/subscribe2", "not allowed"},
		"unknown-version.yml":        {"/asyncapi", `version "2.7.0" is not supported`},
		"wrong-type.yml":             {"/info/title", "got number, want string"},
	}
	files, _ := filepath.Glob("testdata/corpus/invalid/*")
	if len(files) != len(tests) {
		t.Errorf("%d documents in testdata/corpus/invalid, %d in this test", len(files), len(tests))
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(readFile(t, "corpus/invalid/"+name))
			ps := problemsOf(t, err)
			if ps[0].Pointer != want.Pointer || !strings.Contains(ps[0].Message, want.Message) {
				t.Errorf("first problem %q, want %q containing %q", ps[0], want.Pointer, want.Message)
			}
		})
	}
}

func TestParseStreetlights(t *testing.T) {
	spec, err := Parse(readFile(t, "corpus/valid/streetlights-mqtt-2.5.0.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if spec.AsyncAPI != "2.5.0" || spec.Title != "Streetlights MQTT API" || spec.Version != "1.0.0" || spec.DefaultContentType != "application/json" {
		t.Errorf("spec %q %q %q %q", spec.AsyncAPI, spec.Title, spec.Version, spec.DefaultContentType)
	}
	measured, on := spec.Channels[0], spec.Channels[1]
	if !slices.Equal(measured.Parameters, []string{"streetlightId"}) || measured.Description == "" {
		t.Errorf("channel %+v", measured)
	}
	m := measured.Messages[0]
	if len(measured.Messages) != 1 || m.Operation != Publish || m.SentByApplication() || m.Name != "lightMeasured" || m.Title != "Light measured" ||
		m.ContentType != "application/json" || m.SchemaFormat != "application/vnd.aai.asyncapi;version=2.5.0" {
		t.Errorf("message %+v", m)
	}
	// The $ref to sentAt is written out: the payload stands alone.
	var payload map[string]any
	if err := json.Unmarshal(m.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	sentAt := payload["properties"].(map[string]any)["sentAt"].(map[string]any)
	if sentAt["format"] != "date-time" || sentAt["$ref"] != nil {
		t.Errorf("sentAt %v", sentAt)
	}
	// The turnOnOff message says neither content type: the document's default applies.
	if m := on.Messages[0]; m.Operation != Subscribe || !m.SentByApplication() || m.Name != "turnOnOff" || m.ContentType != "application/json" {
		t.Errorf("message %+v", m)
	}
	// YAML 1.2: "on" and "off" are strings, not booleans as YAML 1.1 had them.
	if !strings.Contains(string(on.Messages[0].Payload), `"enum":["on","off"]`) {
		t.Errorf("payload %s", on.Messages[0].Payload)
	}
}

func TestParseMessages(t *testing.T) {
	spec, err := Parse(readFile(t, "corpus/valid/order-service-2.6.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                                   string
		got                                    Message
		op                                     Operation
		msgName, title, contentType, schemaFmt string
	}{
		{"from components", spec.Channels[0].Messages[0], Subscribe, "OrderCreated", "", "application/json", "application/vnd.aai.asyncapi;version=2.6.0"},
		{"messageId", spec.Channels[1].Messages[0], Subscribe, "orderCancelled", "Order cancelled", "application/cloudevents+json", "application/vnd.aai.asyncapi;version=2.6.0"},
		{"avro", spec.Channels[2].Messages[0], Publish, "", "", "application/json", "application/vnd.apache.avro;version=1.9.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.got
			if m.Operation != tt.op || m.Name != tt.msgName || m.Title != tt.title || m.ContentType != tt.contentType || m.SchemaFormat != tt.schemaFmt {
				t.Errorf("message %+v", m)
			}
		})
	}
	spec, err = Parse(readFile(t, "corpus/valid/oneof-2.5.0.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spec.Channels[1].Messages); n != 2 {
		t.Errorf("oneOf gave %d messages, want 2", n)
	}
}

func TestParseTraits(t *testing.T) {
	doc := `asyncapi: 2.6.0
info: {title: T, version: '1'}
channels:
  a:
    subscribe:
      message:
        name: own
        contentType: text/plain
        traits:
          - $ref: '#/components/messageTraits/json'
          - title: From a trait
        payload: {type: string}
components:
  messageTraits:
    json: {contentType: application/json, name: traitName}
`
	spec, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	// AsyncAPI 2 traits override the message, in order (as @asyncapi/parser applies them).
	m := spec.Channels[0].Messages[0]
	if m.Name != "traitName" || m.ContentType != "application/json" || m.Title != "From a trait" {
		t.Errorf("message %+v", m)
	}
}

func TestParseRefs(t *testing.T) {
	head := "asyncapi: 2.6.0\ninfo: {title: T, version: '1'}\n"
	tests := []struct {
		name, doc, pointer, message string
	}{
		{"external http", head + "channels:\n  a:\n    subscribe:\n      message:\n        $ref: 'https://example.com/m.yaml'\n",
			"/channels/a", "not local to the document"},
		{"external file", head + "channels:\n  a:\n    subscribe:\n      message:\n        payload:\n          $ref: 'schemas.yaml#/Order'\n",
			"/channels/a", "not local to the document"},
		{"missing schema", head + "channels:\n  a:\n    subscribe:\n      message:\n        payload:\n          $ref: '#/components/schemas/Nope'\n",
			"/channels/a", "names nothing"},
		{"cycle", string(readFile(t, "hostile/ref-cycle.yml")), "/channels/a", "reference cycle"},
		{"self", head + "channels:\n  a:\n    subscribe:\n      message:\n        $ref: '#/channels/a/subscribe/message'\n",
			"/channels/a", "reference cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			ps := problemsOf(t, err)
			if ps[0].Pointer != tt.pointer || !strings.Contains(ps[0].Message, tt.message) {
				t.Errorf("problem %q, want %q containing %q", ps[0], tt.pointer, tt.message)
			}
		})
	}
}

func TestParseRecursivePayload(t *testing.T) {
	spec, err := Parse(readFile(t, "corpus/valid/recursive-schema-2.6.0.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := spec.Channels[0].Messages[0]
	want := `{"$ref":"#/definitions/components~1schemas~1Category"}`
	if !strings.Contains(string(m.Payload), want) || !strings.Contains(string(m.Payload), `"definitions":{"components/schemas/Category"`) {
		t.Errorf("payload %s, want it to hold %s and the definition", m.Payload, want)
	}
	v, err := CompilePayload(m)
	if err != nil {
		t.Fatal(err)
	}
	tree := json.RawMessage(`{"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}`)
	if err := v.Validate(tree); err != nil {
		t.Errorf("valid tree: %v", err)
	}
	bad := json.RawMessage(`{"name": "a", "children": [{"name": "b", "children": [{"nom": "c"}]}]}`)
	if ps := problemsOf(t, v.Validate(bad)); ps[0].Pointer != "/children/0/children/0" {
		t.Errorf("problems %q", ps)
	}
}

func TestParseECMAScriptPattern(t *testing.T) {
	_, err := Parse(readFile(t, "differences/ecmascript-pattern.yml"))
	ps := problemsOf(t, err)
	if ps[0].Pointer != "/channels/a/subscribe/message/payload/pattern" || !strings.Contains(ps[0].Message, "Go RE2 syntax") {
		t.Errorf("problem %q", ps[0])
	}
}

func TestParseVersions(t *testing.T) {
	for _, v := range Versions {
		t.Run(v, func(t *testing.T) {
			doc := "asyncapi: " + v + "\ninfo: {title: T, version: '1'}\nchannels:\n  a/b:\n    subscribe:\n      message:\n        payload: {type: string}\n"
			spec, err := Parse([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if spec.AsyncAPI != v || len(spec.Channels) != 1 {
				t.Errorf("spec %+v", spec)
			}
		})
	}
	for _, v := range []string{"3.0.0", "1.2.0", "2.0.0-rc2", "2.7.0", ""} {
		t.Run("refused "+v, func(t *testing.T) {
			doc := "asyncapi: '" + v + "'\ninfo: {title: T, version: '1'}\nchannels: {}\n"
			ps := problemsOf(t, func() error { _, err := Parse([]byte(doc)); return err }())
			if ps[0].Pointer != "/asyncapi" || !strings.Contains(ps[0].Message, "not supported") {
				t.Errorf("problem %q", ps[0])
			}
		})
	}
}

func TestParseNotADocument(t *testing.T) {
	tests := map[string]string{
		"empty":          "",
		"syntax":         "asyncapi: [2.6.0\n",
		"two docs":       "asyncapi: 2.6.0\n---\nasyncapi: 2.6.0\n",
		"array":          "[1, 2]",
		"merge key":      "a: &a {x: 1}\nb:\n  <<: *a\n",
		"custom tag":     "asyncapi: !secret 2.6.0\n",
		"infinity":       "x: .inf\n",
		"non-string key": "? [a, b]\n: c\n",
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(doc)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
