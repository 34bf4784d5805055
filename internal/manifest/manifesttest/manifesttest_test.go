package manifesttest

import (
	"errors"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOnlyTestsImport checks that no product file of the module imports
// this package.
func TestOnlyTestsImport(t *testing.T) {
	const self = "github.com/thingpress/thingpress/internal/manifest/manifesttest"
	root := moduleRoot(t)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == "testdata" || d.Name() == "vendor" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				t.Errorf("%s imports %s: only tests may", path, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked %d files: not the module", checked)
	}
}

func TestHostileAndCollect(t *testing.T) {
	in := Hostile("ab", 'x', 5, "cd")
	b, err := io.ReadAll(in)
	if err != nil || string(b) != "abxxxxxcd" || in.N != 9 {
		t.Fatalf("read %q (%d counted), %v", b, in.N, err)
	}
	fail := errors.New("stop")
	items := []int{1, 2, 3}
	next := func() (int, error) {
		if len(items) == 0 {
			return 0, fail
		}
		v := items[0]
		items = items[1:]
		return v, nil
	}
	got, err := Collect(next)
	if !errors.Is(err, fail) || len(got) != 3 || got[2] != 3 {
		t.Fatalf("Collect: %v, %v", got, err)
	}
	if Outcome(nil) != "ok" || Outcome(fail) != "stop" {
		t.Errorf("Outcome %q, %q", Outcome(nil), Outcome(fail))
	}
}
