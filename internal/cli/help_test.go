package cli

import (
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/script"
)

// The files shown in deploy's help are what users copy: they must parse as a deploy folder
// and every script in them must compile.
func TestDeployHelpFilesDeploy(t *testing.T) {
	files := map[string][]string{}
	var cur string
	for _, l := range strings.Split(deployExample, "\n") {
		if f, ok := strings.CutPrefix(l, "  # A file "); ok {
			cur = strings.Fields(f)[0]
			continue
		}
		if rest, ok := strings.CutPrefix(l, "  #   "); ok && cur != "" {
			files[cur] = append(files[cur], rest)
		} else if l == "  #" && cur != "" {
			files[cur] = append(files[cur], "")
		}
	}
	if len(files) != 2 {
		t.Fatalf("found files %v in deploy's help; want ./api/users.lua and ./api/events.lua", files)
	}
	for name, lines := range files {
		items, err := parseFile(name, []byte(strings.Join(lines, "\n")+"\n"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(items) == 0 {
			t.Errorf("%s: no endpoint or handler in\n%s", name, strings.Join(lines, "\n"))
		}
		for _, it := range items {
			if _, err := script.Compile(it.label(), it.Script); err != nil {
				t.Errorf("%s: %s does not compile: %v", name, it.label(), err)
			}
			if strings.Contains(it.Script, "request.params.") {
				t.Errorf("%s: %s reads request.params, which scripts do not have (request.parameters)", name, it.label())
			}
		}
	}
}
