package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newEndpointCmd() *cobra.Command {
	cmd := groupCmd("endpoint", "Deploy, list, show and delete a solution's endpoints",
		`An endpoint is an HTTP method and path of a solution served by a Lua script.
Paths start with "/" and may hold parameters, such as /users/{id}. Methods are
case-insensitive. The solution comes from -s/--solution or SWITCHBOARD_SOLUTION.

To keep a whole folder of scripts in sync with the server, see "switchboard deploy".`)
	cmd.Aliases = []string{"endpoints"}
	cmd.AddCommand(
		a.newEndpointDeployCmd(),
		a.newEndpointListCmd(),
		a.newEndpointGetCmd(),
		a.newEndpointDeleteCmd(),
	)
	return cmd
}

// methodPathArgs validates METHOD and PATH and returns the method in upper case.
func methodPathArgs(method, path string) (string, error) {
	m, err := normalizeMethod(method)
	if err != nil {
		return "", &usageError{err}
	}
	if err := checkPath(path); err != nil {
		return "", &usageError{err}
	}
	return m, nil
}

// readScript reads FILE, or standard input for "-". A file that cannot be read is a usage error.
func (a *app) readScript(file string) (string, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(a.stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		if file == "-" {
			return "", usagef("cannot read the script from standard input: %v", err)
		}
		return "", readError(file, err)
	}
	return string(b), nil
}

// locatedError is a request the server refused, placed at a file and line for the user.
type locatedError struct {
	File  string
	Line  int
	Label string // what was sent: "GET /x"
	Err   *apiclient.Error
}

func (e *locatedError) Error() string {
	if e.Line == 0 { // a whole file: a flow, a hosted service's code the server names no line of
		return fmt.Sprintf("%s: %s: %v", e.File, e.Label, e.Err)
	}
	if msg, ok := compilerMessage(e.Err); ok {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Label, msg)
	}
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Label, e.Err)
}

// compilerMessage is the message of a script the server did not compile, without the name and
// script line it starts with ("script: demo GET /x:2: unexpected symbol" → "unexpected
// symbol"): the file's line is the one that helps.
func compilerMessage(e *apiclient.Error) (string, bool) {
	if e.Field != "script" || e.Line <= 0 {
		return "", false
	}
	marker := ":" + strconv.Itoa(e.Line) + ": "
	i := strings.Index(e.Message, marker)
	if i < 0 {
		return "", false
	}
	return e.Message[i+len(marker):], true
}

func (e *locatedError) Unwrap() error { return e.Err }

// locateScriptError places err at file:line when it is the server refusing a script (a 4xx
// naming the field "script" or a line). firstLine is the file line of the script's line 1.
func locateScriptError(err error, file string, firstLine int, label string) error {
	var apiErr *apiclient.Error
	if !errors.As(err, &apiErr) || apiErr.Status >= 500 || (apiErr.Field != "script" && apiErr.Line == 0) {
		return err
	}
	line := firstLine
	if apiErr.Line > 0 {
		line = firstLine + apiErr.Line - 1
	}
	return &locatedError{File: file, Line: line, Label: label, Err: apiErr}
}

func (a *app) newEndpointDeployCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy METHOD PATH FILE",
		Short: "Create or replace one endpoint from a Lua file",
		Long: `Create the endpoint METHOD PATH with the Lua script in FILE, or replace its script
if it exists. FILE "-" reads the script from standard input. A script that does not
compile is reported as FILE:LINE with the compiler's message.`,
		Example: `  switchboard endpoint deploy GET /hello hello.lua -s demo
  switchboard endpoint deploy post '/users/{id}' users.lua -s demo
  echo 'response.code = 201; return {created = true}' | switchboard endpoint deploy POST /ok - -s demo`,
		Args: exactArgs("METHOD", "PATH", "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			method, err := methodPathArgs(args[0], args[1])
			if err != nil {
				return err
			}
			sol, err := a.requireSolution()
			if err != nil {
				return err
			}
			script, err := a.readScript(args[2])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ep, created, err := c.DeployEndpoint(cmd.Context(), sol, apiclient.Endpoint{Method: method, Path: args[1], Script: script})
			if err != nil {
				file := args[2]
				if file == "-" {
					file = "stdin"
				}
				return locateScriptError(err, file, 1, method+" "+args[1])
			}
			if a.jsonOutput() {
				return a.printJSON(struct {
					apiclient.Endpoint
					Created bool `json:"created"`
				}{ep, created})
			}
			verb := "replaced"
			if created {
				verb = "created"
			}
			fmt.Fprintf(a.stdout, "%s %s %s (version %d)\n", verb, ep.Method, ep.Path, ep.Version)
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newEndpointListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List a solution's endpoints",
		Long:    "List a solution's endpoints. With -o json the scripts are included.",
		Example: "  switchboard endpoint list -s demo\n  SWITCHBOARD_SOLUTION=demo switchboard endpoint list -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			items, err := c.ListEndpoints(cmd.Context(), sol)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			if len(items) == 0 {
				fmt.Fprintf(a.stdout, "solution %s has no endpoints\n", sol)
				return nil
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "METHOD\tPATH\tVERSION\tUPDATED")
			for _, ep := range items {
				fmt.Fprintf(t, "%s\t%s\t%d\t%s\n", ep.Method, ep.Path, ep.Version, formatTime(ep.UpdatedAt))
			}
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newEndpointGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get METHOD PATH",
		Short: "Print an endpoint's script",
		Long:  "Print the Lua script of an endpoint; with -o json, the whole endpoint.",
		Example: `  switchboard endpoint get GET /hello -s demo
  switchboard endpoint get GET '/users/{id}' -s demo > users.lua`,
		Args: exactArgs("METHOD", "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			method, err := methodPathArgs(args[0], args[1])
			if err != nil {
				return err
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			ep, err := c.GetEndpoint(cmd.Context(), sol, method, args[1])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(ep)
			}
			// Verbatim, so that "endpoint get … > f.lua" and "endpoint deploy … f.lua" round-trip.
			_, err = io.WriteString(a.stdout, ep.Script)
			return err
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newEndpointDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete METHOD PATH",
		Aliases: []string{"rm"},
		Short:   "Delete an endpoint",
		Example: "  switchboard endpoint delete GET /hello -s demo",
		Args:    exactArgs("METHOD", "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			method, err := methodPathArgs(args[0], args[1])
			if err != nil {
				return err
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			if err := c.DeleteEndpoint(cmd.Context(), sol, method, args[1]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"method": method, "path": args[1], "deleted": true})
			}
			fmt.Fprintf(a.stdout, "deleted %s %s\n", method, args[1])
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}
