package pipeline_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOnlyTheCLIRunsManifests checks the split of the stages: the CLI and
// the importer function make devices with package importer (the provider
// uses its Device type for the queue), and only the CLI runs a whole
// manifest through them.
func TestOnlyTheCLIRunsManifests(t *testing.T) {
	const (
		pipeline = "github.com/thingpress/thingpress/internal/pipeline"
		importer = "github.com/thingpress/thingpress/internal/importer"
	)
	tests := []struct {
		name         string
		pkg          string
		wantPipeline bool
		wantImporter bool
	}{
		{name: "CLI", pkg: "./cmd/thingpress", wantPipeline: true, wantImporter: true},
		{name: "importer function", pkg: "./cmd/importer", wantImporter: true},
		{name: "provider function", pkg: "./cmd/provider", wantImporter: true},
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go test puts its go command in PATH: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), gotool, "list", "-deps", tt.pkg)
			cmd.Dir = filepath.Join("..", "..")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list %s: %v", tt.pkg, err)
			}
			deps := strings.Fields(string(out))
			if got := slices.Contains(deps, pipeline); got != tt.wantPipeline {
				t.Errorf("%s depends on %s: %v, want %v", tt.pkg, pipeline, got, tt.wantPipeline)
			}
			if got := slices.Contains(deps, importer); got != tt.wantImporter {
				t.Errorf("%s depends on %s: %v, want %v", tt.pkg, importer, got, tt.wantImporter)
			}
		})
	}
}
