package hub_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/dynamic"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// formsSwagger is a Murano-style document consuming forms at the document's level: a message
// operation of formData fields, an upload with a file (multipart) and a note taking a string.
const formsSwagger = `swagger: "2.0"
info: {title: Forms, description: Takes forms., version: "1", contact: {name: t, email: t@t.invalid}}
host: "%HOST%"
schemes: [http]
consumes: [application/x-www-form-urlencoded]
x-exosite-health-path: /health
paths:
  /messages:
    post:
      operationId: sendMessage
      description: Sends a message.
      parameters:
        - {name: To, in: formData, type: string, required: true, description: Recipient.}
        - {name: Body, in: formData, type: string, description: Text.}
        - {name: MediaUrl, in: formData, type: array, items: {type: string}, description: Media.}
      responses: {"201": {description: Sent.}}
  /uploads:
    post:
      operationId: upload
      description: Stores a file.
      consumes: [multipart/form-data]
      parameters:
        - {name: file, in: formData, type: file, required: true, description: The file.}
        - {name: note, in: formData, type: string, description: A note.}
      responses: {"201": {description: Stored.}}
  /note:
    put:
      operationId: putNote
      description: Stores a note.
      consumes: [application/json]
      parameters:
        - {name: text, in: body, required: true, description: The note., schema: {type: string}}
      responses: {"204": {description: Stored.}}
`

// bodyRequest is what the stand-in service got.
type bodyRequest struct {
	path, contentType string
	body              []byte
	verified          error
}

// TestDynamicBodiesAsDeclared: a registered Swagger 2.0 document's operations are called from a
// script with the bodies they declare: a URL-encoded form, multipart with a file and a plain
// string, each with its Content-Type and signed over the bytes sent.
func TestDynamicBodiesAsDeclared(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	seen := make(chan bodyRequest, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		body, _ := io.ReadAll(r.Body)
		seen <- bodyRequest{path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: body,
			verified: dynamic.Verify(s.Hub.ServiceToken("forms"), r.Header, r.Method, r.RequestURI, body, time.Now(), time.Minute)}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`) //nolint:errcheck // test peer
	}))
	t.Cleanup(srv.Close)
	doc := strings.ReplaceAll(formsSwagger, "%HOST%", strings.TrimPrefix(srv.URL, "http://"))
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "forms", "swagger": doc}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "demo", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "forms"}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	next := func() bodyRequest {
		t.Helper()
		select {
		case r := <-seen:
			if r.verified != nil {
				t.Errorf("%s: signature refused: %v", r.path, r.verified)
			}
			return r
		default:
			t.Fatal("the service got no request")
			return bodyRequest{}
		}
	}

	s.Deploy(t, "demo", "GET", "/message", `return Forms.sendMessage({To="+15550100", Body="hi & bye", MediaUrl={"https://m/1", "https://m/2"}})`)
	wantJSON(t, call(t, s, "GET", "/apps/demo/message", 10*time.Second), `{"ok":true}`)
	got := next()
	if got.contentType != "application/x-www-form-urlencoded" ||
		string(got.body) != "Body=hi+%26+bye&MediaUrl=https%3A%2F%2Fm%2F1&MediaUrl=https%3A%2F%2Fm%2F2&To=%2B15550100" {
		t.Errorf("message: Content-Type %q, body %q", got.contentType, got.body)
	}

	s.Deploy(t, "demo", "GET", "/upload", `return Forms.upload({note="n", file={filename="a.txt", content="line 1\nline 2", content_type="text/plain"}})`)
	wantJSON(t, call(t, s, "GET", "/apps/demo/upload", 10*time.Second), `{"ok":true}`)
	got = next()
	media, params, err := mime.ParseMediaType(got.contentType)
	if err != nil || media != "multipart/form-data" {
		t.Fatalf("upload: Content-Type %q", got.contentType)
	}
	form, err := multipart.NewReader(bytes.NewReader(got.body), params["boundary"]).ReadForm(1 << 20)
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, got.body)
	}
	if len(form.File["file"]) != 1 || strings.Join(form.Value["note"], ",") != "n" {
		t.Fatalf("upload: fields %v, files %v", form.Value, form.File)
	}
	fh := form.File["file"][0]
	f, _ := fh.Open()
	content, _ := io.ReadAll(f)
	if fh.Filename != "a.txt" || fh.Header.Get("Content-Type") != "text/plain" || string(content) != "line 1\nline 2" {
		t.Errorf("upload: file %q (%s) %q", fh.Filename, fh.Header.Get("Content-Type"), content)
	}

	s.Deploy(t, "demo", "GET", "/note", `return Forms.putNote({text="plain words"})`)
	wantJSON(t, call(t, s, "GET", "/apps/demo/note", 10*time.Second), `{"ok":true}`)
	if got = next(); got.contentType != "text/plain" || string(got.body) != "plain words" {
		t.Errorf("note: Content-Type %q, body %q", got.contentType, got.body)
	}

	s.Deploy(t, "demo", "GET", "/bad", `return Forms.sendMessage({Body="no recipient"})`)
	var failed struct {
		Error  string
		Status int
	}
	call(t, s, "GET", "/apps/demo/bad", 10*time.Second).JSON(t, &failed)
	if failed.Status != http.StatusBadRequest || !strings.Contains(failed.Error, `missing required argument "To"`) {
		t.Errorf("missing form field: %+v", failed)
	}
	select {
	case r := <-seen:
		t.Errorf("a refused call reached the service: %s %q", r.path, r.body)
	default:
	}
}
