package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/yaml"

	"github.com/switchboardhq/switchboard/internal/service"
)

// DefaultMaxBytes is the largest document Parse accepts when ParseOptions.MaxBytes is 0.
const DefaultMaxBytes = 1 << 20

// NamespacePattern is what a namespace or platform namespace must match.
var NamespacePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ParseOptions tune Parse.
type ParseOptions struct {
	// Namespace, when set, makes the service reachable at {name}.{namespace}:{port}.
	Namespace string
	// PlatformNamespace is validated like Namespace.
	PlatformNamespace string
	// CoreNames reports whether a name is reserved for a core service; nil reserves none.
	CoreNames func(string) bool
	// MaxBytes bounds the document's size; 0 means DefaultMaxBytes.
	MaxBytes int
}

// Parse validates the service name and document (Swagger 2.0, converted to OpenAPI 3, or
// OpenAPI 3.x, as YAML or JSON) and returns the service's description. Every failure is a
// *ValidationError.
func Parse(ctx context.Context, name string, doc []byte, opts ParseOptions) (d *Description, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, invalidDoc("document could not be processed", fmt.Errorf("%w: %v", errPanic, p))
		}
	}()
	if err := checkNames(name, opts); err != nil {
		return nil, err
	}
	t, err := load(ctx, doc, opts.MaxBytes)
	if err != nil {
		return nil, err
	}
	return describe(name, t, opts)
}

// checkNames validates the service name and the namespaces.
func checkNames(name string, opts ParseOptions) error {
	if !service.NamePattern.MatchString(name) {
		return invalid(FieldName, fmt.Sprintf("name must match %s", service.NamePattern))
	}
	if opts.CoreNames != nil && opts.CoreNames(name) {
		return invalid(FieldName, fmt.Sprintf("name %q is reserved for a core service", name))
	}
	if ns := opts.Namespace; ns != "" && !NamespacePattern.MatchString(ns) {
		return invalid(FieldNamespace, fmt.Sprintf("namespace must match %s", NamespacePattern))
	}
	if ns := opts.PlatformNamespace; ns != "" && !NamespacePattern.MatchString(ns) {
		return invalid(FieldPlatformNamespace, fmt.Sprintf("platform_namespace must match %s", NamespacePattern))
	}
	return nil
}

// loaded is a document read and validated, with what of its Swagger 2.0 form is needed later.
type loaded struct {
	doc *openapi3.T
	// v2 is the Swagger 2.0 document it was converted from, nil for OpenAPI 3.
	v2 *openapi2.T
}

// errPanic marks a document the OpenAPI library failed on by panicking.
var errPanic = errors.New("the OpenAPI library failed")

// load decodes, converts and validates the document. The document is untrusted: a panic of the
// OpenAPI library on it is a refusal of the document rather than a crash.
func load(ctx context.Context, data []byte, maxBytes int) (l *loaded, err error) {
	defer func() {
		if p := recover(); p != nil {
			l, err = nil, invalidDoc("document could not be processed", fmt.Errorf("%w: %v", errPanic, p))
		}
	}()
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if len(data) > maxBytes {
		return nil, invalid(FieldSwagger, fmt.Sprintf("document is larger than %d bytes", maxBytes))
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, invalid(FieldSwagger, "document is empty")
	}
	js := data
	if !json.Valid(data) {
		// Only YAML goes through the YAML decoder, whose time grows with the square of the
		// number of keys of a mapping; JSON needs no conversion.
		if js, err = yaml.YAMLToJSON(data); err != nil {
			return nil, invalidDoc("document is neither YAML nor JSON", err)
		}
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(js, &probe); err != nil || probe == nil {
		return nil, invalid(FieldSwagger, "document must be an object")
	}
	var swagger, openapi string
	_ = json.Unmarshal(probe["swagger"], &swagger)
	_ = json.Unmarshal(probe["openapi"], &openapi)

	l = &loaded{}
	switch {
	case swagger == "2.0" && openapi == "":
		if l.v2, l.doc, err = loadV2(ctx, js); err != nil {
			return nil, err
		}
	case swagger == "" && (openapi == "3" || strings.HasPrefix(openapi, "3.")):
		loader := openapi3.NewLoader()
		loader.Context = ctx
		if l.doc, err = loader.LoadFromData(js); err != nil {
			return nil, invalidDoc("invalid document", err)
		}
		if l.doc.OpenAPIMajorMinor() == "" {
			return nil, invalid(FieldSwagger, fmt.Sprintf("unsupported OpenAPI version %q", openapi))
		}
		if err := l.doc.Validate(ctx); err != nil {
			return nil, invalidDoc("invalid document", err)
		}
	default:
		return nil, invalid(FieldSwagger, `document must be Swagger 2.0 (swagger: "2.0") or OpenAPI 3.x (openapi: "3.…")`)
	}
	return l, nil
}

// describe reads the description off a validated document.
func describe(name string, l *loaded, opts ParseOptions) (*Description, error) {
	t := l.doc
	d := &Description{Name: name, Doc: t, Tags: documentTags(t)}
	// x-exosite-token is the service's own secret for calling the hub (Authorization:
	// <service> <token>, as on Murano's dispatcher): kept here, and taken out of the
	// document so that no view of it, the admin's included, ever shows it.
	if tok, ok := t.Extensions[extToken]; ok {
		s, isString := tok.(string)
		if !isString && tok != nil {
			return nil, invalid(FieldSwagger, "#/"+extToken+": must be a string")
		}
		d.callbackToken = s
		delete(t.Extensions, extToken)
	}
	if t.Info != nil {
		d.Description = t.Info.Description
		if d.Description == "" {
			d.Description = t.Info.Title
		}
		d.Version = t.Info.Version
	}
	var err error
	if d.BaseURL, err = baseURL(name, l, opts.Namespace); err != nil {
		return nil, err
	}
	if d.HealthPath, err = healthPath(t.Extensions, d.BaseURL.Path); err != nil {
		return nil, err
	}
	if d.Timeout, err = timeout(t.Extensions, DefaultTimeout); err != nil {
		return nil, err
	}
	if d.Operations, err = operations(t, d.Timeout); err != nil {
		return nil, err
	}
	for _, hook := range []struct {
		ext string
		dst *string
	}{{extInit, &d.Init}, {extUpdate, &d.Update}, {extGC, &d.GC}, {extInfo, &d.Info}} {
		if *hook.dst, err = lifecycleHook(t.Extensions, hook.ext, d.Operations); err != nil {
			return nil, err
		}
	}
	if d.Events, err = events(t.Extensions); err != nil {
		return nil, err
	}
	if d.ConfigParameters, err = configParameters(t.Extensions); err != nil {
		return nil, err
	}
	if err := security(l, d); err != nil {
		return nil, err
	}
	return d, nil
}
