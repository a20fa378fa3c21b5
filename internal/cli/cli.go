// Package cli is the switchboard command: the server (serve) and the commands that manage a
// running server through its API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
	"github.com/switchboardhq/switchboard/internal/hub"
)

// Exit codes of the switchboard command.
const (
	// ExitOK: the command did what it was asked.
	ExitOK = 0
	// ExitFailure: the server refused the request (4xx), a deploy failed, or the command failed
	// for another reason.
	ExitFailure = 1
	// ExitUsage: bad flags, arguments or environment variables, or a file that cannot be read.
	ExitUsage = 2
	// ExitUnavailable: the server could not be reached or answered with a 5xx status.
	ExitUnavailable = 3
)

// requestTimeout bounds each API request the commands make.
const requestTimeout = 60 * time.Second

// Execute runs the switchboard command with the process's arguments, standard streams and
// environment, and returns the exit code.
func Execute() int {
	a := &app{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.LookupEnv,
		serve:  runHub,
	}
	return a.run(context.Background(), os.Args[1:])
}

// app is one run of the command: its streams, environment and the global flags' values.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
	// serve runs the server with cfg until ctx is done (hub.New then Run).
	serve func(ctx context.Context, cfg hub.Config) error

	server, token, dataDir, output string
	solution                       string
	// noToken is set when a client was made without any token, for a hint on 401.
	noToken bool
	// args are the command line's arguments, for reporting a mistyped subcommand.
	args []string
}

// run executes args and returns the exit code, writing any error to stderr.
func (a *app) run(ctx context.Context, args []string) int {
	a.args = args
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	var hint string
	if a.noToken && apiclient.StatusOf(err) == http.StatusUnauthorized {
		hint = "no token was sent: give --token or SWITCHBOARD_TOKEN, or --data with the server's data folder (it holds admin-token)"
	}
	if a.output == "json" || jsonRequested(args) {
		writeJSONError(a.stderr, err, code, hint)
		return code
	}
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(a.stderr, "switchboard: %s\n", line)
	}
	if code == ExitUsage && cmd != nil {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	if hint != "" {
		fmt.Fprintf(a.stderr, "switchboard: %s\n", hint)
	}
	return code
}

// usageError marks an error as bad usage (exit code 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error (exit code 2).
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// runError marks an error returned by a command's RunE, as opposed to one cobra returns while
// parsing flags and arguments (which are all usage errors).
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// exitCode maps an error returned by the command tree to the process's exit code.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	var re *runError
	if !errors.As(err, &re) {
		// Cobra's own errors: unknown command or flag, bad flag value, wrong arguments.
		return ExitUsage
	}
	var ce *apiclient.ConnectionError
	if errors.As(err, &ce) {
		return ExitUnavailable
	}
	if status := apiclient.StatusOf(err); status >= 500 {
		return ExitUnavailable
	}
	return ExitFailure
}

