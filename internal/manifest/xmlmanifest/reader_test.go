package xmlmanifest

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
)

// testCerts are three device certificates: PEM as the manifest would hold
// it (CRLF, as Infineon writes), and what Data must hold for each form.
type testCert struct {
	crlfPEM string // generate.PEM: CRLF line ends
	lfPEM   string // the same with LF line ends and no final newline, as
	// encoding/xml hands back the text (it normalizes line ends) trimmed
	b64    string // base64 of the DER, one line
	b64PEM string // Data for a base64-der element: pem.EncodeToMemory
}

var (
	certsOnce sync.Once
	certs     []testCert
	certsErr  error
)

func testCerts(t testing.TB) []testCert {
	t.Helper()
	certsOnce.Do(func() {
		ca, err := generate.NewRoot("xmlmanifest test root")
		if err != nil {
			certsErr = err
			return
		}
		for i := range 3 {
			leaf, err := ca.Issue(generate.LeafOptions{Seed: fmt.Sprint("xmlmanifest ", i)})
			if err != nil {
				certsErr = err
				return
			}
			p := string(generate.PEM(leaf.Cert))
			certs = append(certs, testCert{
				crlfPEM: p,
				lfPEM:   strings.TrimSpace(strings.ReplaceAll(p, "\r\n", "\n")),
				b64:     base64.StdEncoding.EncodeToString(leaf.Cert.Raw),
				b64PEM:  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Cert.Raw})),
			})
		}
	})
	if certsErr != nil {
		t.Fatalf("make test certificates: %v", certsErr)
	}
	return certs
}

// readAll reads every record of doc until io.EOF or another error, which
// it returns.
func readAll(t testing.TB, doc io.Reader, opts manifest.Options) ([]manifest.Record, error) {
	t.Helper()
	r := NewReader(doc, "test.xml", opts)
	defer r.Close()
	var recs []manifest.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
		if len(recs) > 1_000_000 {
			t.Fatal("reader does not end")
		}
	}
}

// sameRecords compares records field by field; a Problem is compared by
// the sentinel it must wrap (wantProblem[i]) and the text it must hold.
func sameRecords(t *testing.T, got, want []manifest.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d records, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.Entry != w.Entry || g.ChipID != w.ChipID || g.Slot != w.Slot || g.ReelID != w.ReelID ||
			g.BatchID != w.BatchID || g.Encoding != w.Encoding {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, brief(g), brief(w))
		}
		if !bytes.Equal(g.Data, w.Data) {
			t.Errorf("record %d (%s): Data\n got %q\nwant %q", i, g.Entry, g.Data, w.Data)
		}
		switch {
		case w.Problem == nil && g.Problem != nil:
			t.Errorf("record %d (%s): unexpected Problem %v", i, g.Entry, g.Problem)
		case w.Problem != nil && g.Problem == nil:
			t.Errorf("record %d (%s): no Problem, want %v", i, g.Entry, w.Problem)
		case w.Problem != nil:
			var p *problem
			if !errors.As(w.Problem, &p) {
				t.Fatalf("test bug: want Problem must be made with newProblem")
			}
			if !errors.Is(g.Problem, p.kind) || !strings.Contains(g.Problem.Error(), p.msg) {
				t.Errorf("record %d (%s): Problem %q, want one wrapping %v and containing %q", i, g.Entry, g.Problem, p.kind, p.msg)
			}
		}
	}
}

func brief(r manifest.Record) manifest.Record {
	r.Data = nil
	return r
}

// rec builds an expected record of slot E0E0 with IDs R1/B1.
func rec(n, line int, chip, data string) manifest.Record {
	r := manifest.Record{
		Entry:   fmt.Sprintf("Device[%d] (line %d)", n, line),
		ChipID:  chip,
		Slot:    "E0E0",
		ReelID:  "R1",
		BatchID: "B1",
	}
	if data != "" {
		r.Data = []byte(data)
	}
	return r
}

// lineOf returns the line of doc that the first s is on.
func lineOf(doc, s string) int {
	i := strings.Index(doc, s)
	if i < 0 {
		panic("test bug: " + s + " not in the document")
	}
	return 1 + strings.Count(doc[:i], "\n")
}

func withSlot(r manifest.Record, slot string) manifest.Record {
	r.Slot = slot
	return r
}

func withProblem(r manifest.Record, kind error, msg string) manifest.Record {
	r.Problem = &problem{kind: kind, msg: msg}
	return r
}

