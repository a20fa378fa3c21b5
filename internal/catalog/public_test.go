package catalog

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestPublicDoc: the document a solution sees has no address anywhere OpenAPI puts one, keeps
// everything else, and is made once per description.
func TestPublicDoc(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"document servers", `{"openapi":"3.0.3","info":{"title":"t","version":"1"},
			"servers":[{"url":"http://10.1.2.3:8091/v1"}],"paths":{}}`},
		{"path and operation servers", `{"openapi":"3.0.3","info":{"title":"t","version":"1"},
			"servers":[{"url":"http://10.1.2.3:8091"}],
			"paths":{"/op":{"servers":[{"url":"http://10.1.2.3:9000"}],
				"post":{"operationId":"op","servers":[{"url":"http://10.1.2.3:9001"}],"responses":{"200":{"description":"ok"}}}}}}`},
		{"callbacks and links", `{"openapi":"3.0.3","info":{"title":"t","version":"1"},
			"paths":{"/op":{"post":{"operationId":"op",
				"callbacks":{"done":{"{$request.body#/url}":{"servers":[{"url":"http://10.1.2.3:1"}],
					"post":{"servers":[{"url":"http://10.1.2.3:2"}],"responses":{"200":{"description":"ok"}}}}}},
				"responses":{"200":{"description":"ok","links":{"next":{"operationId":"op","server":{"url":"http://10.1.2.3:3"}}}}}}}},
			"components":{"links":{"l":{"operationId":"op","server":{"url":"http://10.1.2.3:4"}}},
				"responses":{"r":{"description":"ok","links":{"m":{"operationId":"op","server":{"url":"http://10.1.2.3:5"}}}}},
				"callbacks":{"c":{"/x":{"servers":[{"url":"http://10.1.2.3:6"}]}}}}}`},
		{"a schema property named servers stays", `{"openapi":"3.0.3","info":{"title":"t","version":"1"},
			"servers":[{"url":"http://10.1.2.3:8091"}],
			"paths":{"/op":{"post":{"operationId":"op","responses":{"200":{"description":"ok",
				"content":{"application/json":{"schema":{"type":"object","properties":{"servers":{"type":"string"}}}}}}}}}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := openapi3.NewLoader().LoadFromData([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			d := &Description{Doc: doc}
			out := d.PublicDoc()
			if !json.Valid(out) {
				t.Fatalf("not JSON: %s", out)
			}
			if again := d.PublicDoc(); &again[0] != &out[0] {
				t.Error("PublicDoc was made again for the same description")
			}
			if strings.Contains(string(out), "10.1.2.3") {
				t.Errorf("the address is still there: %s", out)
			}
			if !strings.Contains(string(out), `"operationId":"op"`) && strings.Contains(tc.doc, `"op"`) {
				t.Errorf("the operations went too: %s", out)
			}
			if strings.Contains(tc.doc, `"properties":{"servers"`) && !strings.Contains(string(out), `"properties":{"servers"`) {
				t.Errorf("a schema property named servers was removed: %s", out)
			}
		})
	}
	if (&Description{}).PublicDoc() != nil {
		t.Error("PublicDoc without a document is not nil")
	}
}

// TestPublicDocHidesToken: the secret a Swagger 2.0 service sets, by either of its names, is
// not in the public document.
func TestPublicDocHidesToken(t *testing.T) {
	for _, name := range []string{"x-exosite-token", "x-token"} {
		d, err := Parse(context.Background(), "svc", minimal2(name+": s3cret-token"), ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pub := string(d.PublicDoc()); strings.Contains(pub, "s3cret-token") || !strings.Contains(pub, `"ping"`) {
			t.Errorf("%s: public document %s", name, pub)
		}
	}
}
