package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newHostedCmd() *cobra.Command {
	cmd := groupCmd("hosted", "Manage a solution's hosted services",
		`A hosted service is a long-running service written as a class with Start and Stop: Lua,
run in Switchboard's sandbox on the hub or an agent, or Python (or any process speaking the
same protocol), run on agents. Its versions are immutable: "create" makes 0.1,
"update-minor" the next minor (0.2), "update-major" the next major (1.0). Each version has
its code and the static and security properties an instance of it is given. See
docs/hosted-services.md. The solution comes from -s/--solution or SWITCHBOARD_SOLUTION.`)
	cmd.AddCommand(a.newHostedCreateCmd(), a.newHostedUpdateCmd(false), a.newHostedUpdateCmd(true),
		a.newHostedListCmd(), a.newHostedShowCmd(), a.newHostedDeleteCmd())
	return cmd
}

// kindOf is the kind a code file's extension says, or "" when it says none.
func kindOf(file string) string {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".lua":
		return "lua"
	case ".py":
		return "python"
	}
	return ""
}

// readProperties reads a properties file: JSON or YAML with static_properties and
// security_properties lists.
func readProperties(file string) (apiclient.HostedProperties, error) {
	var p apiclient.HostedProperties
	if file == "" {
		return p, nil
	}
	return p, readStrict(file, "--properties", &p, "want static_properties and security_properties, lists of {name, type, description, required, default}")
}

// readStrict reads a JSON or YAML file into v, refusing fields v does not have; a refusal
// names flag and file, and says what is wanted.
func readStrict(file, flag string, v any, want string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return readError(file, err)
	}
	if err := decodeStrict(raw, v); err != nil {
		return usagef("%s %s: %v (%s)", flag, file, err, want)
	}
	return nil
}

