package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"
)

// noArgs accepts no positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

// exactArgs accepts exactly the named positional arguments, naming the missing or extra ones.
func exactArgs(names ...string) cobra.PositionalArgs {
	return rangeArgs(len(names), names...)
}

// rangeArgs accepts the named positional arguments, of which the first required must be
// given, naming the missing or extra ones.
func rangeArgs(required int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < required:
			missing := names[len(args):required]
			return usagef("%s: missing %s", cmd.CommandPath(), strings.Join(missing, " "))
		case len(args) > len(names):
			return usagef("%s takes %s, got extra arguments %q", cmd.CommandPath(),
				strings.Join(names, " "), strings.Join(args[len(names):], " "))
		}
		for i, arg := range args {
			if strings.TrimSpace(arg) == "" {
				return usagef("%s: %s is empty", cmd.CommandPath(), names[i])
			}
		}
		return nil
	}
}

// methods are the HTTP methods an endpoint may have.
var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// normalizeMethod returns m in upper case if it is one of methods.
func normalizeMethod(m string) (string, error) {
	up := strings.ToUpper(m)
	for _, ok := range methods {
		if up == ok {
			return up, nil
		}
	}
	return "", fmt.Errorf("unknown HTTP method %q; want one of %s", m, strings.Join(methods, ", "))
}

// checkPath reports whether p can be an endpoint path.
func checkPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q must start with \"/\"", p)
	case strings.ContainsAny(p, "?#"):
		return fmt.Errorf("path %q: an endpoint path has no query (?) or fragment (#)", p)
	case strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return fmt.Errorf("path %q contains a space or control character", p)
	}
	return nil
}

// readError is the usage error for a file or folder that cannot be read: "cannot read x: reason"
// (x is the path in err when it names one, such as a sub-folder of path).
func readError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		path, err = pe.Path, pe.Err
	}
	return usagef("cannot read %s: %v", path, err)
}