func TestNext(t *testing.T) {
	c := testCerts(t)
	const head = `<?xml version="1.0" encoding="UTF-8"?>
<CertificateManifest vendor="Infineon" reelId="R1" batchId="B1">
`
	tests := []struct {
		name string
		doc  string
		opts manifest.Options
		want func(doc string) []manifest.Record // nil: none
	}{
		{
			name: "PEM",
			doc: head + `  <Device chipId="C1">
    <Certificate slot="E0E0">` + c[0].crlfPEM + `</Certificate>
  </Device>
</CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", c[0].lfPEM)}
			},
		},
		{
			name: "base64-der",
			doc: head + `<Device chipId="C1"><Certificate slot="E0E0" encoding="base64-der">` + c[1].b64 + `</Certificate></Device>
</CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", c[1].b64PEM)}
			},
		},
		{
			name: "devices in order",
			doc: head + `<Device chipId="C1"><Certificate slot="E0E0">` + c[0].lfPEM + `</Certificate></Device>
<Device chipId="C2"><Certificate slot="E0E0" encoding="base64-der">` + c[1].b64 + `</Certificate></Device>
<Device chipId="C3"><Certificate slot="E0E0">` + c[2].lfPEM + `</Certificate></Device>
</CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{
					rec(1, lineOf(doc, `chipId="C1"`), "C1", c[0].lfPEM),
					rec(2, lineOf(doc, `chipId="C2"`), "C2", c[1].b64PEM),
					rec(3, lineOf(doc, `chipId="C3"`), "C3", c[2].lfPEM),
				}
			},
		},
		{
			name: "multiple slots, default E0E0",
			doc: head + `<Device chipId="C1">
<Certificate slot="E0E1">` + c[1].lfPEM + `</Certificate>
<Certificate slot="E0E0">` + c[0].lfPEM + `</Certificate>
<Certificate slot="E0E2" encoding="base64-der">` + c[2].b64 + `</Certificate>
</Device></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", c[0].lfPEM)}
			},
		},
		{
			name: "multiple slots, E0E1 chosen",
			opts: manifest.Options{Slot: "E0E1"},
			doc: head + `<Device chipId="C1">
<Certificate slot="E0E0">` + c[0].lfPEM + `</Certificate>
<Certificate slot="E0E1">` + c[1].lfPEM + `</Certificate>
<Certificate slot="E0E2" encoding="base64-der">` + c[2].b64 + `</Certificate>
</Device></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{withSlot(rec(1, lineOf(doc, `chipId="C1"`), "C1", c[1].lfPEM), "E0E1")}
			},
		},
		{
			name: "multiple slots, E0E2 chosen",
			opts: manifest.Options{Slot: "E0E2"},
			doc: head + `<Device chipId="C1">
<Certificate slot="E0E0">` + c[0].lfPEM + `</Certificate>
<Certificate slot="E0E2" encoding="base64-der">` + c[2].b64 + `</Certificate>
</Device></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{withSlot(rec(1, lineOf(doc, `chipId="C1"`), "C1", c[2].b64PEM), "E0E2")}
			},
		},
		{
			name: "slot attribute in lower case",
			doc:  head + `<Device chipId="C1"><Certificate slot=" e0e0 ">` + c[0].lfPEM + `</Certificate></Device></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", c[0].lfPEM)}
			},
		},
		{
			name: "missing slot gives empty Data",
			doc: head + `<Device chipId="C1"><Certificate slot="E0E1">` + c[1].lfPEM + `</Certificate></Device>
<Device chipId="C2"></Device>
<Device chipId="C3"/>
<Device chipId="C4"><Certificate slot="E0E0"></Certificate><Certificate slot="E0E0" encoding="base64-der">  </Certificate></Device>
</CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", ""), rec(2, lineOf(doc, `chipId="C2"`), "C2", ""), rec(3, lineOf(doc, `chipId="C3"`), "C3", ""), rec(4, lineOf(doc, `chipId="C4"`), "C4", "")}
			},
		},
		{
			name: "duplicate slot in one device is concatenated",
			doc: head + `<Device chipId="C1">
<Certificate slot="E0E0">` + c[0].lfPEM + `</Certificate>
<Certificate slot="E0E0">` + c[1].lfPEM + `</Certificate>
<Certificate slot="E0E0" encoding="base64-der">` + c[2].b64 + `</Certificate>
<Certificate slot="E0E0">` + c[0].lfPEM + `</Certificate>
</Device></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", c[0].lfPEM+"\n"+c[1].lfPEM+"\n"+c[2].b64PEM+c[0].lfPEM)}
			},
		},
		{
			name: "white space around and inside",
			doc: head + `<Device chipId="  C1 ">
<Certificate slot="E0E0">

	  ` + c[0].lfPEM + `
	  
</Certificate></Device>
<Device chipId="C2"><Certificate slot="E0E0" encoding="base64-der">
  ` + wrap(c[1].b64, 50, "\n\t  ") + ` 
</Certificate></Device>
<Device chipId="C3"><Certificate slot="E0E0" encoding="base64-der">` + wrap(c[2].b64, 7, " ") + `</Certificate></Device>
</CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="  C1`), "C1", c[0].lfPEM), rec(2, lineOf(doc, `chipId="C2"`), "C2", c[1].b64PEM), rec(3, lineOf(doc, `chipId="C3"`), "C3", c[2].b64PEM)}
			},
		},
		{
			name: "unknown elements and attributes are ignored",
			doc: `<?xml version="1.0"?>
<!-- a comment -->
<?some-processing instruction?>
<CertificateManifest xmlns="urn:example:manifest" xmlns:x="urn:x" vendor="Infineon" reelId="R1" batchId="B1" extra="1" x:reelId="no">
  <Header><Created>2024-01-01</Created><Device chipId="NOT-A-DEVICE"/></Header>
  <CertificateChain slot="E0E0">` + c[2].lfPEM + `</CertificateChain>
  <Device chipId="C1" x:chipId="no" colour="blue">
    <Note>hello <b>world</b></Note>
    <Certificate slot="E0E0" x:slot="E0E1" issued="today"><!-- c -->` + c[0].lfPEM + `<Extra>` + c[1].lfPEM + `</Extra></Certificate>
    <Wrapper><Certificate slot="E0E0">` + c[1].lfPEM + `</Certificate></Wrapper>
    <x:Other/>
  </Device>
  <Trailer/>
</CertificateManifest>
<!-- done -->
`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", c[0].lfPEM)}
			},
		},
		{
			name: "text split by comments and CDATA is joined",
			doc:  head + `<Device chipId="C1"><Certificate slot="E0E0">` + c[0].lfPEM[:20] + `<!-- x --><![CDATA[` + c[0].lfPEM[20:40] + `]]>` + c[0].lfPEM[40:] + `</Certificate></Device></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", c[0].lfPEM)}
			},
		},
		{
			name: "CRLF line ends",
			doc: strings.ReplaceAll(head+`<Device chipId="C1">
<Certificate slot="E0E0">
`+c[0].lfPEM+`
</Certificate>
<Certificate slot="E0E1" encoding="base64-der">
`+wrap(c[1].b64, 64, "\n")+`
</Certificate>
</Device>
<Device chipId="C2">
<Certificate slot="E0E0" encoding="base64-der">
`+wrap(c[2].b64, 64, "\n")+`
</Certificate>
</Device>
</CertificateManifest>
`, "\n", "\r\n"),
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", c[0].lfPEM), rec(2, lineOf(doc, `chipId="C2"`), "C2", c[2].b64PEM)}
			},
		},
		{
			name: "bad base64 is the device's problem, reading goes on",
			doc: head + `<Device chipId="C1"><Certificate slot="E0E0" encoding="base64-der">MIIC!!notbase64</Certificate></Device>
<Device chipId="C2"><Certificate slot="E0E0" encoding="base64-der">` + c[1].b64[:len(c[1].b64)-3] + `</Certificate></Device>
<Device chipId="C3"><Certificate slot="E0E0">` + c[2].lfPEM + `</Certificate></Device>
</CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{
					withProblem(rec(1, lineOf(doc, `chipId="C1"`), "C1", ""), manifest.ErrMalformed, "certificate slot E0E0: bad base64: illegal base64 data at input byte 4"),
					withProblem(rec(2, lineOf(doc, `chipId="C2"`), "C2", ""), manifest.ErrMalformed, "certificate slot E0E0: bad base64: "),
					rec(3, lineOf(doc, `chipId="C3"`), "C3", c[2].lfPEM),
				}
			},
		},
		{
			name: "bad base64 in another slot does not matter",
			doc:  head + `<Device chipId="C1"><Certificate slot="E0E1" encoding="base64-der">!!!</Certificate><Certificate slot="E0E0">` + c[0].lfPEM + `</Certificate></Device></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", c[0].lfPEM)}
			},
		},
		{
			name: "unknown encoding",
			doc:  head + `<Device chipId="C1"><Certificate slot="E0E0" encoding="hex">3082</Certificate></Device></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{withProblem(rec(1, lineOf(doc, `chipId="C1"`), "C1", ""), manifest.ErrMalformed, `certificate slot E0E0: unknown encoding "hex"`)}
			},
		},
		{
			name: "certificate text over MaxEntryBytes is the device's problem",
			opts: manifest.Options{Limits: manifest.Limits{MaxEntryBytes: 1000}},
			doc: head + `<Device chipId="C1"><Certificate slot="E0E0">` + strings.Repeat("A", 1001) + `</Certificate></Device>
<Device chipId="C2"><Certificate slot="E0E0">` + strings.Repeat("<![CDATA[AAAAAAAAAA]]>", 101) + `</Certificate></Device>
<Device chipId="C3"><Certificate slot="E0E0">` + c[0].lfPEM + `</Certificate><Certificate slot="E0E0">` + c[1].lfPEM + `</Certificate></Device>
<Device chipId="C4"><Certificate slot="E0E1">` + strings.Repeat("A", 100_000) + `</Certificate><Certificate slot="E0E0">` + c[2].lfPEM + `</Certificate></Device>
</CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{
					withProblem(rec(1, lineOf(doc, `chipId="C1"`), "C1", ""), manifest.ErrTooLarge, "certificate slot E0E0: text over 1000 bytes"),
					withProblem(rec(2, lineOf(doc, `chipId="C2"`), "C2", ""), manifest.ErrTooLarge, "certificate slot E0E0: text over 1000 bytes"),
					withProblem(rec(3, lineOf(doc, `chipId="C3"`), "C3", ""), manifest.ErrTooLarge, "certificate slot E0E0: certificates over 1000 bytes"),
					rec(4, lineOf(doc, `chipId="C4"`), "C4", c[2].lfPEM),
				}
			},
		},
		{
			name: "no devices",
			doc:  head + `</CertificateManifest>`,
		},
		{
			name: "empty root",
			doc:  `<CertificateManifest/>`,
		},
		{
			name: "device without chipId",
			doc:  head + `<Device><Certificate slot="E0E0">` + c[0].lfPEM + `</Certificate></Device></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `<Device>`), "", c[0].lfPEM)}
			},
		},
		{
			name: "US-ASCII declaration and byte order mark",
			doc:  "\xef\xbb\xbf" + strings.Replace(head, "UTF-8", "US-ASCII", 1) + `<Device chipId="C1"/></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C1"`), "C1", "")}
			},
		},
		{
			name: "character references and predefined entities",
			doc:  head + `<Device chipId="C&amp;1&#x41;"/></CertificateManifest>`,
			want: func(doc string) []manifest.Record {
				return []manifest.Record{rec(1, lineOf(doc, `chipId="C&amp;1`), "C&1A", "")}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, strings.NewReader(tt.doc), tt.opts)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			var want []manifest.Record
			if tt.want != nil {
				want = tt.want(tt.doc)
			}
			sameRecords(t, got, want)
		})
	}
}

