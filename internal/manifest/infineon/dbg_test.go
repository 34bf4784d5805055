package infineon_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/bodgit/sevenzip"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

func TestDbg(t *testing.T) {
	s := bundle(3, "E0E0")
	s.Password = "SECRET"
	p := testbundle.Write(t, t.TempDir(), s)
	_ = p
	zr, err := sevenzip.OpenReader(p)
	if err != nil { t.Fatal(err) }
	for _, f := range zr.File {
		rc, err := f.Open()
		fmt.Println(f.Name, err)
		if err == nil {
			var b bytes.Buffer
			n, err := b.ReadFrom(rc)
			fmt.Println(n, err)
		}
	}
}
