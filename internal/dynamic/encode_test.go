package dynamic

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fixtures of bodies that are not JSON.
const (
	formsDoc  = "../catalog/testdata/forms.swagger2.yaml"  // consumes form at the document's level
	formOpDoc = "../catalog/testdata/formop.swagger2.yaml" // consumes JSON, one operation form
)

// recorded is a request as a recorder got it.
type recorded struct {
	method, uri string
	header      http.Header
	body        []byte
	verified    error // Verify's verdict on the request as received
}

// recorder is a stand-in service that keeps every request it gets and answers 204.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	got := recorded{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: body,
		verified: Verify(testToken, r.Header, r.Method, r.RequestURI, body, time.Now(), time.Minute)}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, got)
	rec.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// take returns the requests recorded since the last take.
func (rec *recorder) take() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.reqs
	rec.reqs = nil
	return out
}

// part is a part of a multipart body as a test expects it.
type part struct {
	name, filename, contentType, content string
}

// TestCallEncodesBodies checks each kind of body reaches the service as its operation
// declares: forms under a document's or an operation's consumes, formData fields, multipart
// with files, a string as itself, JSON as before; each signed over the bytes sent.
func TestCallEncodesBodies(t *testing.T) {
	rec := &recorder{}
	srv := handlerServer(t, rec.ServeHTTP)
	docs := map[string]string{"forms": formsDoc, "formop": formOpDoc}
	tests := []struct {
		name, service, op string
		args              map[string]any
		params            map[string]any
		uri               string
		contentType       string // the media type, without parameters
		body              string // the exact body; unused when parts is set
		parts             []part // multipart bodies, in order
	}{
		{
			name: "document consumes form: scalars, repeated list, table as JSON", service: "forms", op: "getToken",
			args: map[string]any{"client": "c1", "grant_type": "client_credentials", "scope": []any{"read", "write"},
				"ttl": 1e7, "exact": true, "ratio": 0.25, "extra": map[string]any{"k": "v"}},
			uri: "/api/tokens?client=c1", contentType: "application/x-www-form-urlencoded",
			body: "exact=true&extra=%7B%22k%22%3A%22v%22%7D&grant_type=client_credentials&ratio=0.25&scope=read&scope=write&ttl=10000000",
		},
		{
			name: "operation consumes form, default filled", service: "formop", op: "login",
			args: map[string]any{"user": "ann", "password": "p&ss=1"},
			uri:  "/login", contentType: "application/x-www-form-urlencoded",
			body: "password=p%26ss%3D1&remember=false&user=ann",
		},
		{
			name: "operation's form body from the solution's parameters", service: "formop", op: "login",
			args: map[string]any{"password": "x"}, params: map[string]any{"user": "configured"},
			uri: "/login", contentType: "application/x-www-form-urlencoded",
			body: "password=x&remember=false&user=configured",
		},
		{
			name: "formData fields", service: "forms", op: "sendMessage",
			args: map[string]any{"To": "+15550100", "Body": "hi there", "MediaUrl": []any{"https://a/1", "https://a/2"}},
			uri:  "/api/messages", contentType: "application/x-www-form-urlencoded",
			body: "Body=hi+there&MediaUrl=https%3A%2F%2Fa%2F1&MediaUrl=https%3A%2F%2Fa%2F2&Priority=1&To=%2B15550100",
		},
		{
			name: "unexpanded form body", service: "forms", op: "putRaw",
			args: map[string]any{"fields": map[string]any{"a": "x y"}},
			uri:  "/api/raw", contentType: "application/x-www-form-urlencoded", body: "a=x+y",
		},
		{
			name: "multipart, file as a table", service: "forms", op: "upload",
			args: map[string]any{"folder": "in box", "note": "first", "tags": []any{"a", "b"},
				"file": map[string]any{"filename": `re"port.csv`, "content": "x,y\r\n1,2\r\n", "content_type": "text/csv"}},
			uri: "/api/uploads/in%20box", contentType: "multipart/form-data",
			parts: []part{
				{name: "file", filename: `re"port.csv`, contentType: "text/csv", content: "x,y\r\n1,2\r\n"},
				{name: "note", content: "first"}, {name: "tags", content: "a"}, {name: "tags", content: "b"},
			},
		},
		{
			name: "multipart, file as its contents", service: "forms", op: "upload",
			args: map[string]any{"folder": "f", "file": "\x00\x01binary"},
			uri:  "/api/uploads/f", contentType: "multipart/form-data",
			parts: []part{{name: "file", filename: "file", contentType: "application/octet-stream", content: "\x00\x01binary"}},
		},
		{
			name: "string body under JSON consumes", service: "forms", op: "putNote",
			args: map[string]any{"text": `say "hi"`},
			uri:  "/api/notes", contentType: "text/plain", body: `say "hi"`,
		},
		{
			name: "string body of a declared type", service: "forms", op: "putCSV",
			args: map[string]any{"rows": "a,b\n1,2\n"},
			uri:  "/api/csv", contentType: "text/csv", body: "a,b\n1,2\n",
		},
		{
			name: "operation consumes JSON under form document", service: "forms", op: "createItem",
			args: map[string]any{"name": "cup", "size": 2.0},
			uri:  "/api/items", contentType: "application/json", body: `{"name":"cup","size":2}`,
		},
		{
			name: "document consumes JSON", service: "formop", op: "create",
			args: map[string]any{"name": "cup", "count": 3.0},
			uri:  "/items", contentType: "application/json", body: `{"count":3,"name":"cup"}`,
		},
	}
	iv := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := describe(t, tt.service, docs[tt.service], srv.URL)
			if _, err := iv.Call(context.Background(), "sol1", d, testToken, tt.op, tt.args, tt.params, "req-1"); err != nil {
				t.Fatal(err)
			}
			reqs := rec.take()
			if len(reqs) != 1 {
				t.Fatalf("service got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.method != "POST" && got.method != "PUT" || got.uri != tt.uri {
				t.Errorf("request = %s %s, want %s", got.method, got.uri, tt.uri)
			}
			if got.verified != nil {
				t.Errorf("signature refused: %v", got.verified)
			}
			media, mparams, err := mime.ParseMediaType(got.header.Get("Content-Type"))
			if err != nil || media != tt.contentType {
				t.Fatalf("Content-Type = %q (%v), want %s", got.header.Get("Content-Type"), err, tt.contentType)
			}
			if tt.parts == nil {
				if string(got.body) != tt.body {
					t.Errorf("body = %q, want %q", got.body, tt.body)
				}
				return
			}
			mr := multipart.NewReader(bytes.NewReader(got.body), mparams["boundary"])
			for i := 0; ; i++ {
				p, err := mr.NextPart()
				if err == io.EOF {
					if i != len(tt.parts) {
						t.Errorf("%d parts, want %d", i, len(tt.parts))
					}
					break
				}
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				content, _ := io.ReadAll(p)
				gotPart := part{name: p.FormName(), filename: p.FileName(), contentType: p.Header.Get("Content-Type"), content: string(content)}
				if gotPart.filename == "" {
					gotPart.contentType = "" // a plain field's type is not asserted
				}
				if i >= len(tt.parts) || gotPart != tt.parts[i] {
					t.Errorf("part %d = %+v, want %+v", i, gotPart, tt.parts[min(i, len(tt.parts)-1)])
				}
			}
		})
	}
}

