package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi3"
)

// Murano's extensions of a security scheme. The short names of its older documentation
// (x-userField, x-secretField) are read too when the canonical one is absent.
const (
	secUserField   = "x-exosite-user-field"
	secSecretField = "x-exosite-secret-field"
	secPrefix      = "x-exosite-prefix"
	secFrom        = "x-exosite-from"
	secRestricted  = "x-exosite-restricted"
	secInternalUse = "x-exosite-internal-use"
)

var secShortNames = map[string]string{secUserField: "x-userField", secSecretField: "x-secretField"}

// securityTypes maps a scheme type, lowercased, to its SecurityType constant: Murano accepts
// any case ("Basic", "BEARER").
var securityTypes = map[string]string{
	"basic":     SecurityBasic,
	"apikey":    SecurityAPIKey,
	"bearer":    SecurityBearer,
	"oauth2":    SecurityOAuth2,
	"signature": SecuritySignature,
	"clientca":  SecurityClientCA,
}

// security reads the document's security schemes and requirements into d (whose operations
// and configuration parameters are already read) and marks secret the configuration
// parameters the schemes take their secrets from (basic's user field is not one). A
// requirement naming a scheme the document does not define is refused with its location.
func security(l *loaded, d *Description) error {
	var err error
	if l.v2 != nil {
		err = securityV2(l.v2, d)
	} else {
		err = securityV3(l.doc, d)
	}
	if err != nil {
		return err
	}
	sort.Slice(d.SecuritySchemes, func(i, j int) bool { return d.SecuritySchemes[i].Name < d.SecuritySchemes[j].Name })
	credentials := map[string]bool{}
	for _, s := range d.SecuritySchemes {
		if s.SecretField != "" {
			credentials[s.SecretField] = true
		}
	}
	for i := range d.ConfigParameters {
		if credentials[d.ConfigParameters[i].Name] {
			d.ConfigParameters[i].Secret = true
		}
	}
	return nil
}

// securityV2 reads securityDefinitions and the document's and operations' security of a
// Swagger 2.0 document.
func securityV2(v2 *openapi2.T, d *Description) error {
	defined := map[string]bool{}
	for _, name := range sortedKeys(v2.SecurityDefinitions) {
		s, err := schemeV2(name, v2.SecurityDefinitions[name])
		if err != nil {
			return err
		}
		d.SecuritySchemes = append(d.SecuritySchemes, s)
		defined[name] = true
	}
	var own []ownSecurity
	for _, p := range sortedKeys(v2.Paths) {
		if item := v2.Paths[p]; item != nil {
			ops := item.Operations()
			for _, m := range sortedKeys(ops) {
				if o := ops[m]; o != nil && o.Security != nil {
					own = append(own, ownSecurity{p, m, o.OperationID, *o.Security})
				}
			}
		}
	}
	return readRequirements(d, "securityDefinitions", defined, v2.Security, own)
}

// schemeV2 reads security definition name of a Swagger 2.0 document, as Murano's validator
// and documentation define each type.
func schemeV2(name string, def *openapi2.SecurityScheme) (SecurityScheme, error) {
	at := "#/securityDefinitions/" + securityPointer(name)
	fail := func(format string, args ...any) (SecurityScheme, error) {
		return SecurityScheme{}, invalid(FieldSwagger, at+": "+fmt.Sprintf(format, args...))
	}
	if def == nil {
		return fail("must be an object")
	}
	typ, ok := securityTypes[strings.ToLower(def.Type)]
	if !ok {
		return fail("type %q is not one of basic, apiKey, bearer, oauth2, signature, clientCA", def.Type)
	}
	s := SecurityScheme{Name: name, Type: typ, Description: def.Description}
	ext, err := schemeExtensions(def.Extensions)
	if err != nil {
		return fail("%v", err)
	}
	s.Restricted = ext.restricted
	switch typ {
	case SecurityBasic:
		if ext.user == "" || ext.secret == "" {
			return fail("type basic needs %s and %s (the parameters holding the user and the secret)", secUserField, secSecretField)
		}
		s.UserField, s.SecretField = ext.user, ext.secret
	case SecurityAPIKey:
		if def.Name == "" {
			return fail("type apiKey needs a name (the header or query parameter)")
		}
		if def.In != "header" && def.In != "query" {
			return fail(`type apiKey needs in: header or query, not %q`, def.In)
		}
		s.In, s.ParamName, s.Prefix = def.In, def.Name, ext.prefix
		s.SecretField = firstField(ext.from, ext.secret, def.Name)
	case SecurityBearer:
		if def.Name == "" && ext.secret == "" {
			return fail("type bearer needs a name (the parameter holding the token)")
		}
		s.SecretField = firstField(def.Name, ext.secret)
	case SecurityOAuth2:
		s.SecretField = firstField(ext.secret, ext.from)
	case SecuritySignature:
		s.ParamName = def.Name
	}
	return s, nil
}

