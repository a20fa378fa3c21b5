package dynamic

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchboardhq/switchboard/internal/catalog"
)

// authorize applies the security the call's operation requires (its own requirement, else the
// document's) to the request being built, over any argument mapped to the same header or
// query parameter: the first alternative whose credentials are all at hand is sent; when none
// is, the call is refused before anything is sent. signature (the hub's own signing, always
// sent) and clientCA need nothing here.
//
// A credential is the solution's configuration parameter of the field's name, else, unless
// that parameter or the scheme is restricted, the script's argument of that name. Such an
// argument is marked used: it is a credential, not an unknown argument, and goes nowhere else.
// Credential values never appear in errors.
func (c *call) authorize(h http.Header, q url.Values, used map[string]bool) error {
	reqs := c.op.Security
	if reqs == nil {
		reqs = c.d.Security
	}
	if len(reqs) == 0 {
		return nil
	}
	for _, alt := range reqs {
		for _, name := range alt {
			if s := c.scheme(name); s != nil {
				for _, f := range []string{s.UserField, s.SecretField} {
					if f != "" && !used[f] && !c.inBody(f) {
						used[f] = true
					}
				}
			}
		}
	}
	var missing, missingScheme string
alternatives:
	for _, alt := range reqs {
		creds := make([]credential, 0, len(alt))
		for _, name := range alt {
			s := c.scheme(name)
			if s == nil {
				continue // refused at registration: a description made otherwise has nothing to send
			}
			cr, lacking := c.credentialOf(s)
			if lacking != "" {
				if missing == "" {
					missing, missingScheme = lacking, name
				}
				continue alternatives
			}
			creds = append(creds, cr)
		}
		for _, cr := range creds {
			if err := c.apply(cr, h, q); err != nil {
				return err
			}
		}
		return nil
	}
	return c.errorf(400, "the hub did not call the service: security scheme %q needs the configuration parameter %q, which is not set", missingScheme, missing)
}

// credential is what one scheme sends.
type credential struct {
	scheme       *catalog.SecurityScheme
	user, secret string
}

// scheme is the document's security scheme of that name, nil if none.
func (c *call) scheme(name string) *catalog.SecurityScheme {
	for i := range c.d.SecuritySchemes {
		if c.d.SecuritySchemes[i].Name == name {
			return &c.d.SecuritySchemes[i]
		}
	}
	return nil
}

// credentialOf reads the credentials of scheme s, or names the field missing. A scheme naming
// no field (signature, clientCA, or one of an OpenAPI 3 document without Murano's extensions)
// has nothing to send.
func (c *call) credentialOf(s *catalog.SecurityScheme) (credential, string) {
	cr := credential{scheme: s}
	for _, f := range []struct {
		name string
		dst  *string
	}{{s.UserField, &cr.user}, {s.SecretField, &cr.secret}} {
		if f.name == "" {
			continue
		}
		v, ok := c.credentialValue(s, f.name)
		if !ok {
			return cr, f.name
		}
		*f.dst = v
	}
	return cr, ""
}

// credentialValue is field's value: the solution's configuration parameter, else the script's
// argument when neither the parameter nor scheme s is restricted. Empty is none.
func (c *call) credentialValue(s *catalog.SecurityScheme, field string) (string, bool) {
	if v, ok := present(c.params[field]); ok {
		return v, true
	}
	if s.Restricted {
		return "", false
	}
	for _, p := range c.d.ConfigParameters {
		if p.Name == field && p.Restricted {
			return "", false
		}
	}
	return present(c.args[field])
}

// present is v as text, false when it is nil or empty.
func present(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	s := scalar(v)
	return s, s != ""
}

// apply sets what cr's scheme sends on header h or query q.
func (c *call) apply(cr credential, h http.Header, q url.Values) error {
	s := cr.scheme
	if cr.user == "" && cr.secret == "" {
		return nil
	}
	if strings.ContainsAny(cr.user+cr.secret, "\r\n\x00") {
		// Said without the value, which must never be echoed.
		return c.errorf(400, "the hub did not call the service: the credential of security scheme %q holds a line break or NUL", s.Name)
	}
	switch s.Type {
	case catalog.SecurityBasic:
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cr.user+":"+cr.secret)))
	case catalog.SecurityBearer, catalog.SecurityOAuth2:
		h.Set("Authorization", "Bearer "+cr.secret)
	case catalog.SecurityAPIKey:
		v := cr.secret
		if s.Prefix != "" {
			v = s.Prefix + " " + v
		}
		switch s.In {
		case "query":
			q.Set(s.ParamName, v)
		case "cookie":
			h.Add("Cookie", (&http.Cookie{Name: s.ParamName, Value: url.QueryEscape(v)}).String())
		default:
			h.Set(s.ParamName, v)
		}
	}
	return nil
}

// inBody reports whether the operation's expanded body declares a property name: such a
// credential is also the body's to send.
func (c *call) inBody(name string) bool {
	b := c.op.Body
	if b == nil || !b.Expand || b.Schema == nil || b.Schema.Value == nil {
		return false
	}
	_, ok := b.Schema.Value.Properties[name]
	return ok
}
