package xmlmanifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// reasonDoc is the manifest that the testdata/reasons files hold in other
// encodings.
const reasonDoc = `<CertificateManifest reelId="0123456789ABCDEF">
  <Device chipId="0A091B5C000000000000"><Certificate slot="E0E0">-----BEGIN CERTIFICATE-----
-----END CERTIFICATE-----</Certificate></Device>
</CertificateManifest>
`

// encodeUTF16 returns s in UTF-16, big-endian if be, after bom.
func encodeUTF16(s string, be bool, bom bool) []byte {
	var b []byte
	order := binary.AppendByteOrder(binary.LittleEndian)
	if be {
		order = binary.BigEndian
	}
	if bom {
		b = order.AppendUint16(b, 0xFEFF)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return b
}

// reasonCases are the manifests of testdata/reasons, each with what the
// reader says of it; cmd/thingpress checks that inspect prints the same.
var reasonCases = []struct {
	file   string
	data   func() []byte
	reason string // the whole error, after "testdata/reasons/FILE: "
}{
	{
		file: "utf16le-bom.xml",
		data: func() []byte {
			return encodeUTF16(`<?xml version="1.0" encoding="UTF-16"?>`+"\n"+reasonDoc, false, true)
		},
		reason: "text encoding UTF-16LE (byte order mark FF FE): not supported: only UTF-8 manifests are read (convert it first, e.g. with iconv -t UTF-8)",
	},
	{
		file:   "utf16be-bom.xml",
		data:   func() []byte { return encodeUTF16(reasonDoc, true, true) },
		reason: "text encoding UTF-16BE (byte order mark FE FF): not supported: only UTF-8 manifests are read (convert it first, e.g. with iconv -t UTF-8)",
	},
	{
		file: "utf16le-declared.xml",
		data: func() []byte {
			return encodeUTF16(`<?xml version="1.0" encoding="UTF-16"?>`+"\n"+reasonDoc, false, false)
		},
		reason: "text encoding UTF-16LE (no byte order mark): not supported: only UTF-8 manifests are read (convert it first, e.g. with iconv -t UTF-8)",
	},
	{
		// What a tool that writes the declaration but not the encoding
		// makes: the reader goes by the declaration.
		file:   "utf8-declared-utf16.xml",
		data:   func() []byte { return []byte(`<?xml version="1.0" encoding="UTF-16"?>` + "\n" + reasonDoc) },
		reason: `encoding "UTF-16" declared: not supported: only UTF-8 manifests are read`,
	},
}

func TestReasons(t *testing.T) {
	for _, tc := range reasonCases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "reasons", tc.file)
			if manifesttest.Update() {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, tc.data(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, tc.data()) {
				t.Fatalf("%s is not what its case makes (go test -update rewrites it): %v", path, err)
			}
			r, err := Open(path, manifest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			_, err = r.Next()
			if !errors.Is(err, manifest.ErrUnsupported) || errors.Is(err, io.EOF) {
				t.Fatalf("Next = %v, want %v", err, manifest.ErrUnsupported)
			}
			if got, want := err.Error(), path+": "+tc.reason; got != want {
				t.Errorf("error\n %s\nwant\n %s", got, want)
			}
		})
	}
}
