package xmlmanifest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

var entryRE = regexp.MustCompile(`^Device\[(\d+)\] \(line \d+\)$`)

// FuzzReader feeds arbitrary bytes to the reader and checks that it never
// panics or loops, that every error is a *manifest.Error of a known kind
// naming the file, that records keep the limits, and that a document the
// reader accepts has as many Device elements as encoding/xml's
// Unmarshal finds.
func FuzzReader(f *testing.F) {
	c := testCerts(f)
	for _, seed := range []string{
		``,
		`<CertificateManifest/>`,
		`<?xml version="1.0" encoding="UTF-8"?>
<CertificateManifest vendor="Infineon" reelId="R1" batchId="B1">
  <CertificateChain slot="E0E0">` + c[2].lfPEM + `</CertificateChain>
  <Device chipId="0A091B5C001500070063">
    <Certificate slot="E0E0">` + c[0].crlfPEM + `</Certificate>
    <Certificate slot="E0E1">` + c[1].lfPEM + `</Certificate>
    <Certificate slot="E0E2" encoding="base64-der">` + c[2].b64 + `</Certificate>
  </Device>
  <Device chipId="2"><Certificate slot="E0E0" encoding="base64-der">` + wrap(c[1].b64, 64, "\r\n") + `</Certificate></Device>
</CertificateManifest>`,
		`<CertificateManifest><Device chipId="x"><Certificate slot="E0E0" encoding="base64-der">!!</Certificate></Device></CertificateManifest>`,
		`<CertificateManifest><Device><Certificate slot="E0E0">a<!--c--><![CDATA[b]]>c</Certificate><Certificate slot="E0E0">d</Certificate></Device></CertificateManifest>`,
		`<CertificateManifest xmlns="urn:a" xmlns:p="urn:p"><p:Device p:chipId="1"/><Device chipId="&amp;&#65;"><x><Certificate slot="E0E0">x</Certificate></x></Device></CertificateManifest>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><CertificateManifest/>`,
		"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"us-ascii\"?><CertificateManifest><Device/></CertificateManifest>",
		`<!DOCTYPE m [<!ENTITY a "b">]><CertificateManifest><Device chipId="&a;"/></CertificateManifest>`,
		`<CertificateManifest><Device chipId="1"><Certificate slot="E0E0">x</Device></CertificateManifest>`,
		`<Manifest/>`,
		`<CertificateManifest></CertificateManifest><CertificateManifest/>`,
		`<CertificateManifest><Device>` + strings.Repeat("<a>", 20),
		`<CertificateManifest>` + strings.Repeat(`<Device chipId="d"/>`, 60) + `</CertificateManifest>`,
		`<CertificateManifest><Device><Certificate slot="E0E0">` + strings.Repeat("A", 3000) + `</Certificate></Device></CertificateManifest>`,
	} {
		f.Add([]byte(seed), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, slotIndex uint8) {
		opts := manifest.Options{
			Slot: manifest.Slots[int(slotIndex)%len(manifest.Slots)],
			Limits: manifest.Limits{
				MaxEntryBytes: 2048,
				MaxTotalBytes: 1 << 20,
				MaxEntries:    50,
				MaxDepth:      8,
			},
		}
		r := NewReader(bytes.NewReader(data), "fuzz.xml", opts)
		defer r.Close()
		n := 0
		kinds := []error{manifest.ErrMalformed, manifest.ErrTooLarge, manifest.ErrFormat, manifest.ErrUnsupported}
		if !manifesttest.Drain(t, r.Next, "fuzz.xml", opts.Limits.MaxEntries, kinds, func(rec manifest.Record) {
			n++
			checkFuzzRecord(t, rec, n, opts)
		}) {
			return
		}
		// Accepted: encoding/xml must accept it too and find as many
		// Device children of the root.
		var doc struct {
			XMLName xml.Name
			Devices []struct {
				XMLName xml.Name
			} `xml:"Device"`
		}
		d := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte(utf8BOM))))
		d.CharsetReader = charsetReader
		if err := d.Decode(&doc); err != nil {
			t.Fatalf("reader accepted a document encoding/xml rejects: %v", err)
		}
		if len(doc.Devices) != n {
			t.Fatalf("reader found %d devices, encoding/xml %d", n, len(doc.Devices))
		}
	})
}

func checkFuzzRecord(t *testing.T, rec manifest.Record, n int, opts manifest.Options) {
	t.Helper()
	m := entryRE.FindStringSubmatch(rec.Entry)
	if m == nil || m[1] != fmt.Sprint(n) {
		t.Fatalf("record %d has Entry %q", n, rec.Entry)
	}
	if rec.Slot != opts.Slot || rec.Encoding != manifest.PEM {
		t.Fatalf("%s: slot %q encoding %v", rec.Entry, rec.Slot, rec.Encoding)
	}
	if int64(len(rec.Data)) > opts.Limits.MaxEntryBytes {
		t.Fatalf("%s: %d bytes of Data, over MaxEntryBytes", rec.Entry, len(rec.Data))
	}
	if rec.Problem != nil {
		if rec.Data != nil {
			t.Fatalf("%s: Problem %v and Data", rec.Entry, rec.Problem)
		}
		if !errors.Is(rec.Problem, manifest.ErrMalformed) && !errors.Is(rec.Problem, manifest.ErrTooLarge) {
			t.Fatalf("%s: Problem %q is of no known kind", rec.Entry, rec.Problem)
		}
	}
}
