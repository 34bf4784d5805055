package format

import (
	"errors"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
)

// FuzzSniff feeds arbitrary heads to Sniff: it never panics, and either
// names a format or says ErrFormat.
func FuzzSniff(f *testing.F) {
	for _, s := range []string{
		`[{"payload":"x","protected":"y"}]`, "MAC,cn,cert\n", "LS0tLS1CRUdJTi", "<?xml?>",
		"7z\xbc\xaf\x27\x1c", `[{"a":[{"protected":1}`, "\xef\xbb\xbfMAC,cn,cert\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		ft, err := Sniff(head)
		switch {
		case err != nil && !errors.Is(err, manifest.ErrFormat):
			t.Fatalf("Sniff: %v, not ErrFormat", err)
		case err == nil && ft == "":
			t.Fatal("Sniff: no format and no error")
		}
	})
}
