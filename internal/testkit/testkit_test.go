package testkit

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProductDoesNotImport checks that no package the binaries are built
// from depends on the test tooling.
func TestProductDoesNotImport(t *testing.T) {
	root := filepath.Join("..", "..")
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go test puts its go command in PATH: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), gotool, "list", "-deps", "./cmd/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list named %d packages: not the module's", len(deps))
	}
	const kit = "github.com/thingpress/thingpress/internal/testkit"
	for _, d := range deps {
		if d == kit || strings.HasPrefix(d, kit+"/") {
			t.Errorf("a binary depends on test tooling %s", d)
		}
	}
}
