package catalog

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestBodyMediaType checks how a body is sent, from what the document and the operation
// consume and the body's schema, and which bodies are expanded.
func TestBodyMediaType(t *testing.T) {
	forms, err := Parse(context.Background(), "forms", readFixture(t, "forms.swagger2.yaml"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// swagger2 is a Swagger 2.0 document whose one operation, op, has params and consumes
	// (YAML flow lists, "" for none), under document-level consumes docConsumes.
	swagger2 := func(docConsumes, consumes, params string) *Description {
		t.Helper()
		doc := "swagger: \"2.0\"\ninfo: {title: T, version: \"1\"}\nhost: t.internal\n"
		if docConsumes != "" {
			doc += "consumes: " + docConsumes + "\n"
		}
		doc += "paths:\n  /x:\n    post:\n      operationId: op\n"
		if consumes != "" {
			doc += "      consumes: " + consumes + "\n"
		}
		doc += "      parameters: " + params + "\n      responses: {\"200\": {description: ok}}\n"
		d, err := Parse(context.Background(), "t", []byte(doc), ParseOptions{})
		if err != nil {
			t.Fatalf("parse %s: %v", doc, err)
		}
		return d
	}
	const (
		objectBody = `[{name: b, in: body, schema: {type: object, properties: {a: {type: string}}}}]`
		stringBody = `[{name: s, in: body, schema: {type: string}}]`
		formFields = `[{name: a, in: formData, type: string}]`
		fileFields = `[{name: a, in: formData, type: string}, {name: f, in: formData, type: file}]`
	)
	openapi3 := func(content string) *Description {
		t.Helper()
		doc := fmt.Sprintf("openapi: 3.0.3\ninfo: {title: T, version: \"1\"}\nservers: [{url: http://t.internal}]\n"+
			"paths:\n  /x:\n    post:\n      operationId: op\n      requestBody: {content: %s}\n      responses: {\"200\": {description: ok}}\n", content)
		d, err := Parse(context.Background(), "t", []byte(doc), ParseOptions{})
		if err != nil {
			t.Fatalf("parse %s: %v", doc, err)
		}
		return d
	}
	tests := []struct {
		name   string
		d      *Description
		op     string
		media  string
		expand bool
		file   string // a field IsFile reports, "" for none
	}{
		{name: "document consumes form", d: forms, op: "getToken", media: MediaForm, expand: true},
		{name: "formData fields", d: forms, op: "sendMessage", media: MediaForm, expand: true},
		{name: "formData with a file", d: forms, op: "upload", media: MediaMultipart, expand: true, file: "file"},
		{name: "string body under JSON", d: forms, op: "putNote", media: MediaText},
		{name: "string body of a declared type", d: forms, op: "putCSV", media: "text/csv"},
		{name: "operation consumes JSON", d: forms, op: "createItem", media: MediaJSON, expand: true},
		{name: "expansion turned off", d: forms, op: "putRaw", media: MediaForm},
		{name: "nothing consumed", d: swagger2("", "", objectBody), op: "op", media: MediaJSON, expand: true},
		{name: "JSON and form consumed", d: swagger2("[application/x-www-form-urlencoded, application/json]", "", objectBody), op: "op", media: MediaJSON, expand: true},
		{name: "operation consumes form", d: swagger2("[application/json]", "[application/x-www-form-urlencoded]", objectBody), op: "op", media: MediaForm, expand: true},
		{name: "only multipart consumed", d: swagger2("", "[multipart/form-data]", objectBody), op: "op", media: MediaMultipart, expand: true},
		{name: "vendor JSON", d: swagger2("", "[application/vnd.api+json]", objectBody), op: "op", media: MediaJSON, expand: true},
		{name: "unknown type only", d: swagger2("", "[application/xml]", objectBody), op: "op", media: MediaJSON, expand: true},
		{name: "formData, nothing consumed", d: swagger2("", "", formFields), op: "op", media: MediaForm, expand: true},
		{name: "formData, both consumed", d: swagger2("", "[multipart/form-data, application/x-www-form-urlencoded]", formFields), op: "op", media: MediaForm, expand: true},
		{name: "formData file under form consumes", d: swagger2("[application/x-www-form-urlencoded]", "", fileFields), op: "op", media: MediaMultipart, expand: true, file: "f"},
		{name: "string body, nothing consumed", d: swagger2("", "", stringBody), op: "op", media: MediaText},
		{name: "string body under form", d: swagger2("[application/x-www-form-urlencoded]", "", stringBody), op: "op", media: MediaForm},
		{name: "string body under multipart", d: swagger2("", "[multipart/form-data]", stringBody), op: "op", media: MediaText},
		{name: "string body, several types", d: swagger2("", "[multipart/form-data, text/plain, application/json]", stringBody), op: "op", media: "text/plain"},
		{name: "openapi3 text", d: openapi3(`{text/plain: {schema: {type: string}}}`), op: "op", media: "text/plain"},
		{name: "openapi3 multipart file", d: openapi3(`{multipart/form-data: {schema: {type: object, properties: {f: {type: string, format: binary}}}}}`), op: "op", media: MediaMultipart, expand: true, file: "f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := tt.d.Operations[tt.op]
			if op == nil || op.Body == nil {
				t.Fatalf("operation %s has no body: %+v", tt.op, op)
			}
			b := op.Body
			if b.MediaType != tt.media || b.Expand != tt.expand {
				t.Errorf("MediaType, Expand = %q, %v; want %q, %v", b.MediaType, b.Expand, tt.media, tt.expand)
			}
			if tt.file != "" && !b.IsFile(tt.file) {
				t.Errorf("IsFile(%q) = false", tt.file)
			}
			if b.Schema != nil && b.Schema.Value != nil {
				for name := range b.Schema.Value.Properties {
					if name != tt.file && b.IsFile(name) {
						t.Errorf("IsFile(%q) = true", name)
					}
				}
			}
		})
	}
	if up := forms.Operations["upload"].Body; strings.Join(up.Schema.Value.Required, ",") != "file" || up.Required {
		t.Errorf("upload: required fields %v, body required %v; want [file], false", up.Schema.Value.Required, up.Required)
	}
}