// decodeStrict decodes JSON or YAML into v, refusing fields v does not have.
func decodeStrict(raw []byte, v any) error {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return fmt.Errorf("neither JSON nor YAML: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (a *app) newHostedCreateCmd() *cobra.Command {
	var kind, description, properties string
	cmd := &cobra.Command{
		Use:   "create NAME FILE [--kind lua|python|process] [--properties FILE] [--description TEXT]",
		Short: "Create a hosted service with its version 0.1",
		Long: `Create the hosted service NAME with FILE's code as its version 0.1. --kind is taken from
FILE's extension when not given (.lua: lua, .py: python). A Python service's class is named
NAME (the seed's ReadGPIO.py holds class ReadGPIO). --properties is a JSON or YAML file
defining the version's properties:

  static_properties:                  # configuration each instance is given
    - {name: gpio_pin, type: number, default: 4, description: the pin read}
  security_properties:                # secrets, never shown once set
    - {name: api_key, required: true}

A Lua service's code that does not compile is refused with its line.`,
		Example: `  switchboard hosted create ReadGPIO ReadGPIO.py --properties gpio.yaml -s plant
  switchboard hosted create Blink blink.lua --description "blinks a led" -s plant`,
		Args: exactArgs("NAME", "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := os.ReadFile(args[1])
			if err != nil {
				return readError(args[1], err)
			}
			if kind == "" {
				if kind = kindOf(args[1]); kind == "" {
					return usagef("--kind: required for %s (lua, python or process; .lua and .py files say theirs)", args[1])
				}
			}
			props, err := readProperties(properties)
			if err != nil {
				return err
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			svc, err := c.CreateHosted(cmd.Context(), sol, apiclient.HostedCreate{Name: args[0], Kind: kind, Description: description, Code: string(code), HostedProperties: props})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(svc)
			}
			fmt.Fprintf(a.stdout, "created hosted service %s (%s, version %s)\n", svc.Name, svc.Kind, svc.Versions[len(svc.Versions)-1].Version)
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "lua, python or process (default: from FILE's extension)")
	cmd.Flags().StringVar(&description, "description", "", "what the service does")
	cmd.Flags().StringVar(&properties, "properties", "", "JSON or YAML file of the version's static_properties and security_properties")
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newHostedUpdateCmd(major bool) *cobra.Command {
	var properties string
	use, bump, example := "update-minor", "minor", "0.1 to 0.2"
	if major {
		use, bump, example = "update-major", "major", "0.2 to 1.0"
	}
	cmd := &cobra.Command{
		Use:   use + " NAME FILE [--properties FILE]",
		Short: fmt.Sprintf("Store FILE's code as the next %s version (%s)", bump, example),
		Long: fmt.Sprintf(`Store FILE's code as the next %s version of hosted service NAME (%s). Versions are
immutable: the ones before stay as they were, and flows pinned to them keep running them.
--properties defines the new version's properties (see "hosted create"); without it the new
version has none.`, bump, example),
		Example: fmt.Sprintf("  switchboard hosted %s ReadGPIO ReadGPIO.py --properties gpio.yaml -s plant", use),
		Args:    exactArgs("NAME", "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := os.ReadFile(args[1])
			if err != nil {
				return readError(args[1], err)
			}
			props, err := readProperties(properties)
			if err != nil {
				return err
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			v, err := c.AddHostedVersion(cmd.Context(), sol, args[0], apiclient.HostedUpdate{Update: bump, Code: string(code), HostedProperties: props})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.stdout, "hosted service %s: version %s\n", args[0], v.Version)
			return nil
		},
	}
	cmd.Flags().StringVar(&properties, "properties", "", "JSON or YAML file of the version's static_properties and security_properties")
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newHostedListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the solution's hosted services",
		Example: "  switchboard hosted list -s plant",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			items, err := c.ListHosted(cmd.Context(), sol)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "NAME\tKIND\tLATEST\tVERSIONS\tUPDATED\tDESCRIPTION")
			for _, s := range items {
				fmt.Fprintf(t, "%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.Kind, s.Versions[len(s.Versions)-1].Version, len(s.Versions), formatTime(s.UpdatedAt), s.Description)
			}
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newHostedShowCmd() *cobra.Command {
	var version string
	var code bool
	cmd := &cobra.Command{
		Use:   "show NAME [--version V] [--code]",
		Short: "Show a hosted service with its versions, or one version and its code",
		Long: `Show hosted service NAME with its versions. With --version (1.2, a major such as 1 for
its newest, or latest) or --code, show that version (the newest by default) with its
properties; --code prints its code alone, as stored.`,
		Example: `  switchboard hosted show ReadGPIO -s plant
  switchboard hosted show ReadGPIO --version 0.1 -s plant
  switchboard hosted show ReadGPIO --code > ReadGPIO.py`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			if version == "" && !code {
				svc, err := c.GetHosted(cmd.Context(), sol, args[0])
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					return a.printJSON(svc)
				}
				t := newTable(a.stdout)
				fmt.Fprintf(t, "name:\t%s\nkind:\t%s\n", svc.Name, svc.Kind)
				if svc.Description != "" {
					fmt.Fprintf(t, "description:\t%s\n", svc.Description)
				}
				fmt.Fprintf(t, "created:\t%s\n", formatTime(svc.CreatedAt))
				if err := t.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout)
				t = newTable(a.stdout)
				fmt.Fprintln(t, "VERSION\tCREATED\tCODE\tPROPERTIES")
				for _, v := range svc.Versions {
					fmt.Fprintf(t, "%s\t%s\t%d bytes\t%s\n", v.Version, formatTime(v.CreatedAt), v.CodeBytes, propertyNames(v.HostedProperties))
				}
				return t.Flush()
			}
			v, err := c.GetHostedVersion(cmd.Context(), sol, args[0], version)
			if err != nil {
				return err
			}
			switch {
			case code:
				_, err := fmt.Fprint(a.stdout, v.Code)
				return err
			case a.jsonOutput():
				return a.printJSON(v)
			}
			t := newTable(a.stdout)
			fmt.Fprintf(t, "service:\t%s\nversion:\t%s\ncreated:\t%s\ncode:\t%d bytes, sha256 %s\n", args[0], v.Version, formatTime(v.CreatedAt), v.CodeBytes, v.CodeSHA256)
			for _, p := range v.Static {
				fmt.Fprintf(t, "static %s:\t%s%s\n", p.Name, cmpOrStr(p.Type, "string"), propertyNote(p))
			}
			for _, p := range v.Security {
				fmt.Fprintf(t, "security %s:\tsecret%s\n", p.Name, propertyNote(p))
			}
			return t.Flush()
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "a version (1.2), the newest of a major (1), or latest")
	cmd.Flags().BoolVar(&code, "code", false, "print the version's code alone")
	a.solutionFlag(cmd)
	return cmd
}

func propertyNames(p apiclient.HostedProperties) string {
	var names []string
	for _, s := range p.Static {
		names = append(names, s.Name)
	}
	for _, s := range p.Security {
		names = append(names, s.Name+" (secret)")
	}
	return listOrDash(names)
}

func propertyNote(p apiclient.HostedProperty) string {
	var notes []string
	if p.Required {
		notes = append(notes, "required")
	}
	if p.Default != nil {
		notes = append(notes, fmt.Sprintf("default %v", p.Default))
	}
	if p.Description != "" {
		notes = append(notes, p.Description)
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, "; ") + ")"
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (a *app) newHostedDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a hosted service with every version's code",
		Example: "  switchboard hosted delete ReadGPIO -s plant",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			if err := c.DeleteHosted(cmd.Context(), sol, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deleted hosted service %s\n", args[0])
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}
