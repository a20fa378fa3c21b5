package asyncapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func orderMessage(t *testing.T) Message {
	t.Helper()
	spec, err := Parse(readFile(t, "corpus/valid/order-service-2.6.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	return spec.Channels[0].Messages[0]
}

func TestValidate(t *testing.T) {
	v, err := CompilePayload(orderMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.Skipped() != "" {
		t.Fatalf("skipped: %s", v.Skipped())
	}
	tests := []struct {
		name     string
		data     any
		pointers []string // of the problems; none when valid
	}{
		{"valid", json.RawMessage(`{"orderCode": "12345678", "total": 10.5, "lines": [{"sku": "a", "quantity": 2}]}`), nil},
		{"valid decoded", map[string]any{"orderCode": "12345678", "total": 0.0}, nil},
		{"missing field", json.RawMessage(`{"orderCode": "12345678"}`), []string{""}},
		{"pattern", json.RawMessage(`{"orderCode": "1234", "total": 1}`), []string{"/orderCode"}},
		{"in a referred schema", json.RawMessage(`{"orderCode": "12345678", "total": 1, "lines": [{"quantity": 0}]}`), []string{"/lines/0/quantity"}},
		{"two problems", json.RawMessage(`{"orderCode": 7, "total": -1}`), []string{"/orderCode", "/total"}},
		{"not an object", json.RawMessage(`"order"`), []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Validate(tt.data)
			if tt.pointers == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ps := problemsOf(t, err)
			var got []string
			for _, p := range ps {
				got = append(got, p.Pointer)
			}
			if strings.Join(got, " ") != strings.Join(tt.pointers, " ") {
				t.Errorf("problems %q, want at %q", ps, tt.pointers)
			}
			if !strings.Contains(err.Error(), "event data") {
				t.Errorf("error %q does not say it is about event data", err)
			}
		})
	}
	if err := v.Validate(json.RawMessage(`{"orderCode": `)); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("broken JSON: %v", err)
	}
}

func TestValidateManyProblems(t *testing.T) {
	m := Message{Name: "m", SchemaFormat: "application/vnd.aai.asyncapi;version=2.6.0",
		Payload: json.RawMessage(`{"type": "array", "items": {"type": "string"}}`)}
	v, err := CompilePayload(m)
	if err != nil {
		t.Fatal(err)
	}
	data := json.RawMessage("[" + strings.Repeat("1,", 99) + "1]")
	err = v.Validate(data)
	ve := problemsOf(t, err)
	if len(ve) != MaxProblems || !strings.Contains(err.Error(), "and 80 more") {
		t.Errorf("%d problems listed: %v", len(ve), err)
	}
}

func TestCompilePayloadFormats(t *testing.T) {
	schema := json.RawMessage(`{"type": "string"}`)
	tests := []struct {
		format  string
		enforce bool
	}{
		{"application/vnd.aai.asyncapi;version=2.0.0", true},
		{"application/vnd.aai.asyncapi+json;version=2.6.0", true},
		{"application/vnd.aai.asyncapi+yaml; version=2.3.0", true},
		{"application/schema+json;version=draft-07", true},
		{"Application/Schema+YAML;version=draft-07", true},
		{"application/vnd.apache.avro;version=1.9.0", false},
		{"application/raml+yaml;version=1.0", false},
		{"application/vnd.oai.openapi;version=3.0.0", false},
		{"application/schema+json;version=draft-04", false},
		{"application/vnd.aai.asyncapi;version=3.0.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			v, err := CompilePayload(Message{SchemaFormat: tt.format, Payload: schema})
			if err != nil {
				t.Fatal(err)
			}
			err = v.Validate(json.RawMessage(`42`))
			if tt.enforce != (err != nil) || tt.enforce != (v.Skipped() == "") {
				t.Errorf("validate 42: %v; skipped %q", err, v.Skipped())
			}
		})
	}
	v, err := CompilePayload(Message{SchemaFormat: "application/vnd.aai.asyncapi;version=2.6.0"})
	if err != nil || v.Skipped() == "" || v.Validate("anything") != nil {
		t.Errorf("no payload: %v, skipped %q", err, v.Skipped())
	}
}

func TestCompilePayloadRefused(t *testing.T) {
	tests := map[string]string{
		"remote ref":   `{"$ref": "https://example.com/schema.json"}`,
		"file ref":     `{"$ref": "file:///etc/passwd"}`,
		"relative ref": `{"properties": {"a": {"$ref": "other.json"}}}`,
		"bad pattern":  `{"type": "string", "pattern": "(?<=a)b"}`,
		"not a schema": `{"type": 7}`,
		"not json":     `{"type": `,
	}
	for name, schema := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := CompilePayload(Message{Name: "m", SchemaFormat: "application/vnd.aai.asyncapi;version=2.6.0", Payload: json.RawMessage(schema)})
			if err == nil || !strings.Contains(err.Error(), `message "m"`) {
				t.Errorf("error %v", err)
			}
		})
	}
}
