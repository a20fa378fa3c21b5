package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

const runLong = `Run a Lua script once on the server, as an endpoint of the solution would run it, without
deploying it: it sees the same request and response, calls the solution's real services
(its Keystore too) and runs within the solution's limits. The script is never stored.

The output is the HTTP response the script made (status, headers, body), then what the
run wrote to its log (print, service calls the solution cannot make), then its time and
the memory it held. A script that fails prints its error with FILE:LINE and exits 1.

FILE may be a deploy file with --#ENDPOINT annotations: the first endpoint's script runs
(or the one --endpoint names), with its method and route unless --method or --path are
given, and errors name the lines of FILE. A route's parameters, such as {id} in
/users/{id}, are taken from --path.`

const runExample = `  # Run a script as GET / of solution demo
  switchboard run hello.lua -s demo

  # A request with a path, a query, headers and a JSON body from a file
  switchboard run users.lua -s demo --method POST --path /users/42 --query verbose=1 \
      --header 'X-Trace: 1' --body @user.json

  # The second endpoint of a deploy file, as its annotation says (--#ENDPOINT GET /users/{id})
  switchboard run app/users.lua -s demo --endpoint 'GET /users/{id}' --path /users/42

  # The whole answer as JSON
  switchboard run hello.lua -s demo -o json`

// runFlags are the run command's request flags.
type runFlags struct {
	method, path, body, endpoint string
	headers, query               []string
}

func (a *app) newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:     "run FILE",
		Short:   "Run a Lua script once on the server, without deploying it",
		Long:    runLong,
		Example: runExample,
		Args:    exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, err := a.requireSolution()
			if err != nil {
				return err
			}
			req, err := a.runRequest(args[0], f)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			res, err := c.Run(cmd.Context(), sol, req)
			if err != nil {
				label := "run"
				if req.Route != "" {
					label = req.Method + " " + req.Route
				}
				return locateScriptError(err, req.Name, 1, label)
			}
			if a.jsonOutput() {
				if err := a.printJSON(res); err != nil {
					return err
				}
			} else {
				a.printRun(res)
			}
			if res.Error != nil {
				return &runFailed{res.Error.Message}
			}
			return nil
		},
	}
	a.solutionFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.method, "method", "", "the request's method (default GET, or the --#ENDPOINT annotation's)")
	fl.StringVar(&f.path, "path", "", "the request's path, such as /users/42 (default the annotation's route, or /)")
	fl.StringVar(&f.body, "body", "", `the request's body: text, @FILE for a file's contents, or "-" for standard input`)
	fl.StringArrayVar(&f.headers, "header", nil, `a request header "Name: value" (repeatable)`)
	fl.StringArrayVar(&f.query, "query", nil, "a query parameter name=value (repeatable)")
	fl.StringVar(&f.endpoint, "endpoint", "", `in a deploy file, the endpoint to run, such as "GET /users/{id}"`)
	return cmd
}

// runFailed is a run whose script failed; its output is printed already.
type runFailed struct{ msg string }

func (e *runFailed) Error() string { return "the script failed: " + e.msg }

// runRequest makes the request for FILE and the flags.
func (a *app) runRequest(file string, f runFlags) (apiclient.RunRequest, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return apiclient.RunRequest{}, readError(file, err)
	}
	req := apiclient.RunRequest{Name: file, Script: string(src)}
	if hasAnnotation(string(src)) {
		it, err := pickEndpoint(file, src, f.endpoint)
		if err != nil {
			return req, err
		}
		// Blank lines in front keep the script's line numbers those of the file.
		req.Script = strings.Repeat("\n", it.Line) + it.Script
		req.Method, req.Route = it.Method, it.Path
	} else if f.endpoint != "" {
		return req, usagef("--endpoint: %s has no --#ENDPOINT annotations", file)
	}
	if f.method != "" {
		m, err := normalizeMethod(f.method)
		if err != nil {
			return req, &usageError{fmt.Errorf("--method: %w", err)}
		}
		req.Method = m
	}
	if f.path != "" {
		if !strings.HasPrefix(f.path, "/") {
			return req, usagef("--path %q: want a path starting with /, such as /users/42", f.path)
		}
		p, q, _ := strings.Cut(f.path, "?")
		req.Path = p
		if q != "" {
			f.query = append(strings.Split(q, "&"), f.query...)
		}
	}
	for _, h := range f.headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return req, usagef("--header %q: want \"Name: value\"", h)
		}
		if req.Headers == nil {
			req.Headers = map[string]string{}
		}
		req.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	for _, kv := range f.query {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return req, usagef("--query %q: want name=value", kv)
		}
		if req.Query == nil {
			req.Query = map[string][]string{}
		}
		req.Query[k] = append(req.Query[k], v)
	}
	if f.body != "" {
		text, err := a.readBodyFlag(f.body)
		if err != nil {
			return req, err
		}
		b, _ := json.Marshal(text) // a JSON string: sent as this text, read by its Content-Type
		req.Body = b
	}
	return req, nil
}

