package cli

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	blinkService  = "local S = {}\nfunction S:Start() end\nfunction S:Stop() end\nreturn S\n"
	blinkProps    = "description: blinks a led\nstatic_properties:\n  - {name: pin, type: number, default: 4}\n"
	readService   = "class Read:\n    pass\n"
	lightsFlow    = "description: blinks\ninstances:\n  - {name: Blinker, service: Blink, version: \"0\", node: hub, static: {pin: 5}, upstream: demo.blinks}\n"
	endpointsFile = "--#ENDPOINT GET /hello\nreturn {hello = \"world\"}\n"
)

// TestDeployHostedAndFlows: a folder's hosted services (Lua with properties, Python) and flow
// are created after its endpoint; deploying again changes nothing; a changed Lua file is the
// next minor version, which the flow pinned "0" runs; --major makes a major; --dry-run
// changes nothing; a bad YAML, a Lua service that does not compile, and a code file of no
// kind are refused naming the file; services and flows left out of the folder stay.
func TestDeployHostedAndFlows(t *testing.T) {
	t.Parallel()
	_, env := realEnv(t)
	dir := writeTree(t, map[string]string{
		"app/api.lua":           endpointsFile,
		"app/hosted/Blink.lua":  blinkService,
		"app/hosted/Blink.yaml": blinkProps,
		"app/hosted/Read.py":    readService,
		"app/flows/lights.yaml": lightsFlow,
	})
	app := filepath.Join(dir, "app")
	blink := filepath.Join(app, "hosted", "Blink.lua")

	runCLI(t, env, "", "deploy", app, "--dry-run").
		check(t, 0, []string{"+ GET /hello\n+ HOSTED Blink 0.1\n+ HOSTED Read 0.1\n+ FLOW lights\ndry run: 4 to add, 0 to update, 0 to remove, 0 unchanged\n"}, nil)
	if r := runCLI(t, env, "", "hosted", "list"); strings.Contains(r.stdout, "Blink") {
		t.Fatalf("the dry run created a hosted service:\n%s", r.stdout)
	}

	r := runCLI(t, env, "", "deploy", app)
	if want := "+ GET /hello\n+ HOSTED Blink 0.1\n+ HOSTED Read 0.1\n+ FLOW lights\ndeployed: 4 added, 0 updated, 0 removed, 0 unchanged\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("deploy: exit %d\n%s%s\nwant:\n%s", r.code, r.stdout, r.stderr, want)
	}
	runCLI(t, env, "", "hosted", "list").check(t, 0, []string{"Blink  lua     0.1", "blinks a led", "Read   python  0.1"}, nil)
	runCLI(t, env, "", "hosted", "show", "Blink", "--version", "0.1").check(t, 0, []string{"static pin:", "number (default 4)"}, nil)
	runCLI(t, env, "", "node", "assignment", "hub").check(t, 0, []string{"lights", "Blinker", "Blink", "0.1", "pin=5"}, nil)

	// Again: nothing changes.
	runCLI(t, env, "", "deploy", app).check(t, 0, []string{"deployed: 0 added, 0 updated, 0 removed, 4 unchanged\n"}, nil)
	if r := runCLI(t, env, "", "deploy", app); strings.ContainsAny(r.stdout, "+~") {
		t.Errorf("an unchanged folder changed something:\n%s", r.stdout)
	}

	// A changed Lua file: a dry run says 0.2 and stores nothing; the deploy stores 0.2, which
	// the flow pinned "0" runs; the flow itself is unchanged.
	writeFile(t, blink, strings.Replace(blinkService, "function S:Stop() end", "function S:Stop() print(\"bye\") end", 1))
	runCLI(t, env, "", "deploy", app, "--dry-run").check(t, 0, []string{"~ HOSTED Blink 0.2\n", "dry run: 0 to add, 1 to update, 0 to remove, 3 unchanged\n"}, nil)
	runCLI(t, env, "", "hosted", "list").check(t, 0, []string{"Blink  lua     0.1     1"}, nil)
	r = runCLI(t, env, "", "deploy", app)
	if want := "~ HOSTED Blink 0.2\ndeployed: 0 added, 1 updated, 0 removed, 3 unchanged\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("deploy of a changed service: exit %d\n%s%s\nwant:\n%s", r.code, r.stdout, r.stderr, want)
	}
	runCLI(t, env, "", "hosted", "show", "Blink", "--code").check(t, 0, []string{`print("bye")`}, nil)
	r = runCLI(t, env, "", "deploy", app, "-o", "json")
	var res deployResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
		t.Fatalf("deploy -o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	wantActions := []deployAction{
		{Action: actUnchanged, Kind: "endpoint", Method: "GET", Path: "/hello", File: filepath.Join(app, "api.lua"), Line: 1},
		{Action: actUnchanged, Kind: "hosted", Name: "Blink", Version: "0.2", File: blink},
		{Action: actUnchanged, Kind: "hosted", Name: "Read", Version: "0.1", File: filepath.Join(app, "hosted", "Read.py")},
		{Action: actUnchanged, Kind: "flow", Name: "lights", File: filepath.Join(app, "flows", "lights.yaml")},
	}
	if !reflect.DeepEqual(res.Actions, wantActions) || res.Unchanged != 4 {
		t.Errorf("deploy -o json: %+v, want actions %+v", res, wantActions)
	}
	runCLI(t, env, "", "node", "assignment", "hub").check(t, 0, []string{"Blinker", "0.2"}, nil)

	// Changed property definitions with --major: 1.0. A changed flow is replaced.
	writeFile(t, filepath.Join(app, "hosted", "Blink.yaml"), strings.Replace(blinkProps, "default: 4", "default: 6", 1))
	writeFile(t, filepath.Join(app, "flows", "lights.yaml"), strings.Replace(lightsFlow, "pin: 5", "pin: 7", 1))
	runCLI(t, env, "", "deploy", app, "--major").
		check(t, 0, []string{"~ HOSTED Blink 1.0\n~ FLOW lights\ndeployed: 0 added, 2 updated, 0 removed, 2 unchanged\n"}, nil)
	runCLI(t, env, "", "flow", "show", "lights").check(t, 0, []string{"pin=7"}, nil)

	// Left out of the folder, even with --prune: they stay.
	runCLI(t, env, "", "deploy", filepath.Join(dir, "app", "flows"), "--prune").check(t, 0, []string{"- GET /hello\n"}, nil)
	runCLI(t, env, "", "hosted", "list").check(t, 0, []string{"Blink", "Read"}, nil)
	runCLI(t, env, "", "flow", "list").check(t, 0, []string{"lights"}, nil)

	// Refusals name the file, and change nothing.
	bad := writeTree(t, map[string]string{
		"hosted/Blink.lua":   blinkService,
		"hosted/Blink.yaml":  "static_properties:\n  - {name: pin, colour: red}\n",
		"flows/broken.yaml":  "instances: [",
		"flows/typo.yaml":    "instances:\n  - {name: X, servce: Blink}\n",
		"hosted/Tool":        "#!/bin/sh\n",
		"hosted/Orphan.yaml": "description: no code\n",
	})
	runCLI(t, env, "", "deploy", bad, "--keep").check(t, 2, nil, []string{
		filepath.Join(bad, "hosted", "Blink.yaml") + ": ", "colour",
		filepath.Join(bad, "flows", "broken.yaml") + ": ",
		filepath.Join(bad, "flows", "typo.yaml") + ": ", "servce",
		filepath.Join(bad, "hosted", "Tool") + ": no kind",
		filepath.Join(bad, "hosted", "Orphan.yaml") + ": no code file",
	})
	broken := writeTree(t, map[string]string{"hosted/Broken.lua": "local S = {}\nfunction S:Start(\nreturn S\n"})
	runCLI(t, env, "", "deploy", broken, "--keep").check(t, 1, nil, []string{filepath.Join(broken, "hosted", "Broken.lua") + ":3: HOSTED Broken 0.1", "code"})
	rekind := writeTree(t, map[string]string{"hosted/Read.lua": blinkService})
	runCLI(t, env, "", "deploy", rekind, "--keep").check(t, 1, nil, []string{filepath.Join(rekind, "hosted", "Read.lua") + ": hosted service Read is python on the server, not lua"})
	runCLI(t, env, "", "hosted", "list").check(t, 0, []string{"Blink  lua     1.0     3"}, nil)
	if r := runCLI(t, env, "", "hosted", "list"); strings.Contains(r.stdout, "Broken") || strings.Contains(r.stdout, "Tool") {
		t.Errorf("a refused service was stored:\n%s", r.stdout)
	}
}