// TestCallRefusesBadBodies checks bodies refused before anything is sent, each error naming
// the argument.
func TestCallRefusesBadBodies(t *testing.T) {
	var hits counter
	srv := handlerServer(t, hits.handler(204, "", ""))
	docs := map[string]string{"forms": formsDoc, "formop": formOpDoc}
	tests := []struct {
		name, service, op string
		args              map[string]any
		parts             []string
	}{
		{"missing form field", "forms", "sendMessage", map[string]any{"Body": "x"}, []string{`"To"`, "missing"}},
		{"form field too long", "forms", "sendMessage", map[string]any{"To": "1", "Body": strings.Repeat("x", 161)}, []string{`"Body"`}},
		{"form field not in enum", "forms", "getToken", map[string]any{"grant_type": "implicit"}, []string{`"grant_type"`}},
		{"missing form property", "formop", "login", map[string]any{"user": "ann"}, []string{`"password"`, "missing"}},
		{"string body too long", "forms", "putNote", map[string]any{"text": strings.Repeat("x", 21)}, []string{`"text"`}},
		{"string body not a string", "forms", "putNote", map[string]any{"text": map[string]any{"a": "b"}}, []string{`"text"`}},
		{"missing file", "forms", "upload", map[string]any{"folder": "f", "note": "x"}, []string{`"file"`, "missing"}},
		{"file a number", "forms", "upload", map[string]any{"folder": "f", "file": 3.0}, []string{`"file"`}},
		{"file table without content", "forms", "upload", map[string]any{"folder": "f", "file": map[string]any{"filename": "a"}}, []string{`"file"`, "content"}},
		{"file table with unknown field", "forms", "upload", map[string]any{"folder": "f", "file": map[string]any{"content": "x", "path": "/etc/passwd"}}, []string{`"file"`, `"path"`}},
		{"file name with a line break", "forms", "upload", map[string]any{"folder": "f", "file": map[string]any{"content": "x", "filename": "a\r\nX-Evil: 1"}}, []string{`"file"`, "filename"}},
		{"file type not a media type", "forms", "upload", map[string]any{"folder": "f", "file": map[string]any{"content": "x", "content_type": "text/plain\r\nX-Evil: 1"}}, []string{`"file"`, "content_type"}},
	}
	iv := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := describe(t, tt.service, docs[tt.service], srv.URL)
			_, err := iv.Call(context.Background(), "sol1", d, testToken, tt.op, tt.args, nil, "req-1")
			wantError(t, err, 400, tt.parts...)
		})
	}
	if n := hits.n.Load(); n != 0 {
		t.Errorf("service got %d requests, want none", n)
	}
}
