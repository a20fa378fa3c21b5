package catalog

import (
	"bytes"
	"encoding/json"
	"net/url"
)

// Registration is a request body of POST /api/v1/register/.
type Registration struct {
	Name              string          `json:"name"`
	Swagger           json.RawMessage `json:"swagger,omitempty"` // a JSON object, or a JSON string holding YAML or JSON text
	SwaggerURL        string          `json:"swagger_url,omitempty"`
	Namespace         string          `json:"namespace,omitempty"`
	PlatformNamespace string          `json:"platform_namespace,omitempty"`
}

// Document returns the inline document of the registration: the JSON object itself, or the
// text of a JSON string. It returns no document and no error when the registration gives
// SwaggerURL instead, which the caller fetches. Exactly one of Swagger and SwaggerURL must be
// given, and SwaggerURL must be an absolute http or https URL.
func (r *Registration) Document() ([]byte, error) {
	raw := bytes.TrimSpace(r.Swagger)
	inline := len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
	switch {
	case inline && r.SwaggerURL != "":
		return nil, invalid(FieldSwagger, "give either swagger or swagger_url, not both")
	case !inline && r.SwaggerURL == "":
		return nil, invalid(FieldSwagger, "swagger or swagger_url is required")
	case !inline:
		u, err := url.Parse(r.SwaggerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, invalid(FieldSwaggerURL, "swagger_url must be an absolute http or https URL")
		}
		return nil, nil
	}
	switch raw[0] {
	case '{':
		return raw, nil
	case '"':
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, invalidDoc("swagger is not a valid JSON string", err)
		}
		if text == "" {
			return nil, invalid(FieldSwagger, "swagger or swagger_url is required")
		}
		return []byte(text), nil
	}
	return nil, invalid(FieldSwagger, "swagger must be a JSON object or a string holding YAML or JSON")
}

// ParseOptions returns opts with the registration's namespaces filled in.
func (r *Registration) ParseOptions(opts ParseOptions) ParseOptions {
	opts.Namespace = r.Namespace
	opts.PlatformNamespace = r.PlatformNamespace
	return opts
}
