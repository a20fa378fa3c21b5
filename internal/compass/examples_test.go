package compass

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/switchboardhq/switchboard/internal/compass/generated"
)

// renames are Compass's names the issue spells otherwise.
var renames = map[string]string{"createApplication": "registerApplication"}

// adapt is a Compass request with renames applied and what the schema lacks dropped; dropped
// lists each (type.field), sorted.
func adapt(t *testing.T, src string) (query string, dropped []string) {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: src})
	if err != nil {
		t.Fatal(err)
	}
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	seen := map[string]bool{}
	drop := func(typ, field string) { seen[typ+"."+field] = true }
	var value func(v *ast.Value, typ *ast.Type)
	value = func(v *ast.Value, typ *ast.Type) {
		switch v.Kind {
		case ast.ListValue:
			for _, c := range v.Children {
				value(c.Value, typ.Elem)
			}
		case ast.ObjectValue:
			def := schema.Types[typ.Name()]
			if def.Kind != ast.InputObject {
				return // a scalar written as an object (Labels)
			}
			v.Children = slices.DeleteFunc(v.Children, func(c *ast.ChildValue) bool {
				f := def.Fields.ForName(c.Name)
				if f == nil {
					drop(def.Name, c.Name)
					return true
				}
				value(c.Value, f.Type)
				return false
			})
		}
	}
	var selections func(set ast.SelectionSet, typ *ast.Definition) ast.SelectionSet
	selections = func(set ast.SelectionSet, typ *ast.Definition) ast.SelectionSet {
		return slices.DeleteFunc(set, func(s ast.Selection) bool {
			switch s := s.(type) {
			case *ast.Field:
				if to, ok := renames[s.Name]; ok {
					s.Name = to
				}
				f := typ.Fields.ForName(s.Name)
				if f == nil {
					drop(typ.Name, s.Name)
					return true
				}
				for _, a := range s.Arguments {
					value(a.Value, f.Arguments.ForName(a.Name).Type)
				}
				s.SelectionSet = selections(s.SelectionSet, schema.Types[f.Type.Name()])
			case *ast.InlineFragment:
				s.SelectionSet = selections(s.SelectionSet, schema.Types[s.TypeCondition])
			}
			return false
		})
	}
	for _, op := range doc.Operations {
		root := schema.Query
		if op.Operation == ast.Mutation {
			root = schema.Mutation
		}
		op.SelectionSet = selections(op.SelectionSet, root)
	}
	var b bytes.Buffer
	formatter.NewFormatter(&b).FormatQueryDocument(doc)
	for k := range seen {
		dropped = append(dropped, k)
	}
	slices.Sort(dropped)
	return b.String(), dropped
}

// TestCompassExamples: Compass's own requests (testdata/compass-examples, see SOURCE.md) run
// against the API with only the adaptations listed there.
func TestCompassExamples(t *testing.T) {
	srv := newServer(t, nil)
	src, err := os.ReadFile("testdata/compass-examples/create-application-with-event-apis.graphql")
	if err != nil {
		t.Fatal(err)
	}
	q, dropped := adapt(t, string(src))
	if len(dropped) != 0 {
		t.Fatalf("dropped %v; SOURCE.md says only createApplication is renamed", dropped)
	}
	var app struct {
		ID        string
		Name      string
		Labels    map[string][]string
		Status    struct{ Condition string }
		Webhooks  []any
		Apis      struct{ TotalCount int }
		Auths     []any
		Docs      struct{ TotalCount int } `json:"documents"`
		EventAPIs struct {
			TotalCount int
			Data       []struct {
				ApplicationID     string
				Name, Description string
				Group             string
				Version           struct {
					Value                  string
					Deprecated, ForRemoval bool
				}
				Spec struct {
					Data         *string
					Format       string
					FetchRequest *struct {
						Mode, Filter string
						Auth         struct{ Credential map[string]string }
						Status       struct{ Condition string }
					}
				}
			}
		} `json:"eventAPIs"`
	}
	gql(t, srv, "tok-a", q, nil).into(t, "result", &app)
	if app.ID == "" || app.Name != "create-application-with-event-apis" || app.Labels["scenarios"][0] != "DEFAULT" || app.EventAPIs.TotalCount != 2 {
		t.Fatalf("registered %+v", app)
	}
	// A PACKAGE fetch is not supported: the reviews spec FAILED, and so the application.
	if app.Status.Condition != "FAILED" || app.Webhooks == nil || len(app.Webhooks) != 0 || app.Apis.TotalCount != 0 || app.Docs.TotalCount != 0 || app.Auths == nil || len(app.Auths) != 0 {
		t.Fatalf("registered %+v", app)
	}
	comments, reviews := app.EventAPIs.Data[0], app.EventAPIs.Data[1]
	if comments.ApplicationID != app.ID || comments.Name != "comments-v1" || comments.Description != "comments events" || reviews.Name != "reviews-v1" {
		t.Fatalf("event APIs %+v", app.EventAPIs.Data)
	}
	if comments.Group != "comments" || !comments.Version.Deprecated || !comments.Version.ForRemoval || *comments.Spec.Data != "asyncapi" || comments.Spec.Format != "YAML" {
		t.Fatalf("comments-v1 %+v", comments)
	}
	fr := reviews.Spec.FetchRequest
	if fr == nil || fr.Mode != "PACKAGE" || fr.Filter != "async.json" || fr.Status.Condition != "FAILED" || fr.Auth.Credential["clientId"] != "clientid" {
		t.Fatalf("reviews-v1 %+v (a PACKAGE fetch is not supported: FAILED)", reviews)
	}

	del, err := os.ReadFile("testdata/compass-examples/delete-application.graphql")
	if err != nil {
		t.Fatal(err)
	}
	q, dropped = adapt(t, string(del))
	if len(dropped) != 0 {
		t.Fatalf("dropped %v from delete-application", dropped)
	}
	if res := gql(t, srv, "tok-a", q, nil); res.code(t) != CodeNotFound {
		t.Fatalf("placeholder id: %+v", res.Errors)
	}
	var gone struct{ ID string }
	gql(t, srv, "tok-a", strings.Replace(q, "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", app.ID, 1), nil).into(t, "result", &gone)
	if gone.ID != app.ID {
		t.Fatalf("unregistered %+v", gone)
	}
	var left json.RawMessage
	gql(t, srv, "tok-a", `query($id: ID!) { application(id: $id) { id } }`, map[string]any{"id": app.ID}).into(t, "application", &left)
	if string(left) != "null" {
		t.Fatalf("application after unregistering: %s", left)
	}
}
