package cli

import (
	"path/filepath"
	"testing"
)

// TestHostedCommands: the hosted commands against a real hub, as the seed's walkthrough goes:
// create (0.1, properties from YAML), update minor and major, list, show a version and its
// code; refusals name what is wrong.
func TestHostedCommands(t *testing.T) {
	t.Parallel()
	_, env := realEnv(t)
	dir := writeTree(t, map[string]string{
		"ReadGPIO.py": "from base_service import CustomService\n\nclass ReadGPIO(CustomService):\n    pass\n",
		"gpio.yaml":   "static_properties:\n  - {name: gpio_pin, type: number, default: 4, description: the pin read}\nsecurity_properties:\n  - {name: api_key, required: true}\n",
		"bad.yaml":    "static_properties:\n  - {name: gpio_pin, colour: red}\n",
		"blink.lua":   "local S = {}\nfunction S:Start(\nreturn S\n",
		"noext":       "#!/bin/sh\n",
	})
	py, props := filepath.Join(dir, "ReadGPIO.py"), filepath.Join(dir, "gpio.yaml")

	runCLI(t, env, "", "hosted", "create", "ReadGPIO", py, "--properties", props, "--description", "reads a pin").
		check(t, 0, []string{"created hosted service ReadGPIO (python, version 0.1)\n"}, nil)
	runCLI(t, env, "", "hosted", "update-minor", "ReadGPIO", py, "--properties", props).check(t, 0, []string{"hosted service ReadGPIO: version 0.2\n"}, nil)
	runCLI(t, env, "", "hosted", "update-major", "ReadGPIO", py).check(t, 0, []string{"hosted service ReadGPIO: version 1.0\n"}, nil)
	runCLI(t, env, "", "hosted", "list").check(t, 0, []string{"NAME", "ReadGPIO  python  1.0     3", "reads a pin"}, nil)
	runCLI(t, env, "", "hosted", "show", "ReadGPIO").check(t, 0, []string{"kind:", "python", "0.1", "gpio_pin, api_key (secret)", "1.0"}, nil)
	runCLI(t, env, "", "hosted", "show", "ReadGPIO", "--version", "0").
		check(t, 0, []string{"version:", "0.2", "static gpio_pin:", "number (default 4; the pin read)", "security api_key:", "secret (required)"}, nil)
	runCLI(t, env, "", "hosted", "show", "ReadGPIO", "--code").check(t, 0, []string{"class ReadGPIO(CustomService):\n"}, nil)

	runCLI(t, env, "", "hosted", "create", "Blink", filepath.Join(dir, "blink.lua")).check(t, 1, nil, []string{"code", "line 3"})
	runCLI(t, env, "", "hosted", "create", "Tool", filepath.Join(dir, "noext")).check(t, 2, nil, []string{"--kind: required"})
	runCLI(t, env, "", "hosted", "create", "Other", py, "--properties", filepath.Join(dir, "bad.yaml")).check(t, 2, nil, []string{"colour"})
	runCLI(t, env, "", "hosted", "update-minor", "Ghost", py).check(t, 1, nil, []string{"Ghost"})
	runCLI(t, env, "", "hosted", "delete", "ReadGPIO").check(t, 0, []string{"deleted hosted service ReadGPIO"}, nil)
	runCLI(t, env, "", "hosted", "list").check(t, 0, []string{"NAME"}, nil)
}
