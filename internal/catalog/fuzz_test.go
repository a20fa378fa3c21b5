package catalog

import (
	"context"
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add(readFixture(f, "demoexternalservice.yaml"))
	f.Add(readFixture(f, "weather.openapi3.yaml"))
	f.Add(minimal2("x-exosite-timeout: 30s", "x-events: [a, b]", "x-exosite-config-parameters: {k: {format: password}}"))
	f.Add(minimal3("servers: [{url: 'http://h:{p}/x', variables: {p: {default: '81'}}}]"))
	f.Add([]byte(`{"swagger":"2.0","info":{"title":"t","version":"1"},"host":"h","paths":{"/a/{id}":{"parameters":[{"name":"id","in":"path","required":true,"type":"string"}],"post":{"operationId":"a","parameters":[{"name":"b","in":"body","schema":{"$ref":"#/definitions/B"}}],"responses":{"200":{"description":"ok"}}}}},"definitions":{"B":{"type":"object","properties":{"id":{"type":"string"}}}}}`))
	f.Add([]byte("openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'https://h'}]\n"))
	f.Add(readFixture(f, "murano/insight.yaml"))
	f.Add(readFixture(f, "murano/legacy-aliases.yaml"))
	f.Add(readFixture(f, "murano/security.yaml"))
	f.Add([]byte(`{"swagger":"2.0","info":{"title":"t","version":"1"},"host":"h","paths":{"/a/{id}":{"get":{"operationId":"a","responses":{"200":{"description":"ok","schema":{"$ref":"#/definitions/A"}}}}}},"definitions":{"A":{"$ref":"#/definitions/B"},"B":{"type":["object","null"],"properties":{"a":{"$ref":"#/definitions/A"},"b":{"$ref":"#/definitions/C"}}}}}`))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := Parse(context.Background(), "demo", doc, ParseOptions{Namespace: "ns"})
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Reason == "" {
				t.Fatalf("error %T %q is not a complete *ValidationError", err, err)
			}
			if errors.Is(err, errPanic) {
				t.Fatalf("Parse recovered from a panic: %v", err)
			}
			return
		}
		if d.BaseURL == nil || d.HealthPath == "" || d.Timeout < MinTimeout || d.Timeout > MaxTimeout {
			t.Fatalf("incomplete description: %+v", d)
		}
		_ = d.Spec()
	})
}
