package cli

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release version, set at build time with
// -ldflags "-X github.com/switchboardhq/switchboard/internal/cli.version=v1.2.3".
var version = "dev"

// currentVersion is version, or the module version recorded by "go install" when version was
// not set at build time.
func currentVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func (a *app) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of switchboard",
		Example: "  switchboard version\n  switchboard version -o json",
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			v := currentVersion()
			if a.jsonOutput() {
				return a.printJSON(map[string]string{"version": v, "go": runtime.Version()})
			}
			_, err := a.stdout.Write([]byte("switchboard " + v + "\n"))
			return err
		},
	}
}
