package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

func TestRegistrationDocument(t *testing.T) {
	yamlText, _ := json.Marshal(string(readFixture(t, "demoexternalservice.yaml")))
	cases := []struct {
		name, body string
		want       string // the document, for a success
		field      string // the field at fault, for a failure
		reason     string
	}{
		{name: "object", body: `{"name":"demo","swagger":{"swagger":"2.0"}}`, want: `{"swagger":"2.0"}`},
		{name: "json text", body: `{"name":"demo","swagger":"{\"swagger\":\"2.0\"}"}`, want: `{"swagger":"2.0"}`},
		{name: "url", body: `{"name":"demo","swagger_url":"https://demo.example/swagger.json"}`},
		{name: "neither", body: `{"name":"demo"}`, field: "swagger", reason: "swagger or swagger_url is required"},
		{name: "null", body: `{"name":"demo","swagger":null}`, field: "swagger", reason: "swagger or swagger_url is required"},
		{name: "empty text", body: `{"name":"demo","swagger":""}`, field: "swagger", reason: "swagger or swagger_url is required"},
		{name: "both", body: `{"name":"demo","swagger":{},"swagger_url":"http://h/s"}`, field: "swagger", reason: "give either swagger or swagger_url, not both"},
		{name: "number", body: `{"name":"demo","swagger":3}`, field: "swagger", reason: "swagger must be a JSON object or a string holding YAML or JSON"},
		{name: "relative url", body: `{"name":"demo","swagger_url":"/swagger.json"}`, field: "swagger_url", reason: "swagger_url must be an absolute http or https URL"},
		{name: "file url", body: `{"name":"demo","swagger_url":"file:///etc/passwd"}`, field: "swagger_url", reason: "swagger_url must be an absolute http or https URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Registration
			if err := json.Unmarshal([]byte(c.body), &r); err != nil {
				t.Fatal(err)
			}
			doc, err := r.Document()
			if c.reason != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != c.field || ve.Reason != c.reason {
					t.Fatalf("Document() = %q, %v; want %s: %s", doc, err, c.field, c.reason)
				}
				return
			}
			if err != nil || string(doc) != c.want {
				t.Fatalf("Document() = %q, %v; want %q", doc, err, c.want)
			}
		})
	}

	r := Registration{Name: "demo", Swagger: yamlText, Namespace: "services"}
	doc, err := r.Document()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(context.Background(), r.Name, doc, r.ParseOptions(ParseOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.BaseURL.Host, "demo.services:8080"; got != want {
		t.Errorf("BaseURL.Host = %s, want %s", got, want)
	}
}
