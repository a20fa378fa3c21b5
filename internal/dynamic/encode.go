package dynamic

import (
	"bytes"
	"encoding/json"
	"mime"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"sort"
	"strings"

	"github.com/switchboardhq/switchboard/internal/catalog"
)

// mediaBinary is the type of a file given as its contents alone.
const mediaBinary = "application/octet-stream"

// encode is the bytes and Content-Type of body value v, sent as the operation's body media
// type says: JSON; a URL-encoded form or multipart/form-data of an object's fields; the text
// itself of a string under any other type.
func (c *call) encode(v any) ([]byte, string, error) {
	b := c.op.Body
	mt := b.MediaType
	if mt == "" || mt == catalog.MediaJSON {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, "", c.errorf(400, "body cannot be encoded as JSON: %v", err)
		}
		return data, catalog.MediaJSON, nil
	}
	if s, ok := v.(string); ok {
		return []byte(s), mt, nil
	}
	obj, ok := v.(map[string]any)
	base, _, _ := mime.ParseMediaType(mt)
	switch {
	case ok && base == catalog.MediaForm:
		return []byte(formValues(obj).Encode()), mt, nil
	case ok && base == catalog.MediaMultipart:
		return c.multipartBody(obj)
	case base == catalog.MediaForm || base == catalog.MediaMultipart:
		return nil, "", c.errorf(400, "argument %q must be a table of fields or a string: the body is sent as %s", b.Name, base)
	}
	return nil, "", c.errorf(400, "argument %q must be a string: the body is sent as %s", b.Name, mt)
}

// formValues are the fields of obj as form values: a list is the field repeated, a table
// within is JSON text, anything else its text as in a query (see scalar).
func formValues(obj map[string]any) url.Values {
	form := url.Values{}
	for k, v := range obj {
		for _, e := range fieldValues(v) {
			form.Add(k, scalar(e))
		}
	}
	return form
}

// fieldValues is a field's value as the values of its repeated field: a list's items, nothing
// for nil, else the value alone.
func fieldValues(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// multipartBody is obj as multipart/form-data: a part per field in name order (a list's items
// repeat it), files (see file) as file parts.
func (c *call) multipartBody(obj map[string]any) ([]byte, string, error) {
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, k := range names {
		if c.op.Body.IsFile(k) && obj[k] != nil {
			f, err := c.file(k, obj[k])
			if err != nil {
				return nil, "", err
			}
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", multipart.FileContentDisposition(k, f.name))
			h.Set("Content-Type", f.contentType)
			part, err := w.CreatePart(h)
			if err == nil {
				_, err = part.Write([]byte(f.content))
			}
			if err != nil {
				return nil, "", c.errorf(400, "body cannot be encoded as %s: %v", catalog.MediaMultipart, err)
			}
			continue
		}
		for _, e := range fieldValues(obj[k]) {
			if err := w.WriteField(k, scalar(e)); err != nil {
				return nil, "", c.errorf(400, "body cannot be encoded as %s: %v", catalog.MediaMultipart, err)
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", c.errorf(400, "body cannot be encoded as %s: %v", catalog.MediaMultipart, err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// file is a file field of a multipart body.
type file struct {
	name, contentType, content string
}

// file reads file field name's value v: a string, the file's contents (named like the field,
// of type application/octet-stream), or a table {filename=, content=, content_type=} of which
// only content is required.
func (c *call) file(name string, v any) (file, error) {
	f := file{name: name, contentType: mediaBinary}
	switch x := v.(type) {
	case string:
		f.content = x
		return f, nil
	case map[string]any:
		fields := map[string]*string{"filename": &f.name, "content": &f.content, "content_type": &f.contentType}
		for k, e := range x {
			dst, known := fields[k]
			if !known {
				return f, c.errorf(400, "invalid argument %q: unknown field %q (a file is its contents, or a table {filename=, content=, content_type=})", name, k)
			}
			s, ok := e.(string)
			if !ok {
				return f, c.errorf(400, "invalid argument %q: %s must be a string, not %s", name, k, kind(e))
			}
			*dst = s
		}
		if _, ok := x["content"]; !ok {
			return f, c.errorf(400, "invalid argument %q: content is required", name)
		}
		if f.name == "" || strings.ContainsFunc(f.name, isControl) {
			return f, c.errorf(400, "invalid argument %q: filename must be a non-empty name without control characters", name)
		}
		if _, _, err := mime.ParseMediaType(f.contentType); err != nil || strings.ContainsFunc(f.contentType, isControl) {
			return f, c.errorf(400, "invalid argument %q: content_type %q is not a media type", name, f.contentType)
		}
		return f, nil
	}
	return f, c.errorf(400, "invalid argument %q: a file is its contents (a string) or a table {filename=, content=, content_type=}, not %s", name, kind(v))
}

// fileContents is body value v as its schema sees it: in a multipart body, a file given as a
// table is a string, its content. v itself is never modified.
func (c *call) fileContents(v any) (any, error) {
	obj, ok := v.(map[string]any)
	if !ok || !strings.HasPrefix(c.op.Body.MediaType, catalog.MediaMultipart) {
		return v, nil
	}
	var out map[string]any
	for k, e := range obj {
		if _, table := e.(map[string]any); !table || !c.op.Body.IsFile(k) {
			continue
		}
		f, err := c.file(k, e)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make(map[string]any, len(obj))
			for k2, e2 := range obj {
				out[k2] = e2
			}
		}
		out[k] = f.content
	}
	if out == nil {
		return v, nil
	}
	return out, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
