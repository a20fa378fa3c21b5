package murano_test

import (
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// wantForm checks a request's body is a form of exactly want, said so in its Content-Type.
func wantForm(t *testing.T, r recorded, want url.Values) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		t.Errorf("%s: Content-Type %q, want application/x-www-form-urlencoded", r, ct)
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatalf("%s: body is not a form: %v", r, err)
	}
	if !reflect.DeepEqual(form, want) {
		t.Errorf("%s: form %v, want %v", r, form, want)
	}
}

// TestMuranoBodies: each way a Swagger 2.0 document declares a body is sent as declared, and
// the schema features of draft-4 JSON schema that OpenAPI 3.0 lacks pass through.
func TestMuranoBodies(t *testing.T) {
	t.Parallel()
	m := start(t, "bodies", "bodies.yaml", "/health")
	m.mustAdd(t, nil)

	t.Run("operation-level consumes form-urlencoded sends an object body as a form", func(t *testing.T) {
		r := m.call(t, `return Bodies.postForm({name = "a b", count = 3})`)
		wantRequest(t, r, "POST", "/form", nil)
		wantForm(t, r, url.Values{"name": {"a b"}, "count": {"3"}})
	})
	t.Run("formData parameters are sent as a form", func(t *testing.T) {
		r := m.call(t, `return Bodies.postFormData({name = "widget", size = 5})`)
		wantRequest(t, r, "POST", "/formdata", nil)
		wantForm(t, r, url.Values{"name": {"widget"}, "size": {"5"}})
	})
	t.Run("formData with type file is sent as multipart/form-data", func(t *testing.T) {
		r := m.call(t, `return Bodies.upload({file = "line one\nline two", title = "notes"})`)
		wantRequest(t, r, "POST", "/upload", nil)
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
			t.Fatalf("Content-Type %q, want multipart/form-data with a boundary", r.Header.Get("Content-Type"))
		}
		parts := map[string]string{}
		mr := multipart.NewReader(strings.NewReader(string(r.Body)), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("multipart body %q: %v", r.Body, err)
			}
			b, _ := io.ReadAll(p)
			parts[p.FormName()] = string(b)
		}
		if want := map[string]string{"file": "line one\nline two", "title": "notes"}; !reflect.DeepEqual(parts, want) {
			t.Errorf("parts %q, want %q", parts, want)
		}
	})
	t.Run("a string body declared as text/plain is sent as the string", func(t *testing.T) {
		r := m.call(t, `return Bodies.postText({text = "hello there"})`)
		wantRequest(t, r, "POST", "/text", nil)
		if string(r.Body) != "hello there" {
			t.Errorf("body %q, want the string itself", r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type %q, want text/plain", ct)
		}
	})
	t.Run("a string body under JSON consumes is sent as the string", func(t *testing.T) {
		r := m.call(t, `return Bodies.postString({bodyParam = "signed text"})`)
		wantRequest(t, r, "POST", "/string", nil)
		if string(r.Body) != "signed text" {
			t.Errorf("body %q, want the string itself, not JSON-quoted", r.Body)
		}
	})
	t.Run("type arrays, an array without items and a non-matching example pass through", func(t *testing.T) {
		r := m.call(t, `return Bodies.postValues({amount = 12.5, list = {1, "two"}, label = "x"})`)
		wantRequest(t, r, "POST", "/values", nil)
		wantJSONBody(t, r, `{"amount":12.5,"list":[1,"two"],"label":"x"}`)
		r = m.call(t, `return Bodies.postValues({amount = "twelve"})`)
		wantJSONBody(t, r, `{"amount":"twelve"}`)
	})
	t.Run("a path template naming an undeclared parameter takes it as a string", func(t *testing.T) {
		r := m.call(t, `return Bodies.getItem({itemId = "abc-1"})`)
		wantRequest(t, r, "GET", "/items/abc-1", nil)
	})
	t.Run("an object body's properties are the call's arguments by default", func(t *testing.T) {
		r := m.call(t, `return Bodies.putExpanded({key = "k", data = "v"})`)
		wantRequest(t, r, "PUT", "/expanded", map[string][]string{"key": {"k"}})
		wantJSONBody(t, r, `{"data":"v"}`)
	})
	t.Run("x-exosite-expand-body-parameters false takes the body whole under its name", func(t *testing.T) {
		r := m.call(t, `return Bodies.putWhole({key = "k", payload = {data = "v"}})`)
		wantRequest(t, r, "PUT", "/whole", map[string][]string{"key": {"k"}})
		wantJSONBody(t, r, `{"data":"v"}`)
	})
}

// TestMuranoOperationExtensions: x-exosite-timeout bounds an operation's call,
// x-exosite-hidden operations stay callable, x-exosite-restricted ones cannot be called.
func TestMuranoOperationExtensions(t *testing.T) {
	t.Parallel()
	m := start(t, "bodies", "bodies.yaml", "/health")
	m.mustAdd(t, nil)

	t.Run("x-exosite-timeout of 1000 ms ends the call after a second", func(t *testing.T) {
		m.svc.answer("GET", "/slow", answer{hold: true})
		began := time.Now()
		r := m.run(t, `local r = Bodies.slow({}); return {status = r.status, error = r.error}`)
		took := time.Since(began)
		m.svc.one(t, "slow")
		if took < time.Second || took > 5*time.Second {
			t.Errorf("the call took %s, want about x-exosite-timeout (1s)", took)
		}
		if r.Status != 200 || !strings.Contains(string(r.Body), `"status":504`) {
			t.Errorf("script answered %d %s, want the call's failure with status 504", r.Status, r.Body)
		}
	})
	t.Run("x-exosite-hidden operation is still callable", func(t *testing.T) {
		r := m.call(t, `return Bodies.hiddenOp({flag = "on"})`)
		wantRequest(t, r, "GET", "/hidden", map[string][]string{"flag": {"on"}})
	})
	t.Run("x-exosite-restricted operation cannot be called from scripts", func(t *testing.T) {
		m.run(t, `return Bodies.adminOnly({})`)
		m.svc.none(t, "adminOnly")
	})
}
