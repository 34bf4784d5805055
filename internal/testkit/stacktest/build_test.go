package stacktest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goTool returns the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go test puts its go command in PATH: %v", err)
	}
	return p
}

// buildLambdas builds the functions in ./cmd/provider and ./cmd/importer
// as dir/<name>/bootstrap for Linux on goarch, as `make lambda` does but
// in one go build, and returns their paths by name.
func buildLambdas(t *testing.T, goarch, dir string) map[string]string {
	t.Helper()
	names := []string{"provider", "importer"}
	out := filepath.Join(dir, "build")
	cmd := exec.Command(goTool(t), "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out+string(filepath.Separator),
		"github.com/thingpress/thingpress/cmd/"+names[0], "github.com/thingpress/thingpress/cmd/"+names[1])
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the functions for linux/%s: %v\n%s", goarch, err, b)
	}
	paths := map[string]string{}
	for _, name := range names {
		paths[name] = filepath.Join(dir, name, "bootstrap")
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(out, name), paths[name]); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// TestLambdaBinariesBuildForArm64 builds both functions as template.yaml
// deploys them: provided.al2023 on arm64, without cgo.
func TestLambdaBinariesBuildForArm64(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the functions")
	}
	for name, path := range buildLambdas(t, "arm64", t.TempDir()) {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			head := make([]byte, 20)
			if _, err := f.Read(head); err != nil {
				t.Fatal(err)
			}
			// An ELF executable for EM_AARCH64 (183).
			if string(head[:4]) != "\x7fELF" || head[18] != 183 {
				t.Fatalf("%s is not a linux/arm64 executable: % x", path, head)
			}
		})
	}
}

// TestDependencyBoundaries keeps the Lambda functions free of the CLI's
// libraries and the CLI free of the Lambda runtime.
func TestDependencyBoundaries(t *testing.T) {
	tests := []struct {
		name      string
		pkgs      []string
		forbidden []string
	}{
		{name: "functions", pkgs: []string{"./cmd/provider", "./cmd/importer"}, forbidden: []string{"github.com/spf13/cobra", "github.com/spf13/pflag", "golang.org/x/term"}},
		{name: "CLI", pkgs: []string{"./cmd/thingpress"}, forbidden: []string{"github.com/aws/aws-lambda-go"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(goTool(t), append([]string{"list", "-deps"}, tc.pkgs...)...)
			cmd.Dir = filepath.Join("..", "..", "..")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, f := range tc.forbidden {
					if dep == f || strings.HasPrefix(dep, f+"/") {
						t.Errorf("%v depends on %s", tc.pkgs, dep)
					}
				}
			}
		})
	}
}