// wrap inserts sep after every n characters of s.
func wrap(s string, n int, sep string) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n])
		b.WriteString(sep)
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

func TestFatal(t *testing.T) {
	c := testCerts(t)
	const head = "<CertificateManifest reelId=\"R1\" batchId=\"B1\">\n"
	dev := `<Device chipId="C1"><Certificate slot="E0E0">` + c[0].lfPEM + "</Certificate></Device>\n"
	// deviceLine(n) is the line of the n-th dev after head.
	deviceLine := func(n int) int { return 2 + (n-1)*strings.Count(dev, "\n") }
	tests := []struct {
		name      string
		doc       string
		opts      manifest.Options
		records   int      // read before the error
		wantErr   error    // the sentinel the error wraps
		wantEntry string   // the *manifest.Error's Entry
		wantMsg   []string // in the message
	}{
		{
			name:      "unclosed Device",
			doc:       head + dev + `<Device chipId="C2"><Certificate slot="E0E0">` + c[1].lfPEM + "</Certificate>\n",
			records:   1,
			wantErr:   manifest.ErrMalformed,
			wantEntry: fmt.Sprintf("Device[2] (line %d)", deviceLine(2)),
			wantMsg:   []string{fmt.Sprintf("XML syntax error on line %d: unexpected EOF", deviceLine(3))},
		},
		{
			name:      "unclosed root",
			doc:       head + dev,
			records:   1,
			wantErr:   manifest.ErrMalformed,
			wantEntry: "after Device[1]",
			wantMsg:   []string{"unexpected EOF"},
		},
		{
			name:      "truncated in a tag",
			doc:       head + dev + `<Device chipId="C2"><Certif`,
			records:   1,
			wantErr:   manifest.ErrMalformed,
			wantEntry: fmt.Sprintf("Device[2] (line %d)", deviceLine(2)),
			wantMsg:   []string{"unexpected EOF"},
		},
		{
			name:      "truncated in an attribute",
			doc:       head + `<Device chipId="C`,
			wantErr:   manifest.ErrMalformed,
			wantEntry: "",
			wantMsg:   []string{"unexpected EOF"},
		},
		{
			name:      "mismatched end tag",
			doc:       head + dev + `<Device chipId="C2"><Certificate slot="E0E0">x</Device></CertificateManifest>`,
			records:   1,
			wantErr:   manifest.ErrMalformed,
			wantEntry: fmt.Sprintf("Device[2] (line %d)", deviceLine(2)),
			wantMsg:   []string{"element <Certificate> closed by </Device>"},
		},
		{
			name:    "garbage",
			doc:     "this is not XML at all\n",
			wantErr: manifest.ErrMalformed,
			wantMsg: []string{"line 2: text outside the root element"},
		},
		{
			name:    "binary garbage",
			doc:     "\x00\x9f\xff\xfe<<<>>>",
			wantErr: manifest.ErrMalformed,
			wantMsg: []string{"XML syntax error on line 1"},
		},
		{
			name:      "garbage inside a device",
			doc:       head + `<Device chipId="C1"><Certificate slot="E0E0">a < b</Certificate></Device></CertificateManifest>`,
			wantErr:   manifest.ErrMalformed,
			wantEntry: "Device[1] (line 2)",
			wantMsg:   []string{"XML syntax error on line 2"},
		},
		{
			name:    "empty input",
			doc:     "",
			wantErr: manifest.ErrMalformed,
			wantMsg: []string{"no root element"},
		},
		{
			name:    "only a declaration",
			doc:     `<?xml version="1.0"?>`,
			wantErr: manifest.ErrMalformed,
			wantMsg: []string{"no root element"},
		},
		{
			name:    "wrong root element",
			doc:     `<?xml version="1.0"?>` + "\n<Manifest><Device chipId=\"C1\"/></Manifest>",
			wantErr: manifest.ErrFormat,
			wantMsg: []string{"line 2: root element is <Manifest>, want <CertificateManifest>"},
		},
		{
			name:      "second root element",
			doc:       head + dev + "</CertificateManifest>\n" + head + dev + "</CertificateManifest>",
			records:   1,
			wantErr:   manifest.ErrMalformed,
			wantEntry: "after Device[1]",
			wantMsg:   []string{"element <CertificateManifest> after the root element"},
		},
		{
			name:      "text after the root element",
			doc:       head + dev + "</CertificateManifest>\ntrailing garbage",
			records:   1,
			wantErr:   manifest.ErrMalformed,
			wantEntry: "after Device[1]",
			wantMsg:   []string{"text outside the root element"},
		},
		{
			name:      "too deep nesting",
			opts:      manifest.Options{Limits: manifest.Limits{MaxDepth: 8}},
			doc:       head + `<Device chipId="C1">` + strings.Repeat("<a>", 6) + strings.Repeat("</a>", 6) + "</Device>" + strings.Repeat("<a>", 1000),
			records:   1,
			wantErr:   manifest.ErrTooLarge,
			wantEntry: "after Device[1]",
			wantMsg:   []string{"elements nested deeper than 8"},
		},
		{
			name:      "too deep nesting inside a device",
			doc:       head + `<Device chipId="C1">` + strings.Repeat("<a>", 100_000),
			wantErr:   manifest.ErrTooLarge,
			wantEntry: "Device[1] (line 2)",
			wantMsg:   []string{"elements nested deeper than 32"},
		},
		{
			name:    "ISO-8859-1 declared",
			doc:     `<?xml version="1.0" encoding="ISO-8859-1"?><CertificateManifest/>`,
			wantErr: manifest.ErrUnsupported,
			wantMsg: []string{`encoding "ISO-8859-1" declared: not supported: only UTF-8 manifests are read`},
		},
		{
			name:    "UTF-16 declared",
			doc:     `<?xml version="1.0" encoding="UTF-16"?><CertificateManifest/>`,
			wantErr: manifest.ErrUnsupported,
			wantMsg: []string{`encoding "UTF-16" declared: not supported`},
		},
		{
			name:    "UTF-16LE with a byte order mark",
			doc:     "\xff\xfe<\x00?\x00x\x00",
			wantErr: manifest.ErrUnsupported,
			wantMsg: []string{`text encoding UTF-16LE (byte order mark FF FE): not supported`},
		},
		{
			name:    "UTF-16BE without a byte order mark",
			doc:     "\x00<\x00?\x00x",
			wantErr: manifest.ErrUnsupported,
			wantMsg: []string{`text encoding UTF-16BE (no byte order mark): not supported`},
		},
		{
			name:    "UTF-32LE with a byte order mark",
			doc:     "\xff\xfe\x00\x00<\x00\x00\x00",
			wantErr: manifest.ErrUnsupported,
			wantMsg: []string{`text encoding UTF-32LE (byte order mark FF FE 00 00): not supported`},
		},
		{
			name:    "unsupported XML version",
			doc:     `<?xml version="1.1"?><CertificateManifest/>`,
			wantErr: manifest.ErrMalformed,
			wantMsg: []string{`unsupported version "1.1"`},
		},
		{
			name: "entity expansion is refused",
			doc: `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<CertificateManifest><Device chipId="&lol3;"/></CertificateManifest>`,
			wantErr: manifest.ErrMalformed,
			wantMsg: []string{"invalid character entity &lol3;"},
		},
		{
			name: "external entity is refused",
			doc: `<?xml version="1.0"?>
<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CertificateManifest><Device chipId="C1"><Certificate slot="E0E0">&xxe;</Certificate></Device></CertificateManifest>`,
			wantErr:   manifest.ErrMalformed,
			wantEntry: "Device[1] (line 3)",
			wantMsg:   []string{"invalid character entity &xxe;"},
		},
		{
			name:      "more devices than MaxEntries",
			opts:      manifest.Options{Limits: manifest.Limits{MaxEntries: 2}},
			doc:       head + dev + dev + dev + "</CertificateManifest>",
			records:   2,
			wantErr:   manifest.ErrTooLarge,
			wantEntry: fmt.Sprintf("Device[3] (line %d)", deviceLine(3)),
			wantMsg:   []string{"more than 2 Device elements"},
		},
		{
			name:      "more bytes than MaxTotalBytes",
			opts:      manifest.Options{Limits: manifest.Limits{MaxTotalBytes: int64(len(head) + 2*len(dev) + 30)}},
			doc:       head + dev + dev + dev + "</CertificateManifest>",
			records:   2,
			wantErr:   manifest.ErrTooLarge,
			wantEntry: fmt.Sprintf("Device[3] (line %d)", deviceLine(3)),
			wantMsg:   []string{fmt.Sprintf("input longer than %d bytes", len(head)+2*len(dev)+30)},
		},
		{
			name:    "huge attribute value",
			doc:     head + `<Device chipId="` + strings.Repeat("x", 3<<20) + `"/></CertificateManifest>`,
			wantErr: manifest.ErrTooLarge,
			wantMsg: []string{fmt.Sprintf("an XML token (text, tag, comment or directive) longer than %d bytes", defaultTokenCap)},
		},
		{
			name:    "huge comment",
			doc:     head + `<!--` + strings.Repeat("x", 3<<20) + `--></CertificateManifest>`,
			wantErr: manifest.ErrTooLarge,
			wantMsg: []string{fmt.Sprintf("longer than %d bytes", defaultTokenCap)},
		},
		{
			name:    "huge DOCTYPE",
			doc:     `<!DOCTYPE m [` + strings.Repeat(`<!ENTITY a "b">`, 100_000) + `]><CertificateManifest/>`,
			wantErr: manifest.ErrTooLarge,
			wantMsg: []string{fmt.Sprintf("longer than %d bytes", defaultTokenCap)},
		},
		{
			name:    "too many namespace declarations",
			doc:     `<CertificateManifest` + nsDecls(0, 200) + `><Device chipId="C1"` + nsDecls(200, 57) + `/></CertificateManifest>`,
			wantErr: manifest.ErrTooLarge,
			wantMsg: []string{"more than 256 namespace declarations in scope"},
		},
		{
			name:      "certificate text over the token cap",
			opts:      manifest.Options{Limits: manifest.Limits{MaxEntryBytes: 1 << 20}},
			doc:       head + `<Device chipId="C1"><Certificate slot="E0E1">` + strings.Repeat("A", 2<<20+1) + `</Certificate></Device></CertificateManifest>`,
			wantErr:   manifest.ErrTooLarge,
			wantEntry: "Device[1] (line 2)",
			wantMsg:   []string{"longer than 2097152 bytes"},
		},
		{
			name:    "unknown slot option",
			opts:    manifest.Options{Slot: "E0F1"},
			doc:     head + dev + "</CertificateManifest>",
			wantErr: manifest.ErrBadSlot,
			wantMsg: []string{`"E0F1"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := readAll(t, strings.NewReader(tt.doc), tt.opts)
			checkFatal(t, err, tt.wantErr, tt.wantEntry, tt.wantMsg...)
			if len(recs) != tt.records {
				t.Errorf("got %d records before the error, want %d", len(recs), tt.records)
			}
		})
	}
}

// nsDecls returns n namespace declarations of prefixes p<from>...
func nsDecls(from, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ` xmlns:p%d="urn:%d"`, from+i, from+i)
	}
	return b.String()
}

// defaultTokenCap is the token cap under the default limits.
var defaultTokenCap = int(tokenCap(manifest.DefaultLimits))

// checkFatal checks that err is a *manifest.Error naming test.xml and
// entry, wrapping want, and holding every msg.
func checkFatal(t *testing.T, err, want error, entry string, msgs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	var me *manifest.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %q (%T) is not a *manifest.Error", err, err)
	}
	if me.File != "test.xml" || me.Entry != entry {
		t.Errorf("error names file %q entry %q, want test.xml and %q", me.File, me.Entry, entry)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q does not wrap %v", err, want)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not contain %q", err, m)
		}
	}
	if !strings.HasPrefix(err.Error(), "test.xml: ") {
		t.Errorf("error %q does not start with the file name", err)
	}
}

func TestErrorIsSticky(t *testing.T) {
	r := NewReader(strings.NewReader(`<CertificateManifest><Device/><Device>`), "test.xml", manifest.Options{})
	if _, err := r.Next(); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || !errors.Is(err1, err2) {
		t.Errorf("errors %v then %v, want the same error twice", err1, err2)
	}

	r = NewReader(strings.NewReader(`<CertificateManifest/>`), "test.xml", manifest.Options{})
	for i := range 3 {
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Errorf("Next %d: %v, want io.EOF", i, err)
		}
	}
}

func TestReelAndBatchID(t *testing.T) {
	r := NewReader(strings.NewReader(`<CertificateManifest reelId=" 78211223032C7EFA " batchId="b41425b9-b42b-47fd-95c2-f981b4c61561"/>`), "test.xml", manifest.Options{})
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v, want io.EOF", err)
	}
	if got, want := r.ReelID(), "78211223032C7EFA"; got != want {
		t.Errorf("ReelID() = %q, want %q", got, want)
	}
	if got, want := r.BatchID(), "b41425b9-b42b-47fd-95c2-f981b4c61561"; got != want {
		t.Errorf("BatchID() = %q, want %q", got, want)
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadErrorIsPassedOn(t *testing.T) {
	ioErr := errors.New("disk on fire")
	recs, err := readAll(t, &failingReader{data: []byte(`<CertificateManifest><Device chipId="C1"/><Device chipId="C2">`), err: ioErr}, manifest.Options{})
	checkFatal(t, err, ioErr, "Device[2] (line 1)", "read: disk on fire")
	if errors.Is(err, manifest.ErrMalformed) {
		t.Errorf("read error %q claims the manifest is malformed", err)
	}
	if len(recs) != 1 {
		t.Errorf("got %d records, want 1", len(recs))
	}
}

func TestOpen(t *testing.T) {
	c := testCerts(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "reel.xml")
	doc := `<CertificateManifest reelId="R1" batchId="B1"><Device chipId="C1"><Certificate slot="E0E0">` + c[0].crlfPEM + `</Certificate></Device></CertificateManifest>`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("reads and closes", func(t *testing.T) {
		r, err := Open(path, manifest.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		got, err := r.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		want := rec(1, 1, "C1", c[0].lfPEM)
		sameRecords(t, []manifest.Record{got}, []manifest.Record{want})
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := r.Next(); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("Next after Close: %v, want an error", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Open(filepath.Join(dir, "nope.xml"), manifest.Options{})
		var me *manifest.Error
		if !errors.As(err, &me) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.xml") {
			t.Errorf("Open of a missing file: %v", err)
		}
	})
	t.Run("bad slot", func(t *testing.T) {
		_, err := Open(path, manifest.Options{Slot: "E0E3"})
		if !errors.Is(err, manifest.ErrBadSlot) || !strings.Contains(err.Error(), "reel.xml") {
			t.Errorf("Open with a bad slot: %v", err)
		}
	})
}

// generator is an io.Reader that yields prefix, then fill repeated count
// times, then suffix, without holding the repeated bytes.
type generator struct {
	prefix, fill, suffix []byte
	count                int   // fills left to yield
	off                  int   // into fill
	read                 int64 // bytes handed out
}

func (g *generator) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(g.prefix) > 0:
			k := copy(p[n:], g.prefix)
			g.prefix = g.prefix[k:]
			n += k
		case g.count > 0:
			k := copy(p[n:], g.fill[g.off:])
			g.off += k
			if g.off == len(g.fill) {
				g.off = 0
				g.count--
			}
			n += k
		case len(g.suffix) > 0:
			k := copy(p[n:], g.suffix)
			g.suffix = g.suffix[k:]
			n += k
		default:
			g.read += int64(n)
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
	}
	g.read += int64(n)
	return n, nil
}

// allocated runs f and returns the bytes it allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// peakHeap runs f and returns the most live heap above what was live
// before, and the bytes f allocated in all. The live heap is what the last
// collection marked (runtime/metrics /gc/heap/live:bytes), sampled every
// millisecond with the collector running often: memory f keeps cannot
// hide, and garbage the collector has not reached yet, which grows when
// the machine is busy, does not count.
func peakHeap(f func()) (peak, total uint64) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	metrics.Read(live)
	base, start := live[0].Value.Uint64(), ms.TotalAlloc
	sample := func() {
		metrics.Read(live)
		if v := live[0].Value.Uint64(); v > base {
			peak = max(peak, v-base)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sample()
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	sample()
	runtime.ReadMemStats(&ms)
	return peak, ms.TotalAlloc - start
}

// TestHugeTextNode feeds 100 MB streams (three times the heap allowed)
// that must end in ErrTooLarge, or in a device whose Problem is
// ErrTooLarge, without memory growing with the stream.
func TestHugeTextNode(t *testing.T) {
	const (
		size    = 100 << 20
		maxPeak = 32 << 20 // heap in use at any time
	)
	tests := []struct {
		name     string
		fill     string // repeated to make size bytes
		maxRead  int64  // the reader must stop early
		wantErr  error  // nil: the device's Problem must be ErrTooLarge
		maxAlloc uint64 // allocated in all; 0: not checked
	}{
		{
			name:     "one text node",
			fill:     "A",
			maxRead:  2 << 20,
			wantErr:  manifest.ErrTooLarge,
			maxAlloc: 16 << 20,
		},
		{
			// Each CDATA section is its own token, under the token cap: the
			// reader must go through all of it without keeping more than
			// MaxEntryBytes, and report the device.
			name:    "text in many CDATA sections",
			fill:    "<![CDATA[" + strings.Repeat("A", 4087) + "]]>",
			maxRead: size + 1<<10,
		},
		{
			// Each certificate is under MaxEntryBytes, together they
			// are not: the device's data must stop growing.
			name:    "many certificates of the slot",
			fill:    strings.Repeat("A", 900) + `</Certificate><Certificate slot="E0E0">`,
			maxRead: size + 1<<10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.wantErr == nil {
				t.Skip("reads 100 MB")
			}
			g := &generator{
				prefix: []byte(`<CertificateManifest><Device chipId="C1"><Certificate slot="E0E0">`),
				fill:   []byte(tt.fill),
				count:  size / len(tt.fill),
				suffix: []byte(`</Certificate></Device></CertificateManifest>`),
			}
			var recs []manifest.Record
			var err error
			peak, alloc := peakHeap(func() { recs, err = readAll(t, g, manifest.Options{}) })
			if tt.wantErr != nil {
				checkFatal(t, err, tt.wantErr, "Device[1] (line 1)", fmt.Sprintf("longer than %d bytes", defaultTokenCap))
			} else {
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				if len(recs) != 1 || !errors.Is(recs[0].Problem, manifest.ErrTooLarge) || recs[0].Data != nil {
					t.Fatalf("got %d records (%+v), want one with an ErrTooLarge Problem and no Data", len(recs), recs)
				}
			}
			if g.read > tt.maxRead {
				t.Errorf("read %d bytes of the stream, want at most %d", g.read, tt.maxRead)
			}
			if peak > maxPeak {
				t.Errorf("heap in use grew by %d bytes, want at most %d", peak, maxPeak)
			}
			if tt.maxAlloc > 0 && alloc > tt.maxAlloc {
				t.Errorf("allocated %d bytes, want at most %d", alloc, tt.maxAlloc)
			}
			t.Logf("read %d MB; heap grew by at most %d KB; allocated %d KB in all", g.read>>20, peak>>10, alloc>>10)
		})
	}
}

// TestHostileMarkupMemory checks that markup made to make encoding/xml
// hold more memory than its size ends in ErrTooLarge with the heap
// bounded.
func TestHostileMarkupMemory(t *testing.T) {
	const maxPeak = 32 << 20
	// level returns a start tag just under the token cap made of attr
	// repeated.
	level := func(attr func(i int) string) string {
		var b strings.Builder
		b.WriteString("<x")
		for i := 0; b.Len() < defaultTokenCap-100; i++ {
			b.WriteString(attr(i))
		}
		b.WriteString(">")
		return b.String()
	}
	tests := []struct {
		name    string
		doc     string
		wantMsg string
	}{
		{
			// encoding/xml keeps namespace declarations until their
			// element ends: 30 levels of 1 MiB of them held about 300 MB.
			name:    "nested namespace declarations",
			doc:     "<CertificateManifest>" + strings.Repeat(level(func(i int) string { return fmt.Sprintf(` xmlns:p%d="u"`, i) }), 30),
			wantMsg: "namespace declarations in scope",
		},
		{
			name:    "tiny attributes, then a huge one",
			doc:     "<CertificateManifest>" + strings.Repeat(level(func(int) string { return ` a=""` }), 31) + `<x a="` + strings.Repeat("b", 2<<20),
			wantMsg: fmt.Sprintf("longer than %d bytes", defaultTokenCap),
		},
		{
			name:    "nested long names",
			doc:     "<CertificateManifest>" + strings.Repeat("<"+strings.Repeat("n", defaultTokenCap-10)+">", 31) + "<x>",
			wantMsg: "nested deeper than 32",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			peak, _ := peakHeap(func() { _, err = readAll(t, strings.NewReader(tt.doc), manifest.Options{}) })
			checkFatal(t, err, manifest.ErrTooLarge, "", tt.wantMsg)
			if peak > maxPeak {
				t.Errorf("heap in use grew by %d bytes for a %d-byte document, want at most %d", peak, len(tt.doc), maxPeak)
			}
			t.Logf("%d MB document: heap grew by at most %d MB", len(tt.doc)>>20, peak>>20)
		})
	}
}

