package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

// oneLine makes s fit a table cell: its line breaks and tabs become spaces; "" is "-".
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

// valueText is a configuration value for people: a string as it is, anything else as JSON.
func valueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// yesNo is "yes" or "no".
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// paramText is what the DESCRIPTION column says of a configuration parameter: its title and
// description, its choices, and who sets it when the user does not.
func paramText(p apiclient.ConfigParameter) string {
	var parts []string
	switch {
	case p.Title != "" && p.Description != "":
		parts = append(parts, p.Title+": "+p.Description)
	case p.Title != "":
		parts = append(parts, p.Title)
	case p.Description != "":
		parts = append(parts, p.Description)
	}
	if len(p.Enum) > 0 {
		choices := make([]string, len(p.Enum))
		for i, v := range p.Enum {
			choices[i] = valueText(v)
		}
		parts = append(parts, "(one of: "+strings.Join(choices, ", ")+")")
	}
	switch {
	case p.From != "":
		parts = append(parts, "(set by the hub: "+p.From+")")
	case p.Restricted:
		parts = append(parts, "(not set by users)")
	}
	return oneLine(strings.Join(parts, " "))
}

// credentialsText names the configuration parameters a security scheme takes its credentials
// from.
func credentialsText(s apiclient.SecurityScheme) string {
	var parts []string
	if s.UserField != "" {
		parts = append(parts, "user: "+s.UserField)
	}
	if s.SecretField != "" {
		parts = append(parts, "secret: "+s.SecretField)
	}
	return listOrDash(parts)
}

// writeMarketplace writes what a user needs to add the service: its configuration form, how
// the hub authenticates to it, its events and its operations with their examples.
func writeMarketplace(w io.Writer, m *apiclient.Marketplace) error {
	if len(m.ConfigParameters) == 0 {
		fmt.Fprintln(w, "\nno configuration parameters")
	} else {
		fmt.Fprintln(w)
		t := newTable(w)
		fmt.Fprintln(t, "CONFIGURATION PARAMETER\tTYPE\tREQUIRED\tSECRET\tDEFAULT\tDESCRIPTION")
		for _, p := range m.ConfigParameters {
			def := "-"
			if p.Default != nil {
				def = oneLine(valueText(p.Default))
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, oneLine(p.Type), yesNo(p.Required), yesNo(p.Secret), def, paramText(p))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if len(m.SecuritySchemes) == 0 {
		fmt.Fprintln(w, "\nno authentication scheme")
	} else {
		fmt.Fprintln(w)
		t := newTable(w)
		fmt.Fprintln(t, "AUTHENTICATION\tTYPE\tCREDENTIALS\tDESCRIPTION")
		for _, s := range m.SecuritySchemes {
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", s.Name, s.Type, credentialsText(s), oneLine(s.Description))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	described := false
	for _, e := range m.Events {
		described = described || e.Description != ""
	}
	if described {
		fmt.Fprintln(w)
		t := newTable(w)
		fmt.Fprintln(t, "EVENT\tDESCRIPTION")
		for _, e := range m.Events {
			fmt.Fprintf(t, "%s\t%s\n", e.Name, oneLine(e.Description))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if len(m.Operations) == 0 {
		fmt.Fprintln(w, "\nno operations")
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w)
	fmt.Fprintln(t, "OPERATION\tTAGS\tDESCRIPTION")
	for _, op := range m.Operations {
		fmt.Fprintf(t, "%s\t%s\t%s\n", op.Name, listOrDash(op.Tags), oneLine(op.Summary))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	// Each operation's description and example, as written: Lua's line breaks matter.
	for _, op := range m.Operations {
		if op.Description == "" && op.Example == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", op.Name)
		if op.Description != "" {
			writeIndented(w, "  ", op.Description)
		}
		if op.Example != "" {
			fmt.Fprintln(w, "  example:")
			writeIndented(w, "    ", op.Example)
		}
	}
	return nil
}

// writeIndented writes text with each non-empty line after indent.
func writeIndented(w io.Writer, indent, text string) {
	for _, line := range strings.Split(strings.TrimRight(text, " \t\r\n"), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintln(w, indent+line)
	}
}
