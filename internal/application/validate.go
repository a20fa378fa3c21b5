package application

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// Bounds of what a solution may keep; each stops one caller from filling the store.
var (
	MaxPerSolution   = 100
	MaxEventAPIs     = 50
	MaxSpecBytes     = 1 << 20
	MaxLabels        = 32
	MaxLabelsBytes   = 16 << 10
	MaxSubscriptions = 16
	MaxAttributes    = 32
	MaxHeaders       = 32
	MaxTextLen       = 4096 // description, group, topic, version strings, credentials
	MaxURLLen        = 2048
	// MaxEventAPINameLen bounds an event API's name, as Compass did.
	MaxEventAPINameLen = 100
	maxRecordBytes     = 6 << 20 // under the bus's 8 MiB message bound
)

// NamePattern is what an application name must match: one topic segment.
var NamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,35}$`)

// join is a field path: name under prefix ("" = at the top).
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func fieldErr(field, format string, a ...any) error {
	return &solution.FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// checkApplication checks the fields of a given by a caller (not its event APIs).
func checkApplication(a Application) error {
	if !NamePattern.MatchString(a.Name) {
		return fieldErr("name", "%q must match %s (lower-case letters, digits, '_' and '-', at most 36 characters; it is a topic segment)", a.Name, NamePattern)
	}
	if len(a.Description) > MaxTextLen {
		return fieldErr("description", "longer than %d bytes", MaxTextLen)
	}
	if a.HealthCheckURL != "" {
		if err := checkURL(a.HealthCheckURL, "http", "https"); err != nil {
			return fieldErr("healthCheckURL", "%v", err)
		}
	}
	return checkLabels(a.Labels)
}

func checkLabels(l map[string]any) error {
	if len(l) > MaxLabels {
		return fieldErr("labels", "%d labels: at most %d", len(l), MaxLabels)
	}
	for k := range l {
		if k == "" || len(k) > 128 {
			return fieldErr("labels", "key %q: want 1 to 128 bytes", k)
		}
	}
	b, err := json.Marshal(l)
	if err != nil {
		return fieldErr("labels", "not representable as JSON: %v", err)
	}
	if len(b) > MaxLabelsBytes {
		return fieldErr("labels", "%d bytes as JSON: at most %d", len(b), MaxLabelsBytes)
	}
	return nil
}

// checkEventAPI checks an event API as given; field prefixes the names in errors.
func checkEventAPI(field string, e EventAPI) error {
	if len(e.Name) > MaxEventAPINameLen {
		return fieldErr(join(field, "name"), "longer than %d bytes", MaxEventAPINameLen)
	}
	if len(e.Description) > MaxTextLen {
		return fieldErr(join(field, "description"), "longer than %d bytes", MaxTextLen)
	}
	switch e.Spec.StatedFormat {
	case "", FormatJSON, FormatYAML:
	default:
		return fieldErr(join(field, "spec.format"), "%q: want JSON or YAML", e.Spec.StatedFormat)
	}
	if len(e.Group) > MaxTextLen {
		return fieldErr(join(field, "group"), "longer than %d bytes", MaxTextLen)
	}
	if e.Spec.Type != SpecTypeAsyncAPI {
		return fieldErr(join(field, "spec.eventSpecType"), "%q: want ASYNC_API", e.Spec.Type)
	}
	if e.Spec.Data == "" && e.Spec.FetchRequest == nil {
		return fieldErr(join(field, "spec"), "data or fetchRequest: required")
	}
	if e.Spec.Data != "" && e.Spec.FetchRequest != nil {
		return fieldErr(join(field, "spec"), "data and fetchRequest: give one (the fetched document replaces data)")
	}
	if len(e.Spec.Data) > MaxSpecBytes {
		return fieldErr(join(field, "spec.data"), "%d bytes: at most %d", len(e.Spec.Data), MaxSpecBytes)
	}
	if fr := e.Spec.FetchRequest; fr != nil {
		if err := checkURL(fr.URL, "http", "https"); err != nil {
			return fieldErr(join(field, "spec.fetchRequest.url"), "%v", err)
		}
		switch fr.Mode {
		case ModeSingle, ModePackage, ModeIndex:
		default:
			return fieldErr(join(field, "spec.fetchRequest.mode"), "%q: want SINGLE, PACKAGE or INDEX", fr.Mode)
		}
		if len(fr.Filter) > maxFetchFilterLen {
			return fieldErr(join(field, "spec.fetchRequest.filter"), "longer than %d bytes", maxFetchFilterLen)
		}
		if err := checkAuth(join(field, "spec.fetchRequest.auth"), fr.Auth); err != nil {
			return err
		}
	}
	if err := checkAuth(join(field, "auth"), e.Auth); err != nil {
		return err
	}
	if len(e.ExternalSubscriptions) > MaxSubscriptions {
		return fieldErr(join(field, "externalSubscriptions"), "%d: at most %d", len(e.ExternalSubscriptions), MaxSubscriptions)
	}
	for i, s := range e.ExternalSubscriptions {
		f := join(field, fmt.Sprintf("externalSubscriptions[%d]", i))
		if err := checkURL(s.URL); err != nil {
			return fieldErr(f+".url", "%v", err)
		}
		if s.Topic == "" || len(s.Topic) > MaxTextLen {
			return fieldErr(f+".topic", "want 1 to %d bytes", MaxTextLen)
		}
		if len(s.Attributes) > MaxAttributes {
			return fieldErr(f+".attributes", "%d: at most %d", len(s.Attributes), MaxAttributes)
		}
		for k, v := range s.Attributes {
			if len(k) > 128 || len(v) > MaxTextLen {
				return fieldErr(f+".attributes", "key %.32q: keys at most 128 bytes, values %d", k, MaxTextLen)
			}
		}
		if err := checkAuth(f+".auth", s.Auth); err != nil {
			return err
		}
	}
	if v := e.Version; v != nil {
		if v.Value == "" || len(v.Value) > 128 || len(v.DeprecatedSince) > 128 {
			return fieldErr(join(field, "version"), "value: want 1 to 128 bytes; deprecatedSince at most 128")
		}
	}
	return nil
}

func checkAuth(field string, a *Auth) error {
	if a == nil {
		return nil
	}
	switch {
	case (a.Basic == nil) == (a.OAuth == nil):
		return fieldErr(join(field, "credential"), "give exactly one of basic and oauth")
	case a.Basic != nil && (len(a.Basic.Username) > MaxTextLen || len(a.Basic.Password) > MaxTextLen):
		return fieldErr(join(field, "credential.basic"), "username and password: at most %d bytes each", MaxTextLen)
	case a.OAuth != nil:
		if a.OAuth.ClientID == "" || len(a.OAuth.ClientID) > MaxTextLen || len(a.OAuth.ClientSecret) > MaxTextLen {
			return fieldErr(join(field, "credential.oauth"), "clientId: 1 to %d bytes; clientSecret at most %d", MaxTextLen, MaxTextLen)
		}
		// Compass takes any token URL (its own examples give "url.net"); one that is not an
		// absolute http(s) URL fails when it is used, in the fetch's status.
		if a.OAuth.URL == "" || len(a.OAuth.URL) > MaxURLLen {
			return fieldErr(join(field, "credential.oauth.url"), "want 1 to %d bytes", MaxURLLen)
		}
	}
	for name, m := range map[string]map[string][]string{"additionalHeaders": a.AdditionalHeaders, "additionalQueryParams": a.AdditionalQueryParams} {
		if len(m) > MaxHeaders {
			return fieldErr(join(field, name), "%d keys: at most %d", len(m), MaxHeaders)
		}
		for k, vs := range m {
			if len(vs) > MaxHeaders {
				return fieldErr(join(field, name), "%.32q: at most %d values", k, MaxHeaders)
			}
			for _, v := range vs {
				if len(k) > 256 || len(v) > MaxTextLen {
					return fieldErr(join(field, name), "%.32q: keys at most 256 bytes, values %d", k, MaxTextLen)
				}
				// A header sent with a fetch must not smuggle another one.
				if name == "additionalHeaders" && (!validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00")) {
					return fieldErr(join(field, name), "%.32q: not a valid header name or value", k)
				}
			}
		}
	}
	return nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c > 0x7e || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return http.CanonicalHeaderKey(k) != ""
}

// checkURL wants an absolute URL with a host, of one of schemes when any are given.
func checkURL(s string, schemes ...string) error {
	if len(s) > MaxURLLen {
		return fmt.Errorf("longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%.64q is not an absolute URL", s)
	}
	if len(schemes) == 0 {
		return nil
	}
	for _, sc := range schemes {
		if u.Scheme == sc {
			return nil
		}
	}
	return fmt.Errorf("scheme %q: want %s", u.Scheme, strings.Join(schemes, " or "))
}

// formatOf is the format of a spec document: JSON when it parses as JSON, YAML when as YAML.
// The YAML is read into nodes only, aliases left unexpanded: what the document means (and
// how large it grows) is the spec parser's to bound.
func formatOf(data string) (string, error) {
	if json.Valid([]byte(data)) {
		return FormatJSON, nil
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(data), &n); err != nil {
		return "", fmt.Errorf("neither JSON nor YAML: %v", err)
	}
	return FormatYAML, nil
}