// TestAllocationsPerDevice checks that the reader's allocations grow with
// the number of devices at a constant rate, so that memory cannot grow
// with the manifest beyond what the caller keeps.
func TestAllocationsPerDevice(t *testing.T) {
	c := testCerts(t)
	doc := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString(`<CertificateManifest reelId="R1" batchId="B1">` + "\n")
		for i := range n {
			fmt.Fprintf(&b, "<Device chipId=\"C%08d\">\n<Certificate slot=\"E0E0\">%s</Certificate>\n<Certificate slot=\"E0E1\" encoding=\"base64-der\">%s</Certificate>\n</Device>\n",
				i, c[i%3].crlfPEM, c[(i+1)%3].b64)
		}
		b.WriteString("</CertificateManifest>\n")
		return b.Bytes()
	}
	perDevice := func(slot string, n int) (allocs float64, size uint64) {
		d := doc(n)
		opts := manifest.Options{Slot: slot}
		allocs = testing.AllocsPerRun(3, func() {
			if _, err := readAll(t, bytes.NewReader(d), opts); err != nil {
				t.Fatal(err)
			}
		})
		size = allocated(func() {
			r := NewReader(bytes.NewReader(d), "test.xml", opts)
			for {
				if _, err := r.Next(); err != nil {
					break
				}
			}
		})
		return allocs / float64(n), size / uint64(n)
	}
	for _, slot := range []string{"E0E0", "E0E1"} {
		a1, b1 := perDevice(slot, 1000)
		a2, b2 := perDevice(slot, 8000)
		t.Logf("slot %s: %.2f then %.2f allocations, %d then %d bytes per device", slot, a1, a2, b1, b2)
		if a2 > a1*1.05+0.5 {
			t.Errorf("slot %s: allocations per device grow: %.2f for 1000 devices, %.2f for 8000", slot, a1, a2)
		}
		if b2 > b1+b1/10 {
			t.Errorf("slot %s: bytes per device grow: %d for 1000 devices, %d for 8000", slot, b1, b2)
		}
	}
}

