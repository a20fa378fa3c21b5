package asyncapi

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// peerResult is what testdata/parser-peer/peer.js prints for a document.
type peerResult struct {
	File   string `json:"file"`
	Valid  bool   `json:"valid"`
	Errors []struct {
		Code, Path, Message string
	} `json:"errors"`
	Channels []string `json:"channels"`
}

// runPeer runs the official parser (@asyncapi/parser, see testdata/parser-peer) on files.
func runPeer(t *testing.T, files []string) map[string]peerResult {
	t.Helper()
	dir := os.Getenv("SWITCHBOARD_TEST_ASYNCAPI_PARSER")
	if dir == "" {
		t.Skip("SWITCHBOARD_TEST_ASYNCAPI_PARSER is not set: to compare with @asyncapi/parser, run npm ci in internal/asyncapi/testdata/parser-peer and set it to that directory")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("SWITCHBOARD_TEST_ASYNCAPI_PARSER is set but node is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(dir, "peer.js")}, files...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("parser peer: %v\n%s", err, stderr.Bytes())
	}
	var results []peerResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("parser peer output: %v\n%s", err, out)
	}
	byFile := make(map[string]peerResult, len(results))
	for _, r := range results {
		byFile[r.File] = r
	}
	return byFile
}

// TestAgreementWithParser: every document of testdata/corpus is valid for Parse exactly when
// it is for @asyncapi/parser, with the same channels. The parser's rules that Parse does
// not check are the known differences below, each shown by a document of
// testdata/differences; the corpus holds none of them.
func TestAgreementWithParser(t *testing.T) {
	files, _ := filepath.Glob("testdata/corpus/*/*")
	diffs, _ := filepath.Glob("testdata/differences/*")
	peer := runPeer(t, append(slices.Clone(files), diffs...))
	// both is what the parser and Parse say of a document.
	both := func(t *testing.T, f string) (peerResult, *Spec, error) {
		t.Helper()
		want, ok := peer[f]
		if !ok {
			t.Fatal("no result from the parser")
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := Parse(data)
		return want, spec, err
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			want, spec, err := both(t, f)
			if (err == nil) != want.Valid {
				t.Fatalf("Parse: %v; @asyncapi/parser valid: %v, errors %+v", err, want.Valid, want.Errors)
			}
			if err != nil {
				return
			}
			var got []string
			for _, ch := range spec.Channels {
				got = append(got, ch.Name)
			}
			if !slices.Equal(got, want.Channels) {
				t.Errorf("channels %q, @asyncapi/parser %q", got, want.Channels)
			}
		})
	}
	for _, d := range knownDifferences {
		t.Run("difference "+d.file, func(t *testing.T) {
			want, _, err := both(t, filepath.Join("testdata/differences", d.file))
			if want.Valid != d.parserValid || (err == nil) != d.ours {
				t.Errorf("the difference changed: Parse %v, @asyncapi/parser valid %v %+v; documented: %s", err, want.Valid, want.Errors, d.why)
			}
		})
	}
	if len(diffs) != len(knownDifferences) {
		t.Errorf("%d documents in testdata/differences, %d known differences", len(diffs), len(knownDifferences))
	}
}

// knownDifferences between Parse and @asyncapi/parser 3.6.6, and why Parse differs.
// Beyond these, one more is not run: the parser does not return on a cycle of message
// references (testdata/hostile/ref-cycle.yml), which Parse refuses.
var knownDifferences = []struct {
	file        string
	parserValid bool // what @asyncapi/parser says
	ours        bool // what Parse says
	why         string
}{
	{"asyncapi-3.yml", true, false, "AsyncAPI 3 documents are out of scope: only 2.0.0 to 2.6.0"},
	{"merge-key.yml", true, false, "YAML merge keys (<<) are refused: they are not YAML 1.2 and would have to be bounded like aliases"},
	{"duplicate-tags.yml", false, true, "rule asyncapi2-tags-uniqueness is not checked: tags do not change what Switchboard takes from a document"},
	{"undefined-security-scheme.yml", false, true, "rule asyncapi2-server-security (and -operation-security, -server-variables, -channel-servers) is not checked: servers and security are not used by Switchboard"},
	{"ecmascript-pattern.yml", true, false, "a pattern Go's RE2 cannot run (lookaround, backreferences) is refused: events could not be checked against it, and RE2 keeps checking linear"},
	{"message-example-mismatch.yml", false, true, "rules asyncapi2-message-examples, -schema-default and -schema-examples are not checked: examples are documentation, events are checked against the payload schema when sent"},
}