// readBodyFlag is --body's text: literal, @FILE or "-" for standard input.
func (a *app) readBodyFlag(v string) (string, error) { return a.readText("--body", v) }

// readText is the text an argument or flag (named by what) gives: literal, @FILE or "-" for
// standard input.
func (a *app) readText(what, v string) (string, error) {
	switch {
	case v == "-":
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return "", usagef("%s -: cannot read standard input: %v", what, err)
		}
		return string(b), nil
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return "", readError(v[1:], err)
		}
		return string(b), nil
	}
	return v, nil
}

// hasAnnotation reports whether src holds a deploy annotation line.
func hasAnnotation(src string) bool {
	for _, line := range strings.Split(src, "\n") {
		if _, ok := annotationLine(strings.TrimSuffix(line, "\r")); ok {
			return true
		}
	}
	return false
}

// pickEndpoint is the endpoint of a deploy file that run runs: the first, or the one named.
func pickEndpoint(file string, src []byte, want string) (item, error) {
	items, err := parseFile(file, src)
	if err != nil {
		return item{}, &usageError{err}
	}
	var labels []string
	for _, it := range items {
		if it.Kind != kindEndpoint {
			continue
		}
		labels = append(labels, it.label())
		if want == "" || sameEndpoint(it, want) {
			return it, nil
		}
	}
	if len(labels) == 0 {
		return item{}, usagef("%s has no --#ENDPOINT annotation: run runs an endpoint's script", file)
	}
	return item{}, usagef("--endpoint %q: %s has %s", want, file, strings.Join(labels, ", "))
}

// sameEndpoint reports whether "METHOD /path" names it (the method in any case).
func sameEndpoint(it item, label string) bool {
	m, p, ok := strings.Cut(strings.TrimSpace(label), " ")
	return ok && strings.EqualFold(m, it.Method) && strings.TrimSpace(p) == it.Path
}

// printRun writes a run's answer for people: the response, the logs, time and memory.
func (a *app) printRun(res apiclient.RunResult) {
	w := a.stdout
	if r := res.Response; r != nil {
		fmt.Fprintf(w, "HTTP %d\n", r.Status)
		keys := make([]string, 0, len(r.Headers))
		for k := range r.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s: %s\n", k, r.Headers[k])
		}
		fmt.Fprintln(w)
		switch {
		case r.BodyBase64 != nil:
			fmt.Fprintf(w, "(%d bytes that are not text; -o json shows them in base64)\n", len(r.BodyBase64))
		case r.Body != "":
			fmt.Fprintln(w, strings.TrimSuffix(r.Body, "\n"))
		}
	}
	if len(res.Logs) > 0 {
		if res.Response != nil {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "logs:")
		for _, e := range res.Logs {
			fmt.Fprintf(w, "  %s %-5s %s%s\n", e.Time.Local().Format("15:04:05.000"), e.Level, e.Message, formatFields(e.Fields))
		}
	}
	if res.Error != nil {
		fmt.Fprintf(w, "\nerror: %s\n", res.Error.Message)
	}
	d := time.Duration(res.DurationMS * float64(time.Millisecond))
	fmt.Fprintf(w, "\ntime %s, memory %s\n", d.Round(10*time.Microsecond), approxBytes(res.MemoryBytes))
}

// approxBytes writes n for people: "812 B", "10.6 KiB", "3.2 MiB".
func approxBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// formatFields is a log entry's fields as " k=v ...", sorted, or "".
func formatFields(fields map[string]any) string {
	if len(fields) == 0 {
		return ""
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v, err := json.Marshal(fields[k])
		if err != nil {
			v = []byte(fmt.Sprint(fields[k]))
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return b.String()
}