// TestInputReaders reads one document through readers that hand out
// their data in awkward pieces.
func TestInputReaders(t *testing.T) {
	c := testCerts(t)
	doc := "\xef\xbb\xbf" + `<CertificateManifest reelId="R1" batchId="B1"><Device chipId="C1"><Certificate slot="E0E0">` + c[0].crlfPEM + `</Certificate></Device>` +
		`<Device chipId="C2"><Certificate slot="E0E0" encoding="base64-der">` + c[1].b64 + `</Certificate></Device></CertificateManifest>`
	want := []manifest.Record{rec(1, 1, "C1", c[0].lfPEM), rec(2, lineOf(doc, `chipId="C2"`), "C2", c[1].b64PEM)}
	tests := []struct {
		name string
		r    io.Reader
	}{
		{name: "whole", r: strings.NewReader(doc)},
		{name: "one byte at a time", r: iotest.OneByteReader(strings.NewReader(doc))},
		{name: "half reads", r: iotest.HalfReader(strings.NewReader(doc))},
		{name: "EOF with the last data", r: iotest.DataErrReader(strings.NewReader(doc))},
		{name: "empty reads in between", r: &stutterReader{r: strings.NewReader(doc)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.r, manifest.Options{})
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			sameRecords(t, got, want)
		})
	}
}

