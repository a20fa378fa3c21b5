package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

// paramFlags are the flags that give a service's parameters (solution add-service and
// update-service).
type paramFlags struct {
	params []string
	file   string
}

func (p *paramFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&p.params, "param", nil, "a parameter KEY=VALUE; VALUE is read as JSON when it is valid JSON (3, true, {\"a\":1}, \"quoted\"), else as a string; repeat for several")
	fs.StringVar(&p.file, "params-file", "", "a JSON object file of parameters (\"-\" for standard input); --param values win over it")
}

// given reports whether any parameter flag was given.
func (p *paramFlags) given() bool { return len(p.params) > 0 || p.file != "" }

// parseParamValue is VALUE of --param KEY=VALUE: its JSON value when it is valid JSON, else the
// string itself. Numbers keep their digits.
func parseParamValue(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return s
	}
	if _, err := dec.Token(); err != io.EOF {
		return s
	}
	return v
}

// values returns the parameters: the --params-file object, then each --param over it.
func (p *paramFlags) values(stdin io.Reader) (map[string]any, error) {
	params := map[string]any{}
	if p.file != "" {
		var b []byte
		var err error
		if p.file == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(p.file)
		}
		if err != nil {
			if p.file == "-" {
				return nil, usagef("cannot read the parameters from standard input: %v", err)
			}
			return nil, readError(p.file, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil || obj == nil {
			if err == nil {
				err = fmt.Errorf("null")
			}
			return nil, usagef("--params-file %s: want a JSON object of parameters: %v", p.file, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, usagef("--params-file %s: want a single JSON object of parameters", p.file)
		}
		maps.Copy(params, obj)
	}
	for _, kv := range p.params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--param %q: want KEY=VALUE, such as --param region=eu", kv)
		}
		params[k] = parseParamValue(v)
	}
	return params, nil
}

// formatParams writes parameters as "k=v" pairs sorted by key, values in JSON, or "-" for none.
func formatParams(params map[string]any) string {
	if len(params) == 0 {
		return "-"
	}
	pairs := make([]string, 0, len(params))
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v, err := json.Marshal(params[k])
		if err != nil {
			v = []byte(fmt.Sprint(params[k]))
		}
		pairs = append(pairs, k+"="+string(v))
	}
	return strings.Join(pairs, " ")
}

// printServiceConfig writes a solution's service as "key: value" lines.
func (a *app) printServiceConfig(sol string, s apiclient.ServiceConfig) error {
	t := newTable(a.stdout)
	fmt.Fprintf(t, "solution:\t%s\n", sol)
	fmt.Fprintf(t, "service:\t%s\n", s.Service)
	fmt.Fprintf(t, "parameters:\t%s\n", formatParams(s.Parameters))
	fmt.Fprintf(t, "added:\t%s\n", formatTime(s.AddedAt))
	fmt.Fprintf(t, "updated:\t%s\n", formatTime(s.UpdatedAt))
	return t.Flush()
}

const paramsHelp = `--param KEY=VALUE gives one parameter (repeatable); VALUE is read as JSON when it
is valid JSON (3, true, null, {"a":1}, "007"), else as a string (eu, 007, a b).
--params-file reads a JSON object of parameters ("-" for standard input); --param
values win over its keys. Secret parameters (passwords) are sent but never shown.`

func (a *app) newSolutionAddServiceCmd() *cobra.Command {
	var pf paramFlags
	cmd := &cobra.Command{
		Use:   "add-service SOLUTION SERVICE",
		Short: "Add a service of the catalog to a solution",
		Long: `Add the service SERVICE of the catalog to the solution SOLUTION, so that its scripts
may call it and its events reach the solution's handlers. If the solution added the
service already, its parameters are set to those given.

` + paramsHelp,
		Example: `  switchboard solution add-service demo demoexternalservice
  switchboard solution add-service demo demoexternalservice --param region=eu --param retries=3
  switchboard solution add-service demo demoexternalservice --params-file demo-params.json`,
		Args: exactArgs("SOLUTION", "SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			params, err := pf.values(a.stdin)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			out, created, err := c.AddService(cmd.Context(), args[0], args[1], params)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(struct {
					apiclient.ServiceConfig
					Created bool `json:"created"`
				}{out, created})
			}
			if created {
				fmt.Fprintf(a.stdout, "added service %s to solution %s\n", out.Service, args[0])
			} else {
				fmt.Fprintf(a.stdout, "updated service %s of solution %s (it was added already)\n", out.Service, args[0])
			}
			return nil
		},
	}
	pf.register(cmd.Flags())
	return cmd
}

func (a *app) newSolutionServicesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "services SOLUTION",
		Short: "List the services a solution added",
		Long:  "List the services a solution added, with their parameters (secret ones are never shown).",
		Example: `  switchboard solution services demo
  switchboard solution services demo -o json`,
		Args: exactArgs("SOLUTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			items, err := c.ListSolutionServices(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			if len(items) == 0 {
				fmt.Fprintf(a.stdout, "solution %s has no services\n", args[0])
				return nil
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "SERVICE\tADDED\tUPDATED\tPARAMETERS")
			for _, s := range items {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", s.Service, formatTime(s.AddedAt), formatTime(s.UpdatedAt), formatParams(s.Parameters))
			}
			return t.Flush()
		},
	}
}

func (a *app) newSolutionUpdateServiceCmd() *cobra.Command {
	var pf paramFlags
	cmd := &cobra.Command{
		Use:   "update-service SOLUTION SERVICE",
		Short: "Set the parameters of a service a solution added",
		Long: `Set the parameters of the service SERVICE that the solution SOLUTION added. The
parameters given are sent as the service's configuration; give all of them, secret ones
included: the server never shows secrets, so they cannot be read back and merged.
At least one --param or --params-file is required.

` + paramsHelp,
		Example: `  switchboard solution update-service demo demoexternalservice --param region=us --param retries=5
  switchboard solution update-service demo demoexternalservice --params-file demo-params.json`,
		Args: exactArgs("SOLUTION", "SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !pf.given() {
				return usagef("nothing to update: give --param KEY=VALUE or --params-file")
			}
			params, err := pf.values(a.stdin)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			out, err := c.UpdateSolutionService(cmd.Context(), args[0], args[1], params)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(out)
			}
			return a.printServiceConfig(args[0], out)
		},
	}
	pf.register(cmd.Flags())
	return cmd
}

func (a *app) newSolutionRemoveServiceCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove-service SOLUTION SERVICE",
		Short: "Remove a service from a solution",
		Long: `Remove the service SERVICE from the solution SOLUTION: its scripts can no longer call
it and its events no longer reach the solution. The solution's handlers stay.`,
		Example: "  switchboard solution remove-service demo demoexternalservice",
		Args:    exactArgs("SOLUTION", "SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RemoveService(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"solution": args[0], "service": args[1], "removed": true})
			}
			fmt.Fprintf(a.stdout, "removed service %s from solution %s\n", args[1], args[0])
			return nil
		},
	}
}
