package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFlowAndNodeCommands: the flow and node commands against a real hub: a node created with
// tags prints its token once; a flow from YAML places instances on the hub and by tag; each
// node's assignment; a flow shown as JSON goes back unchanged, its secret never printed;
// restart, disable, enable, token and delete; refusals name what is wrong.
func TestFlowAndNodeCommands(t *testing.T) {
	t.Parallel()
	_, env := realEnv(t)
	const secret = "hunter2-cli-secret"
	var printed []string
	run := func(args ...string) result {
		t.Helper()
		r := runCLI(t, env, "", args...)
		printed = append(printed, r.stdout, r.stderr)
		return r
	}
	dir := writeTree(t, map[string]string{
		"blink.lua":  "local S = {}\nfunction S:Start() end\nfunction S:Stop() end\nreturn S\n",
		"Read.py":    "class Read: pass\n",
		"props.yaml": "static_properties:\n  - {name: pin, type: number, default: 4}\nsecurity_properties:\n  - {name: key, required: true}\n",
		"lights.yaml": "description: blinks and reads\ninstances:\n" +
			"  - {name: Blinker, service: Blink, node: hub, security: {key: " + secret + "}, upstream: demo.blinks}\n" +
			"  - {name: ReadAll, service: Read, tag: gpio}\n",
		"bad.yaml":   "instances:\n  - {name: Other, service: Blink, node: hub, static: {pin: four}, security: {key: x}}\n",
		"typo.yaml":  "instances:\n  - {name: X, servce: Blink}\n",
		"other.yaml": "name: elsewhere\ninstances: []\n",
	})
	run("hosted", "create", "Blink", filepath.Join(dir, "blink.lua"), "--properties", filepath.Join(dir, "props.yaml")).check(t, 0, nil, nil)
	run("hosted", "create", "Read", filepath.Join(dir, "Read.py")).check(t, 0, nil, nil)

	r := run("node", "create", "pi-1", "--tag", "gpio", "--tag", "kitchen")
	r.check(t, 0, []string{"created node pi-1", "provisioning token (shown once): sbp_"}, nil)
	token := strings.TrimSpace(r.stdout[strings.Index(r.stdout, "sbp_"):])
	run("node", "create", "Pi 2").check(t, 1, nil, []string{"name"})

	run("flow", "create", "lights", "--file", filepath.Join(dir, "lights.yaml")).check(t, 0, []string{"created flow lights (2 instances)"}, nil)
	run("flow", "create", "broken", "--file", filepath.Join(dir, "bad.yaml")).check(t, 1, nil, []string{"instances[0].static.pin"})
	run("flow", "create", "typo", "--file", filepath.Join(dir, "typo.yaml")).check(t, 2, nil, []string{"servce"})
	run("flow", "create", "lights", "--file", filepath.Join(dir, "other.yaml")).check(t, 2, nil, []string{"elsewhere"})
	run("flow", "create", "nofile").check(t, 2, nil, []string{"--file: required"})
	run("flow", "list").check(t, 0, []string{"lights", "2", "blinks and reads"}, nil)
	run("flow", "show", "lights").check(t, 0, []string{"Blinker", "node hub", "demo.blinks", "key=(set)", "ReadAll", "tag gpio"}, nil)

	run("node", "assignment", "hub").check(t, 0, []string{"lights", "Blinker", "Blink", "lua", "0.1", "pin=4", "key=(set)"}, nil)
	run("node", "assignment", "pi-1").check(t, 0, []string{"ReadAll", "python"}, nil)
	before := run("node", "assignment", "hub", "-o", "json")

	// Shown as JSON, written back: nothing changes, the secret kept.
	shown := run("flow", "show", "lights", "-o", "json")
	shown.check(t, 0, []string{`"(set)"`}, nil)
	back := filepath.Join(dir, "back.json")
	writeFile(t, back, shown.stdout)
	run("flow", "update", "lights", "--file", back).check(t, 0, []string{"updated flow lights"}, nil)
	if after := run("node", "assignment", "hub", "-o", "json"); after.stdout != before.stdout {
		t.Fatalf("a round trip changed the assignment:\n%s\n%s", before.stdout, after.stdout)
	}

	run("node", "restart", "pi-1").check(t, 0, []string{"node pi-1 restarted (generation 1)"}, nil)
	run("node", "disable", "pi-1").check(t, 0, []string{"node pi-1 disabled"}, nil)
	run("node", "list").check(t, 0, []string{"hub", "online", "pi-1", "disabled", "gpio, kitchen"}, nil)
	if r := run("node", "assignment", "pi-1"); strings.Contains(r.stdout, "ReadAll") {
		t.Fatalf("a disabled node is assigned:\n%s", r.stdout)
	}
	run("node", "enable", "pi-1").check(t, 0, []string{"node pi-1 enabled"}, nil)
	run("node", "show", "pi-1").check(t, 0, []string{"offline", "generation:", "1", "waits for its first sign-in"}, nil)
	r = run("node", "token", "pi-1")
	r.check(t, 0, []string{"provisioning token (shown once): sbp_"}, nil)
	if strings.Contains(r.stdout, token) {
		t.Fatal("the new token is the old one")
	}

	// What a flow uses is kept.
	run("hosted", "delete", "Read").check(t, 1, nil, []string{"lights"})
	run("node", "delete", "hub").check(t, 1, nil, []string{"hub"})
	run("flow", "delete", "lights").check(t, 0, []string{"deleted flow lights"}, nil)
	run("node", "delete", "pi-1").check(t, 0, []string{"deleted node pi-1"}, nil)
	run("node", "show", "pi-1").check(t, 1, nil, []string{"pi-1"})

	// Nothing printed the secret.
	run("flow", "list", "-o", "json")
	for _, out := range printed {
		if strings.Contains(out, secret) {
			t.Fatalf("a command printed the secret:\n%s", out)
		}
	}
}
