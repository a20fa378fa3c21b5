package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

// suggestionDistance is how many edits a mistyped command may be from a real one to be
// suggested ("lsit" → "list").
const suggestionDistance = 2

// groupRun is the RunE of a command that only holds subcommands (the root too): without
// arguments it shows its help; with an unknown one it is a usage error with suggestions.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return unknownCommand(cmd, args[0])
	}
	return cmd.Help()
}

// unknownCommand is the usage error for a subcommand name that cmd does not have:
// `unknown command "lsit" for "switchboard endpoint"; did you mean "list"?`.
func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		for i := range s {
			s[i] = fmt.Sprintf("%q", s[i])
		}
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usagef("%s", msg)
}

// prepareGroups makes every command that holds subcommands, the root included, report an
// unknown subcommand as such, with suggestions, whatever flags follow it. Cobra parses a
// command's flags before it looks at its arguments, so "endpoint lsit -s demo" would
// otherwise fail on -s, a flag "endpoint" itself does not have.
func prepareGroups(cmd *cobra.Command) {
	if !cmd.HasSubCommands() {
		return
	}
	cmd.SuggestionsMinimumDistance = suggestionDistance
	cmd.Args = cobra.ArbitraryArgs // groupRun checks them, with suggestions
	if cmd.RunE == nil && cmd.Run == nil {
		cmd.RunE = groupRun
	}
	for _, sub := range cmd.Commands() {
		prepareGroups(sub)
	}
}

// flagError is the root's flag error function: for a command that holds subcommands, a
// word among its arguments is the real mistake, an unknown subcommand.
func (a *app) flagError(cmd *cobra.Command, err error) error {
	if cmd.HasSubCommands() {
		words := cmd.Flags().Args() // those before the bad flag
		if len(words) == 0 {
			if _, rest, ferr := cmd.Root().Find(a.args); ferr == nil {
				words = positional(rest)
			}
		}
		if len(words) > 0 {
			return unknownCommand(cmd, words[0])
		}
		if cmd.HasParent() {
			return usagef("%v (the command of %q goes first, its flags after it)", err, cmd.CommandPath())
		}
	}
	return &usageError{err}
}

// positional drops the flags from args, taking the word after a flag without "=" as its
// value, as cobra does when it looks for subcommands.
func positional(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch arg := args[i]; {
		case arg == "--":
			return append(out, args[i+1:]...)
		case strings.HasPrefix(arg, "-") && len(arg) > 1:
			if !strings.Contains(arg, "=") && (strings.HasPrefix(arg, "--") || len(arg) == 2) {
				i++ // its value
			}
		default:
			out = append(out, arg)
		}
	}
	return out
}

// jsonError is an error as -o json writes it to standard error.
type jsonError struct {
	Error string `json:"error"`
	// Status is the HTTP status of a request the server refused.
	Status int `json:"status,omitempty"`
	// Field and Line are what the server named as the cause, when it did.
	Field string `json:"field,omitempty"`
	Line  int    `json:"line,omitempty"`
	// ExitCode is the process's exit code.
	ExitCode int `json:"exit_code"`
	// Hint says how to go on, when there is a usual way.
	Hint string `json:"hint,omitempty"`
}

// writeJSONError writes err to w as one JSON object on one line.
func writeJSONError(w io.Writer, err error, code int, hint string) {
	out := jsonError{Error: err.Error(), ExitCode: code, Hint: hint}
	var apiErr *apiclient.Error
	if errors.As(err, &apiErr) {
		out.Status, out.Field, out.Line = apiErr.Status, apiErr.Field, apiErr.Line
		if err.Error() == apiErr.Error() {
			out.Error = apiErr.Message // the status and field have fields of their own
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(out) //nolint:errcheck // nowhere left to report to
}

// jsonRequested reports whether args ask for -o json, for errors that happen before (or
// while) the flags are parsed.
func jsonRequested(args []string) bool {
	json := false // the last -o wins, as with flags
	for i, arg := range args {
		switch {
		case arg == "--":
			return json
		case arg == "-o" || arg == "--output":
			if i+1 < len(args) {
				json = args[i+1] == "json"
			}
		case strings.HasPrefix(arg, "--output="):
			json = arg == "--output=json"
		case strings.HasPrefix(arg, "-o") && !strings.HasPrefix(arg, "--"):
			json = strings.TrimPrefix(strings.TrimPrefix(arg, "-o"), "=") == "json"
		}
	}
	return json
}
