// Package hosted holds a solution's hosted services: long-running services, written as a
// class with Start and Stop (microServiceBus.com's model), that flows assign to nodes. Each
// service has immutable versions (0.1; a minor update makes 0.2, a major one 1.0), each
// version its code and the static and security properties an instance of it is given.
package hosted

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// Kinds of hosted service: lua runs in Switchboard's sandbox, on the hub or an agent; python
// and process run only on agents, as child processes.
const (
	KindLua     = "lua"
	KindPython  = "python"
	KindProcess = "process"
)

// Kinds lists the kinds, in the order errors name them.
var Kinds = []string{KindLua, KindPython, KindProcess}

// Property types of static properties; security properties are strings.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
)

// Bounds.
const (
	MaxCodeBytes      = 1 << 20
	MaxProperties     = 64 // static and security together
	MaxVersions       = 256
	MaxServices       = 256 // per solution
	MaxDescriptionLen = 2000
)

// NamePattern is what a service's name must match. Python's class, and so its file, carry the
// name (the seed's ReadGPIO.py holds class ReadGPIO), so letters keep their case.
var NamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// PropertyPattern is what a property's name must match.
var PropertyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Property is a property an instance of a version is given: a static one (configuration,
// shown) or a security one (a secret, never shown once set).
type Property struct {
	Name string `json:"name"`
	// Type of a static property: string (the default), number or boolean.
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	// Default of a static property, of its type; security properties have none.
	Default any `json:"default,omitempty"`
}

// Version is one immutable version of a service.
type Version struct {
	Version    string     `json:"version"`
	Static     []Property `json:"static_properties,omitempty"`
	Security   []Property `json:"security_properties,omitempty"`
	CodeBytes  int        `json:"code_bytes"`
	CodeSHA256 string     `json:"code_sha256"`
	CreatedAt  time.Time  `json:"created_at"`
}

// Service is a hosted service of a solution with its versions, oldest first.
type Service struct {
	Solution    string    `json:"solution"`
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	Description string    `json:"description,omitempty"`
	Versions    []Version `json:"versions"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`

	// Revision is the KV revision the service was read at.
	Revision uint64 `json:"-"`
}

// Latest is the service's newest version.
func (s Service) Latest() Version { return s.Versions[len(s.Versions)-1] }

// Resolve is the version a pin selects: "" the newest, a major ("1") the newest of that
// major, a version ("1.2") exactly that one.
func (s Service) Resolve(pin string) (Version, error) {
	if pin == "" {
		return s.Latest(), nil
	}
	want, err := ParsePin(pin)
	if err != nil {
		return Version{}, err
	}
	for i := len(s.Versions) - 1; i >= 0; i-- {
		v, _ := ParseVersion(s.Versions[i].Version)
		if v.Major == want.Major && (!want.Exact || v.Minor == want.Minor) {
			return s.Versions[i], nil
		}
	}
	return Version{}, &solution.FieldError{Field: "version", Reason: fmt.Sprintf("service %s has no version %s (it has %s)", s.Name, pin, s.versionList())}
}

func (s Service) versionList() string {
	names := make([]string, len(s.Versions))
	for i, v := range s.Versions {
		names[i] = v.Version
	}
	return strings.Join(names, ", ")
}

// Number is a version number, major.minor.
type Number struct {
	Major, Minor int
	// Exact is false for a pin of a major alone.
	Exact bool
}

func (n Number) String() string { return strconv.Itoa(n.Major) + "." + strconv.Itoa(n.Minor) }

// Next is the number after n: a minor update adds to the minor, a major one starts the next
// major at 0.
func (n Number) Next(major bool) Number {
	if major {
		return Number{Major: n.Major + 1, Exact: true}
	}
	return Number{Major: n.Major, Minor: n.Minor + 1, Exact: true}
}

var versionPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,5})(?:\.(0|[1-9][0-9]{0,5}))?$`)

// ParsePin reads a version pin: a major ("1") or a whole version ("1.2").
func ParsePin(s string) (Number, error) {
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return Number{}, &solution.FieldError{Field: "version", Reason: fmt.Sprintf("%q: want a major version (1) or a version (1.2)", s)}
	}
	major, _ := strconv.Atoi(m[1])
	if m[2] == "" {
		return Number{Major: major}, nil
	}
	minor, _ := strconv.Atoi(m[2])
	return Number{Major: major, Minor: minor, Exact: true}, nil
}

// ParseVersion reads a whole version ("1.2").
func ParseVersion(s string) (Number, error) {
	n, err := ParsePin(s)
	if err == nil && !n.Exact {
		err = &solution.FieldError{Field: "version", Reason: fmt.Sprintf("%q: want a version such as 1.2", s)}
	}
	return n, err
}

// checkService checks what a caller gives of a new service besides its first version.
func checkService(s Service) error {
	if !NamePattern.MatchString(s.Name) {
		return &solution.FieldError{Field: "name", Reason: fmt.Sprintf("%q: want a letter, then letters, digits or '_', at most 64 (a Python service's class name)", s.Name)}
	}
	if !slices.Contains(Kinds, s.Kind) {
		return &solution.FieldError{Field: "kind", Reason: fmt.Sprintf("%q: want %s", s.Kind, strings.Join(Kinds, ", "))}
	}
	if len(s.Description) > MaxDescriptionLen || !utf8.ValidString(s.Description) {
		return &solution.FieldError{Field: "description", Reason: fmt.Sprintf("at most %d bytes of UTF-8 text", MaxDescriptionLen)}
	}
	return nil
}

// checkProperties checks a version's property definitions.
func checkProperties(static, security []Property) error {
	if n := len(static) + len(security); n > MaxProperties {
		return &solution.FieldError{Field: "static_properties", Reason: fmt.Sprintf("%d properties: at most %d, static and security together", n, MaxProperties)}
	}
	seen := map[string]bool{}
	for _, set := range []struct {
		field string
		props []Property
	}{{"static_properties", static}, {"security_properties", security}} {
		for i, p := range set.props {
			f := fmt.Sprintf("%s[%d]", set.field, i)
			if !PropertyPattern.MatchString(p.Name) {
				return &solution.FieldError{Field: f + ".name", Reason: fmt.Sprintf("%q: want a letter or '_', then letters, digits or '_', at most 64", p.Name)}
			}
			if seen[p.Name] {
				return &solution.FieldError{Field: f + ".name", Reason: fmt.Sprintf("%q is defined twice", p.Name)}
			}
			seen[p.Name] = true
			if len(p.Description) > MaxDescriptionLen || !utf8.ValidString(p.Description) {
				return &solution.FieldError{Field: f + ".description", Reason: fmt.Sprintf("at most %d bytes of UTF-8 text", MaxDescriptionLen)}
			}
			if set.field == "security_properties" {
				if p.Type != "" && p.Type != TypeString {
					return &solution.FieldError{Field: f + ".type", Reason: "a security property is a string"}
				}
				if p.Default != nil {
					return &solution.FieldError{Field: f + ".default", Reason: "a security property has no default: its value is a secret each instance is given"}
				}
				continue
			}
			switch p.Type {
			case "", TypeString, TypeNumber, TypeBoolean:
			default:
				return &solution.FieldError{Field: f + ".type", Reason: fmt.Sprintf("%q: want string, number or boolean", p.Type)}
			}
			if p.Default != nil {
				if err := CheckValue(p, p.Default); err != nil {
					return &solution.FieldError{Field: f + ".default", Reason: err.Error()}
				}
			}
		}
	}
	return nil
}

// CheckValue says whether v is a value of static property p (JSON-decoded: numbers are
// float64).
func CheckValue(p Property, v any) error {
	var ok bool
	switch p.Type {
	case "", TypeString:
		var s string
		s, ok = v.(string)
		if ok && len(s) > MaxDescriptionLen {
			return fmt.Errorf("longer than %d bytes", MaxDescriptionLen)
		}
	case TypeNumber:
		_, ok = v.(float64)
	case TypeBoolean:
		_, ok = v.(bool)
	}
	if !ok {
		return fmt.Errorf("%v is not a %s", v, cmpOr(p.Type, TypeString))
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
