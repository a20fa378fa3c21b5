package dynamic

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/service"
)

const authDoc = "testdata/auth.swagger2.yaml"

func basicAuth(user, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+secret))
}

// TestCallAppliesSecurity checks what each security scheme sends, from the solution's
// configuration or a script's argument, over the arguments mapped to the same header or query
// parameter, with the operation's requirement taking the place of the document's.
func TestCallAppliesSecurity(t *testing.T) {
	srv := echoServer(t)
	d := describe(t, "auth", authDoc, srv.URL)
	cfg := map[string]any{"account": "acc", "password": "pw", "key": "k1", "token": "t1", "oauth": "o1"}
	without := func(names ...string) map[string]any {
		out := map[string]any{}
		for k, v := range cfg {
			out[k] = v
		}
		for _, n := range names {
			delete(out, n)
		}
		return out
	}
	tests := []struct {
		name, op string
		args     map[string]any
		params   map[string]any
		uri      string            // "" for the operation's path alone
		header   map[string]string // "" wants the header absent
		body     string
	}{
		{
			name: "document's basic over a mapped Authorization argument", op: "basic",
			args: map[string]any{"Authorization": "Basic forged"}, params: cfg,
			header: map[string]string{"Authorization": basicAuth("acc", "pw")},
		},
		{
			name: "basic secret from a script argument", op: "basic",
			args: map[string]any{"password": "pw2"}, params: without("password"),
			header: map[string]string{"Authorization": basicAuth("acc", "pw2")},
		},
		{
			name: "apiKey in a header with its prefix over a mapped argument", op: "headerKey",
			args: map[string]any{"X-Api-Key": "forged"}, params: cfg,
			header: map[string]string{"X-Api-Key": "Token k1", "Authorization": ""},
		},
		{
			name: "apiKey in the query with its prefix over a mapped argument", op: "queryKey",
			args: map[string]any{"api_key": "forged", "q": "x"}, params: cfg,
			uri: "/query?api_key=Token+k1&q=x",
		},
		{
			name: "bearer from a script argument, which stays out of the body", op: "bearer",
			args: map[string]any{"token": "script-token", "note": "n"}, params: without("token"),
			header: map[string]string{"Authorization": "Bearer script-token"},
			body:   `{"note":"n"}`,
		},
		{
			name: "bearer: the configuration wins over the script", op: "bearer",
			args: map[string]any{"token": "script-token", "note": "n"}, params: cfg,
			header: map[string]string{"Authorization": "Bearer t1"},
			body:   `{"note":"n"}`,
		},
		{
			name: "oauth2 sends its secret field as a bearer token", op: "oauth", params: cfg,
			header: map[string]string{"Authorization": "Bearer o1"},
		},
		{
			name: "first alternative", op: "either", params: cfg,
			header: map[string]string{"Authorization": "Bearer t1"},
		},
		{
			name: "second alternative when the first lacks its credential", op: "either", params: without("token"),
			header: map[string]string{"Authorization": basicAuth("acc", "pw")},
		},
		{
			name: "signature and clientCA send nothing more", op: "signed", params: cfg,
			header: map[string]string{"Authorization": "", HeaderSignature: "-"},
		},
		{
			name: "empty operation requirement: nothing sent", op: "open", params: cfg,
			header: map[string]string{"Authorization": ""},
		},
		{
			name: "restricted scheme from the configuration", op: "locked", params: map[string]any{"locked": "L"},
			header: map[string]string{"Authorization": "Bearer L"},
		},
	}
	iv := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := iv.Call(context.Background(), "sol1", d, testToken, tt.op, tt.args, tt.params, "req-1")
			if err != nil {
				t.Fatal(err)
			}
			got := asEchoed(t, res)
			want := tt.uri
			if want == "" {
				want = d.Operations[tt.op].Path
			}
			if got.URI != want {
				t.Errorf("URI = %s, want %s", got.URI, want)
			}
			for k, want := range tt.header {
				v := got.Header.Get(k)
				if want == "-" && v == "" || want != "-" && v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
			if tt.body == "" && len(got.Body) != 0 || tt.body != "" && !sameJSON(t, got.Body, tt.body) {
				t.Errorf("body = %s, want %s", got.Body, tt.body)
			}
			if got.Verified != "" {
				t.Errorf("signature refused: %s", got.Verified)
			}
		})
	}
}

// TestCallRefusesWithoutCredentials checks a call none of whose alternatives has its
// credentials is refused by the hub before anything is sent, naming the missing parameter and
// no credential's value.
func TestCallRefusesWithoutCredentials(t *testing.T) {
	var hits counter
	srv := handlerServer(t, hits.handler(200, "application/json", `{}`))
	tests := []struct {
		name, op string
		args     map[string]any
		params   map[string]any
		restrict string // a configuration parameter made restricted
		parts    []string
	}{
		{"basic without its secret", "basic", nil, map[string]any{"account": "acc-value"}, "",
			[]string{"Auth.basic", `"password"`, `"basic"`, "the hub did not call the service"}},
		{"no alternative: the first one's missing parameter", "either", nil, map[string]any{"account": "acc-value"}, "",
			[]string{`"token"`, "the hub did not call the service"}},
		{"restricted scheme ignores the script", "locked", map[string]any{"locked": "script-value"}, nil, "",
			[]string{`"locked"`}},
		{"restricted parameter ignores the script", "headerKey", map[string]any{"key": "script-value"}, nil, "key",
			[]string{`"key"`, `"headerKey"`}},
		{"a line break in a credential", "bearer", nil, map[string]any{"token": "t1\r\nX-Evil: 1"}, "",
			[]string{`"bearer"`, "line break"}},
	}
	iv := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := describe(t, "auth", authDoc, srv.URL)
			for i := range d.ConfigParameters {
				d.ConfigParameters[i].Restricted = d.ConfigParameters[i].Name == tt.restrict
			}
			_, err := iv.Call(context.Background(), "sol1", d, testToken, tt.op, tt.args, tt.params, "req-1")
			wantError(t, err, 400, tt.parts...)
			var se *service.Error
			if errors.As(err, &se) {
				for _, values := range []map[string]any{tt.args, tt.params} {
					for _, v := range values {
						if s, _ := v.(string); strings.Contains(se.Message, s) || strings.Contains(se.Message, "t1") {
							t.Errorf("message %q shows a credential", se.Message)
						}
					}
				}
			}
		})
	}
	if n := hits.n.Load(); n != 0 {
		t.Errorf("server got %d requests, want none", n)
	}
}
