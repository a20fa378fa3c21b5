package catalog

// aliases are the short names older Murano documents give its extensions, by the canonical
// x-exosite-* name the rest of the catalog reads. They are renamed only where Murano reads
// them (the document, operations, parameters, configuration parameters and security
// definitions), never inside schemas, examples, defaults or enums, which are user data.
var aliases = map[string]string{
	"x-init":                 extInit,
	"x-info":                 "x-exosite-info",
	"x-update":               extUpdate,
	"x-gc":                   extGC,
	"x-healthPath":           extHealthPath,
	"x-health-path":          extHealthPath,
	"x-configParameters":     extConfigParams,
	"x-config-parameters":    extConfigParams,
	"x-token":                extToken,
	"x-example":              "x-exosite-example",
	"x-restricted":           extRestricted,
	"x-hidden":               "x-exosite-hidden",
	"x-internalUse":          "x-exosite-internal-use",
	"x-internal-use":         "x-exosite-internal-use",
	"x-scriptOnly":           "x-exosite-script-only",
	"x-script-only":          "x-exosite-script-only",
	"x-from":                 extFrom,
	"x-userField":            "x-exosite-user-field",
	"x-user-field":           "x-exosite-user-field",
	"x-exosite-userfield":    "x-exosite-user-field",
	"x-exosite-userField":    "x-exosite-user-field",
	"x-secretField":          "x-exosite-secret-field",
	"x-secret-field":         "x-exosite-secret-field",
	"x-exosite-secretfield":  "x-exosite-secret-field",
	"x-exosite-secretField":  "x-exosite-secret-field",
	"x-prefix":               "x-exosite-prefix",
	"x-expandBodyParameters": "x-exosite-expand-body-parameters",
}

// normaliseAliases renames the short extension names of a decoded Swagger 2.0 document in
// place. A canonical name already present wins and the alias is left as it is.
func normaliseAliases(doc map[string]any) {
	rename(doc)
	switch cp := doc[extConfigParams].(type) {
	case []any:
		for _, p := range cp {
			rename(asObject(p))
		}
	case map[string]any:
		params := cp
		if props, ok := cp["properties"].(map[string]any); ok && cp["type"] == "object" {
			params = props
		}
		for _, p := range params {
			rename(asObject(p))
		}
	}
	for _, s := range asObject(doc["securityDefinitions"]) {
		rename(asObject(s))
	}
	for _, p := range asObject(doc["parameters"]) {
		rename(asObject(p))
	}
	for path, item := range asObject(doc["paths"]) {
		if len(path) == 0 || path[0] != '/' {
			continue
		}
		item := asObject(item)
		for _, p := range asArray(item["parameters"]) {
			rename(asObject(p))
		}
		for _, m := range swagger2Methods {
			op := asObject(item[m])
			rename(op)
			for _, p := range asArray(op["parameters"]) {
				rename(asObject(p))
			}
		}
	}
}

// swagger2Methods are the keys of a Swagger 2.0 path item that hold operations.
var swagger2Methods = []string{"get", "put", "post", "delete", "options", "head", "patch"}

func rename(m map[string]any) {
	for short, canonical := range aliases {
		v, ok := m[short]
		if !ok {
			continue
		}
		if _, taken := m[canonical]; taken {
			continue
		}
		m[canonical] = v
		delete(m, short)
	}
}

// asObject is v as a JSON object, nil when it is not one.
func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// asArray is v as a JSON array, nil when it is not one.
func asArray(v any) []any {
	a, _ := v.([]any)
	return a
}
