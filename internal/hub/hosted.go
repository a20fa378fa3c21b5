package hub

import (
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/script"
)

// checkHostedCode refuses a Lua hosted service's code that does not compile in the sandbox,
// naming the line; python and process code is the agent's to run.
func checkHostedCode(kind, name, code string) error {
	if kind != hosted.KindLua {
		return nil
	}
	_, err := script.Compile(name, code)
	return err
}
