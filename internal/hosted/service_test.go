package hosted

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func fieldOf(err error) string {
	var fe *solution.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func TestVersionNumbers(t *testing.T) {
	for _, c := range []struct {
		from  string
		major bool
		want  string
	}{
		{"0.1", false, "0.2"}, {"0.9", false, "0.10"}, {"0.3", true, "1.0"}, {"1.0", false, "1.1"}, {"2.7", true, "3.0"},
	} {
		n, err := ParseVersion(c.from)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Next(c.major).String(); got != c.want {
			t.Errorf("%s next (major %v) = %s, want %s", c.from, c.major, got, c.want)
		}
	}
	for _, bad := range []string{"", "1.", ".1", "01", "1.02", "v1", "1.2.3", "-1", "1234567"} {
		if _, err := ParsePin(bad); fieldOf(err) != "version" {
			t.Errorf("pin %q: %v; want a version error", bad, err)
		}
	}
	if _, err := ParseVersion("1"); fieldOf(err) != "version" {
		t.Errorf("version 1 (a major alone): %v", err)
	}
}

func TestResolve(t *testing.T) {
	svc := Service{Name: "ReadGPIO", Versions: []Version{{Version: "0.1"}, {Version: "0.2"}, {Version: "1.0"}, {Version: "1.1"}, {Version: "2.0"}}}
	for _, c := range []struct{ pin, want string }{
		{"", "2.0"}, {"0", "0.2"}, {"1", "1.1"}, {"1.0", "1.0"}, {"2", "2.0"}, {"0.1", "0.1"},
	} {
		v, err := svc.Resolve(c.pin)
		if err != nil || v.Version != c.want {
			t.Errorf("pin %q: %s, %v; want %s", c.pin, v.Version, err, c.want)
		}
	}
	for _, pin := range []string{"3", "1.2", "x"} {
		if _, err := svc.Resolve(pin); fieldOf(err) != "version" {
			t.Errorf("pin %q: %v; want an error naming version", pin, err)
		}
	}
}

func TestChecks(t *testing.T) {
	long := strings.Repeat("x", MaxDescriptionLen+1)
	services := []struct {
		name  string
		svc   Service
		field string
	}{
		{"ok", Service{Name: "ReadGPIO", Kind: KindPython}, ""},
		{"name with a dot", Service{Name: "a.b", Kind: KindLua}, "name"},
		{"name starting with a digit", Service{Name: "1a", Kind: KindLua}, "name"},
		{"name too long", Service{Name: strings.Repeat("a", 65), Kind: KindLua}, "name"},
		{"unknown kind", Service{Name: "a", Kind: "node"}, "kind"},
		{"description too long", Service{Name: "a", Kind: KindLua, Description: long}, "description"},
	}
	for _, c := range services {
		if got := fieldOf(checkService(c.svc)); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
	many := make([]Property, MaxProperties+1)
	for i := range many {
		many[i] = Property{Name: "p" + strings.Repeat("x", i%60) + string(rune('a'+i%26))}
	}
	props := []struct {
		name             string
		static, security []Property
		field            string
	}{
		{"ok", []Property{{Name: "gpio_pin", Type: TypeNumber, Default: 4.0}, {Name: "label"}}, []Property{{Name: "api_key", Required: true}}, ""},
		{"bad name", []Property{{Name: "gpio-pin"}}, nil, "static_properties[0].name"},
		{"twice", []Property{{Name: "a"}}, []Property{{Name: "a"}}, "security_properties[0].name"},
		{"unknown type", []Property{{Name: "a", Type: "date"}}, nil, "static_properties[0].type"},
		{"default of another type", []Property{{Name: "a", Type: TypeNumber, Default: "4"}}, nil, "static_properties[0].default"},
		{"boolean default", []Property{{Name: "a", Type: TypeBoolean, Default: true}}, nil, ""},
		{"secret with a default", nil, []Property{{Name: "key", Default: "hunter2"}}, "security_properties[0].default"},
		{"secret of a number type", nil, []Property{{Name: "key", Type: TypeNumber}}, "security_properties[0].type"},
		{"too many", many, nil, "static_properties"},
	}
	for _, c := range props {
		if got := fieldOf(checkProperties(c.static, c.security)); got != c.field {
			t.Errorf("%s: field %q, want %q", c.name, got, c.field)
		}
	}
}
