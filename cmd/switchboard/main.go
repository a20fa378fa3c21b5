// Command switchboard runs a Switchboard hub (switchboard serve) and manages a running one
// through its API. See docs/cli.md or "switchboard --help".
package main

import (
	"os"

	"github.com/switchboardhq/switchboard/internal/cli"
)

func main() {
	os.Exit(cli.Execute())
}