const rootLong = `Switchboard is a self-hosted hub: solutions (tenants) own HTTP endpoints and event
handlers whose Lua scripts run on the server and call the services of the hub's
catalog, managed through the API under /api/v1.

"switchboard serve" runs the server. Every other command talks to a running server
through its management API, at --server (default http://127.0.0.1:8080).

Authentication: the API token comes from --token or SWITCHBOARD_TOKEN. When neither
is given, the admin token is read from <data>/admin-token (--data, default ./data)
if that file exists. The server writes that file on its first start, so commands
run next to a local server need no setup.

Environment variables:
  SWITCHBOARD_SERVER    --server
  SWITCHBOARD_TOKEN     --token
  SWITCHBOARD_DATA      --data
  SWITCHBOARD_SOLUTION  -s/--solution of the endpoint, handler, keystore and deploy commands
  SWITCHBOARD_<FLAG>    each serve flag, e.g. SWITCHBOARD_SHUTDOWN_TIMEOUT
A flag given on the command line wins over its variable; empty variables are ignored.

Exit codes:
  0  success
  1  the server refused the request (4xx) or a deploy failed
  2  bad usage: flags, arguments, environment variables, or a file that cannot be read
  3  the server could not be reached or answered with a 5xx status

Errors go to standard error as "switchboard: <message>", or with -o json as one JSON
object: {"error": "<message>", "status": <HTTP status>, "field": "<field>",
"exit_code": <code>}; results go to standard output.

Shell completion (solution names, endpoint paths and service names come from the
server): see "switchboard completion --help".`

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "switchboard",
		Short:         "Run and manage a Switchboard hub",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), a.getenv); err != nil {
				return err
			}
			switch a.output {
			case "text", "json":
			default:
				return usagef("--output %q: want text or json", a.output)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(a.flagError)
	root.Version = currentVersion()
	root.SetVersionTemplate(readBuildInfo().text())

	pf := root.PersistentFlags()
	stringFlag(pf, &a.server, "server", "", "http://127.0.0.1:8080", "SWITCHBOARD_SERVER",
		"URL of the Switchboard server the commands talk to")
	stringFlag(pf, &a.token, "token", "", "", "SWITCHBOARD_TOKEN",
		"API token; when neither the flag nor the variable is given, <data>/admin-token is used if it exists")
	stringFlag(pf, &a.dataDir, "data", "", "./data", "SWITCHBOARD_DATA",
		"data directory: serve keeps its state and generated tokens here; the other commands read <data>/admin-token from it")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text or json")

	root.AddCommand(
		a.newServeCmd(),
		a.newSolutionCmd(),
		a.newEndpointCmd(),
		a.newHandlerCmd(),
		a.newEventCmd(),
		a.newAutomationCmd(),
		a.newDeadLetterCmd(),
		a.newConnectorCmd(),
		a.newHostedCmd(),
		a.newAgentCmd(),
		a.newFlowCmd(),
		a.newNodeCmd(),
		a.newServiceCmd(),
		a.newDeployCmd(),
		a.newKeystoreCmd(),
		a.newRunCmd(),
		a.newLogsCmd(),
		a.newMetricsCmd(),
		a.newWhoAmICmd(),
		a.newVersionCmd(),
	)
	prepareGroups(root)
	a.addCompletions(root)
	markRunErrors(root)
	return root
}

// markRunErrors wraps the RunE of cmd and all its subcommands so that exitCode can tell their
// errors from cobra's usage errors.
func markRunErrors(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if err := run(c, args); err != nil {
				return &runError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markRunErrors(sub)
	}
}

// groupCmd is a command that only holds subcommands: without arguments it shows its help;
// with an unknown one it is a usage error (see prepareGroups).
func groupCmd(use, short, long string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Long: long, RunE: groupRun}
}

// client returns an API client for the global flags, resolving the token as documented.
func (a *app) client() (*apiclient.Client, error) {
	server := strings.TrimSpace(a.server)
	if server == "" {
		return nil, usagef("--server: empty; want a URL such as http://127.0.0.1:8080")
	}
	probe := server
	if !strings.Contains(probe, "://") {
		probe = "http://" + probe
	}
	if u, err := url.Parse(probe); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, usagef("--server %q: want a URL such as http://127.0.0.1:8080", a.server)
	}
	token := a.token
	if token == "" {
		dir := a.dataDir
		if dir == "" {
			dir = "./data"
		}
		file := filepath.Join(dir, "admin-token")
		b, err := os.ReadFile(file)
		switch {
		case err == nil:
			token = strings.TrimSpace(string(b))
		case errors.Is(err, os.ErrNotExist):
		default:
			return nil, usagef("reading the admin token: %v (give --token or SWITCHBOARD_TOKEN instead)", err)
		}
	}
	a.noToken = token == ""
	return apiclient.New(server, token,
		apiclient.WithTimeout(requestTimeout),
		apiclient.WithUserAgent("switchboard-cli/"+currentVersion()),
	), nil
}

// solutionFlag adds -s/--solution (env SWITCHBOARD_SOLUTION) to cmd.
func (a *app) solutionFlag(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&a.solution, "solution", "s", "", "the solution to work on"+envSuffix("SWITCHBOARD_SOLUTION"))
	bindEnv(f, "solution", "SWITCHBOARD_SOLUTION")
}

// requireSolution returns the solution given by -s or SWITCHBOARD_SOLUTION.
// solutionClient is what every per-solution command starts with: the solution and a client.
func (a *app) solutionClient() (string, *apiclient.Client, error) {
	sol, err := a.requireSolution()
	if err != nil {
		return "", nil, err
	}
	c, err := a.client()
	return sol, c, err
}

func (a *app) requireSolution() (string, error) {
	s := strings.TrimSpace(a.solution)
	if s == "" {
		return "", usagef("no solution given: use -s/--solution or set SWITCHBOARD_SOLUTION")
	}
	return s, nil
}
