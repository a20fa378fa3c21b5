package compass

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/switchboardhq/switchboard/internal/compass/generated"
)

// TestGeneratedSchemaFresh: the schema compiled into ./generated is schema.graphqls as it is;
// editing the schema without `go generate ./internal/compass/` fails here.
func TestGeneratedSchemaFresh(t *testing.T) {
	want, err := os.ReadFile("schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	got := schema.Types["Application"].Position.Src.Input
	if got != string(want) {
		t.Fatal("generated/exec.go holds another schema than schema.graphqls: run go generate ./internal/compass/")
	}
}

// TestGeneratedCodeFresh regenerates the code into a temporary copy and compares it with
// ./generated, so a hand edit or a generator change shows. It runs gqlgen (some seconds), so
// only when SWITCHBOARD_GQLGEN_CHECK=1 (CI sets it).
func TestGeneratedCodeFresh(t *testing.T) {
	if os.Getenv("SWITCHBOARD_GQLGEN_CHECK") != "1" {
		t.Skip("set SWITCHBOARD_GQLGEN_CHECK=1 to regenerate and compare")
	}
	// Inside the module, so the scalar package resolves as in the real generation; gqlgen puts
	// the directory's name in function names as it is, and ./... patterns skip a leading '_'.
	dir, err := os.MkdirTemp(".", "_gqlgencheck")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	schemas, _ := filepath.Glob("*.graphqls")
	for _, f := range append([]string{"gqlgen.yml"}, schemas...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "run", "github.com/99designs/gqlgen", "generate", "--config", "gqlgen.yml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gqlgen generate: %v\n%s", err, out)
	}
	for _, f := range []string{"exec.go", "models.go"} {
		want, _ := os.ReadFile(filepath.Join(dir, "generated", f))
		// gqlgen names functions after the package path, which holds the copy's directory.
		want = bytes.ReplaceAll(want, []byte("ᚋ"+filepath.Base(dir)+"ᚋ"), []byte("ᚋ"))
		got, _ := os.ReadFile(filepath.Join("generated", f))
		if !bytes.Equal(got, want) {
			t.Errorf("generated/%s differs from what gqlgen generates now: run go generate ./internal/compass/", f)
		}
	}
}