// stutterReader returns 0, nil before each read of its reader.
type stutterReader struct {
	r    io.Reader
	turn bool
}

func (s *stutterReader) Read(p []byte) (int, error) {
	s.turn = !s.turn
	if s.turn {
		return 0, nil
	}
	return s.r.Read(p)
}

func TestNoProgressReader(t *testing.T) {
	_, err := readAll(t, zeroReader{}, manifest.Options{})
	checkFatal(t, err, io.ErrNoProgress, "", "read: ")
}

// zeroReader never returns data nor an error.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// TestTotalBytesLimitIsExact checks that a document of exactly
// MaxTotalBytes is read and one byte more is not.
func TestTotalBytesLimitIsExact(t *testing.T) {
	doc := "\xef\xbb\xbf<CertificateManifest><Device chipId=\"C1\"/></CertificateManifest>\n"
	tests := []struct {
		name    string
		limit   int64
		wantErr error
	}{
		{name: "exact", limit: int64(len(doc))},
		{name: "one byte short", limit: int64(len(doc) - 1), wantErr: manifest.ErrTooLarge},
		{name: "cut in the last tag", limit: int64(len(doc) - 5), wantErr: manifest.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := readAll(t, strings.NewReader(doc), manifest.Options{Limits: manifest.Limits{MaxTotalBytes: tt.limit}})
			if tt.wantErr == nil {
				if err != nil || len(recs) != 1 {
					t.Fatalf("got %d records and %v, want 1 record", len(recs), err)
				}
				return
			}
			checkFatal(t, err, tt.wantErr, "after Device[1]", fmt.Sprintf("input longer than %d bytes", tt.limit))
		})
	}
}