// securityV3 reads components.securitySchemes and the document's and operations' security of
// an OpenAPI 3 document, with Murano's extensions on the schemes.
func securityV3(t *openapi3.T, d *Description) error {
	defined := map[string]bool{}
	if t.Components != nil {
		for _, name := range sortedKeys(t.Components.SecuritySchemes) {
			ref := t.Components.SecuritySchemes[name]
			if ref == nil || ref.Value == nil {
				return invalid(FieldSwagger, "#/components/securitySchemes/"+securityPointer(name)+": must be an object")
			}
			s, err := schemeV3(name, ref.Value)
			if err != nil {
				return err
			}
			d.SecuritySchemes = append(d.SecuritySchemes, s)
			defined[name] = true
		}
	}
	var own []ownSecurity
	if t.Paths != nil {
		for _, p := range sortedKeys(t.Paths.Map()) {
			if item := t.Paths.Value(p); item != nil {
				ops := item.Operations()
				for _, m := range sortedKeys(ops) {
					if o := ops[m]; o != nil && o.Security != nil {
						own = append(own, ownSecurity{p, m, o.OperationID, plainRequirements(*o.Security)})
					}
				}
			}
		}
	}
	return readRequirements(d, "components.securitySchemes", defined, plainRequirements(t.Security), own)
}

// plainRequirements is list as Swagger 2.0's type; nil stays nil.
func plainRequirements(list openapi3.SecurityRequirements) []map[string][]string {
	if list == nil {
		return nil
	}
	out := make([]map[string][]string, len(list))
	for i, r := range list {
		out[i] = r
	}
	return out
}

// schemeV3 reads an OpenAPI 3 security scheme: http basic and bearer, apiKey, oauth2 and
// openIdConnect (a bearer token), mutualTLS (as Murano's clientCA), and Murano's own types
// when a document names them.
func schemeV3(name string, def *openapi3.SecurityScheme) (SecurityScheme, error) {
	at := "#/components/securitySchemes/" + securityPointer(name)
	fail := func(format string, args ...any) (SecurityScheme, error) {
		return SecurityScheme{}, invalid(FieldSwagger, at+": "+fmt.Sprintf(format, args...))
	}
	ext, err := schemeExtensions(def.Extensions)
	if err != nil {
		return fail("%v", err)
	}
	s := SecurityScheme{Name: name, Description: def.Description, Restricted: ext.restricted}
	switch strings.ToLower(def.Type) {
	case "http":
		switch strings.ToLower(def.Scheme) {
		case "basic":
			s.Type, s.UserField, s.SecretField = SecurityBasic, ext.user, ext.secret
		case "bearer":
			s.Type, s.SecretField = SecurityBearer, firstField(ext.secret, ext.from)
		default:
			return fail("http scheme %q is not supported: the hub sends basic or bearer", def.Scheme)
		}
	case "apikey":
		switch def.In {
		case "header", "query", "cookie":
		default:
			return fail(`type apiKey needs in: header, query or cookie, not %q`, def.In)
		}
		s.Type, s.In, s.ParamName, s.Prefix = SecurityAPIKey, def.In, def.Name, ext.prefix
		s.SecretField = firstField(ext.from, ext.secret, def.Name)
	case "oauth2", "openidconnect":
		s.Type, s.SecretField = SecurityOAuth2, firstField(ext.secret, ext.from)
	case "mutualtls":
		s.Type = SecurityClientCA
	default:
		typ, ok := securityTypes[strings.ToLower(def.Type)]
		if !ok {
			return fail("type %q is not supported", def.Type)
		}
		s.Type = typ
		switch typ {
		case SecurityBearer, SecurityOAuth2:
			s.SecretField = firstField(def.Name, ext.secret, ext.from)
		case SecurityBasic:
			s.UserField, s.SecretField = ext.user, ext.secret
		}
	}
	return s, nil
}

