package solution

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Methods an endpoint may be bound to.
var Methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// MaxScriptBytes bounds one script's source.
const MaxScriptBytes = 1 << 20

// Endpoint is an HTTP route of a solution bound to a script.
type Endpoint struct {
	Solution  string    `json:"-"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Script    string    `json:"script"`
	Version   uint64    `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// reservedPaths are kept for the solution API page and document the apps router will serve.
var reservedPaths = map[string]bool{"/docs": true, "/swagger.json": true}

// NormalizeEndpoint upper-cases the method and checks method and path; the script is checked by the caller.
func NormalizeEndpoint(method, path string) (string, string, error) {
	m := strings.ToUpper(strings.TrimSpace(method))
	ok := false
	for _, allowed := range Methods {
		if m == allowed {
			ok = true
		}
	}
	if !ok {
		return "", "", &FieldError{"method", fmt.Sprintf("%q is not one of %s", method, strings.Join(Methods, ", "))}
	}
	if err := ValidatePath(path); err != nil {
		return "", "", err
	}
	return m, path, nil
}

// ValidatePath checks an endpoint path template such as /users/{id}.
func ValidatePath(path string) error {
	switch {
	case path == "":
		return &FieldError{"path", "required"}
	case !strings.HasPrefix(path, "/"):
		return &FieldError{"path", "must start with /"}
	case len(path) > 512:
		return &FieldError{"path", "longer than 512 characters"}
	case reservedPaths[path]:
		return &FieldError{"path", path + " is reserved for the solution's API documentation"}
	case strings.Contains(path, "//"):
		return &FieldError{"path", "must not contain an empty segment (//)"}
	}
	names := map[string]bool{}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." {
			return &FieldError{"path", "must not contain . or .. segments"}
		}
		for _, r := range seg {
			if r < 0x21 || r == 0x7f || r == '?' || r == '#' || r == '%' {
				return &FieldError{"path", fmt.Sprintf("segment %q has a character that is not allowed (space, control, ?, # or %%)", seg)}
			}
		}
		if !strings.ContainsAny(seg, "{}") {
			continue
		}
		if !strings.HasPrefix(seg, "{") || !strings.HasSuffix(seg, "}") {
			return &FieldError{"path", fmt.Sprintf("segment %q: a parameter must be a whole segment such as {id}", seg)}
		}
		name := seg[1 : len(seg)-1]
		rest := strings.HasSuffix(name, "...")
		name = strings.TrimSuffix(name, "...")
		if !isParamName(name) {
			return &FieldError{"path", fmt.Sprintf("segment %q: parameter names are letters, digits and _", seg)}
		}
		if rest && i != len(segs)-1 {
			return &FieldError{"path", fmt.Sprintf("segment %q: a {name...} parameter must be the last segment", seg)}
		}
		if names[name] {
			return &FieldError{"path", fmt.Sprintf("parameter %q appears twice", name)}
		}
		names[name] = true
	}
	return nil
}

func isParamName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// endpointKey is the KV key of an endpoint: <solution>.<METHOD>.<base64url(path)>.
func endpointKey(solution, method, path string) string {
	return solution + "." + method + "." + base64.RawURLEncoding.EncodeToString([]byte(path))
}
