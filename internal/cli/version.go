package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

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

// buildInfo is what the version command prints.
type buildInfo struct {
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from, Date that commit's time (RFC 3339),
	// and Modified whether the working tree had uncommitted changes; empty when the binary was
	// built without VCS information (go run, -buildvcs=false, or outside a repository).
	Commit   string `json:"commit,omitempty"`
	Date     string `json:"date,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readBuildInfo reads the version and the vcs.* settings Go records in the binary.
func readBuildInfo() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildInfoFrom(bi)
}

// buildInfoFrom is readBuildInfo for the build information bi (nil when there is none).
func buildInfoFrom(bi *debug.BuildInfo) buildInfo {
	info := buildInfo{Version: currentVersion(), Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return info
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Date = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// text is the version command's text output, also printed by --version.
func (b buildInfo) text() string {
	var s strings.Builder
	fmt.Fprintf(&s, "switchboard %s\n", b.Version)
	if b.Commit != "" {
		commit := b.Commit
		if b.Modified {
			commit += " (with uncommitted changes)"
		}
		fmt.Fprintf(&s, "commit:  %s\n", commit)
	}
	if b.Date != "" {
		fmt.Fprintf(&s, "date:    %s\n", b.Date)
	}
	fmt.Fprintf(&s, "go:      %s %s\n", b.Go, b.Platform)
	return s.String()
}

func (a *app) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of switchboard, the commit it was built from and its date",
		Long: `Print the version of switchboard, the commit it was built from and that commit's
date (from the build information Go records in the binary; absent when it was built
without it), and the Go version. "switchboard --version" prints the same.`,
		Example: "  switchboard version\n  switchboard --version\n  switchboard version -o json",
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			info := readBuildInfo()
			if a.jsonOutput() {
				return a.printJSON(info)
			}
			_, err := fmt.Fprint(a.stdout, info.text())
			return err
		},
	}
}