// schemeExt is what Murano's extensions of a scheme say.
type schemeExt struct {
	user, secret, prefix, from string
	restricted                 bool
}

// schemeExtensions reads Murano's extensions of a scheme.
func schemeExtensions(ext map[string]any) (schemeExt, error) {
	var out schemeExt
	for _, f := range []struct {
		name string
		dst  *string
	}{{secUserField, &out.user}, {secSecretField, &out.secret}, {secPrefix, &out.prefix}, {secFrom, &out.from}} {
		v, ok := ext[f.name]
		if !ok {
			v, ok = ext[secShortNames[f.name]]
		}
		if !ok || v == nil {
			continue
		}
		s, isString := v.(string)
		if !isString {
			return out, fmt.Errorf("%s must be a string", f.name)
		}
		*f.dst = s
	}
	for _, name := range []string{secRestricted, secInternalUse} {
		switch v := ext[name].(type) {
		case nil:
		case bool:
			out.restricted = out.restricted || v
		default:
			return out, fmt.Errorf("%s must be true or false", name)
		}
	}
	return out, nil
}

// requirements reads a list of security requirements at location at: each an alternative
// naming the schemes applied together, sorted; an empty one needs no credentials. Every name
// must be one of defined, which where names in errors.
func requirements(at string, list []map[string][]string, defined map[string]bool, where string) ([][]string, error) {
	out := make([][]string, 0, len(list))
	for i, req := range list {
		names := sortedKeys(req)
		for _, n := range names {
			if !defined[n] {
				return nil, invalid(FieldSwagger, fmt.Sprintf("%s/%d: scheme %q is not defined in %s", at, i, n, where))
			}
		}
		out = append(out, names)
	}
	return out, nil
}

// ownSecurity is an operation's own security requirements.
type ownSecurity struct {
	path, method, id string
	list             []map[string][]string
}

// readRequirements sets the document's security requirements (nil when it has none) and the
// operations' own. Every scheme they name must be one of defined, which where names in
// errors.
func readRequirements(d *Description, where string, defined map[string]bool, doc []map[string][]string, own []ownSecurity) error {
	var err error
	if doc != nil {
		if d.Security, err = requirements("#/security", doc, defined, where); err != nil {
			return err
		}
	}
	for _, o := range own {
		at := fmt.Sprintf("#/paths/%s/%s/security", securityPointer(o.path), strings.ToLower(o.method))
		reqs, err := requirements(at, o.list, defined, where)
		if err != nil {
			return err
		}
		if op := d.Operations[o.id]; op != nil {
			op.Security = reqs
		}
	}
	return nil
}

// securityPointer escapes s as one token of a JSON pointer (RFC 6901).
func securityPointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// firstField is the first of values that is not empty.
func firstField(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// withoutSecurity is v2 without its security definitions and requirements, for the converter
// to OpenAPI 3, which cannot take Murano's types (bearer, signature, clientCA, oauth2 without
// a flow); security reads them from v2 itself. v2 is not modified.
func withoutSecurity(v2 *openapi2.T) *openapi2.T {
	c := *v2
	c.SecurityDefinitions, c.Security = nil, nil
	if v2.Paths != nil {
		c.Paths = make(map[string]*openapi2.PathItem, len(v2.Paths))
		for p, item := range v2.Paths {
			if item == nil {
				c.Paths[p] = nil
				continue
			}
			ic := *item
			for m, o := range item.Operations() {
				if o != nil && o.Security != nil {
					oc := *o
					oc.Security = nil
					ic.SetOperation(m, &oc)
				}
			}
			c.Paths[p] = &ic
		}
	}
	return &c
}
