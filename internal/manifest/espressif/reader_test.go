package espressif

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

// testPEM returns a PEM certificate with LF line endings.
func testPEM(t testing.TB) string {
	t.Helper()
	ca, err := generate.NewRoot("esp-test-cn")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ca.Issue(generate.LeafOptions{Seed: "esp"})
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(generate.PEM(l.Cert)), "\r\n", "\n")
}

// csvDoc makes a manifest of the header and rows, with CRLF line ends as
// the sample has.
func csvDoc(header string, rows ...string) string {
	return strings.Join(append([]string{header}, rows...), "\r\n") + "\r\n"
}

func readAll(t testing.TB, r io.Reader, opts manifest.Options) ([]Device, error) {
	t.Helper()
	er := NewReader(r, "test.csv", opts)
	defer er.Close()
	return manifesttest.Collect(er.NextDevice)
}

func TestRows(t *testing.T) {
	p := testPEM(t)
	cell := `"` + p + `"`
	tests := []struct {
		name   string
		row    string
		thing  string // for a good row
		chipID string
		want   error
		reason string
	}{
		{name: "good", row: "4BA2BB8764BD,6d1d54ba,", thing: "4BA2BB8764BD"},
		{name: "lower-case MAC", row: "4ba2bb8764bd,6d1d54ba,", thing: "4BA2BB8764BD"},
		{name: "MAC with spaces around", row: " 4BA2BB8764BD ,6d1d54ba,", thing: "4BA2BB8764BD"},
		{name: "missing column", row: "4BA2BB8764BD," + cell, chipID: "4BA2BB8764BD", want: ErrColumns, reason: "wrong number of columns: 2 columns, the header has 3"},
		{name: "extra column", row: "4BA2BB8764BD,6d1d54ba," + cell + ",x", chipID: "4BA2BB8764BD", want: ErrColumns, reason: "wrong number of columns: 4 columns, the header has 3"},
		{name: "MAC with colons", row: "4B:A2:BB:87:64:BD,6d1d54ba,", chipID: "4B:A2:BB:87:64:BD", want: ErrMAC, reason: `bad MAC: "4B:A2:BB:87:64:BD" is not 12 hex characters`},
		{name: "MAC too short", row: "4BA2BB8764B,6d1d54ba,", chipID: "4BA2BB8764B", want: ErrMAC, reason: `bad MAC: "4BA2BB8764B" is not 12 hex characters`},
		{name: "MAC not hex", row: "4BA2BB8764BG,6d1d54ba,", chipID: "4BA2BB8764BG", want: ErrMAC, reason: `bad MAC: "4BA2BB8764BG" is not 12 hex characters`},
		{name: "empty MAC", row: ",6d1d54ba,", want: ErrMAC, reason: `bad MAC: "" is not 12 hex characters`},
		{name: "no certificate", row: "4BA2BB8764BD,6d1d54ba,", chipID: "4BA2BB8764BD", want: ErrCertificate, reason: "no certificate PEM: cert column holds no PEM block"},
		{name: "base64 without PEM armour", row: "4BA2BB8764BD,6d1d54ba,MIIB", chipID: "4BA2BB8764BD", want: ErrCertificate, reason: "no certificate PEM: cert column holds no PEM block"},
		{name: "certificate too large", row: "4BA2BB8764BD,6d1d54ba,\"" + p + strings.Repeat("A", 70<<10) + "\"", chipID: "4BA2BB8764BD", want: manifest.ErrTooLarge, reason: "manifest exceeds a size limit: cert column over 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := tt.row
			if tt.thing != "" {
				row += cell
			}
			devs, err := readAll(t, strings.NewReader(csvDoc("MAC,cn,cert", row)), manifest.Options{})
			d := manifesttest.Single(t, devs, err)
			if d.Entry != "row 1 (line 2)" {
				t.Errorf("Entry %q", d.Entry)
			}
			if tt.want == nil {
				if d.Problem != nil {
					t.Fatalf("Problem: %v", d.Problem)
				}
				if d.ThingName != tt.thing || d.ChipID != tt.thing || d.CN != "6d1d54ba" || d.Encoding != manifest.PEM {
					t.Errorf("ThingName %q ChipID %q CN %q", d.ThingName, d.ChipID, d.CN)
				}
				if string(d.Data) != p {
					t.Errorf("Data %q, want the PEM", d.Data)
				}
				return
			}
			if !errors.Is(d.Problem, tt.want) || d.Problem.Error() != tt.reason {
				t.Errorf("Problem %v, want %q", d.Problem, tt.reason)
			}
			if !errors.Is(tt.want, manifest.ErrTooLarge) && !errors.Is(d.Problem, manifest.ErrMalformed) {
				t.Errorf("Problem %v does not wrap manifest.ErrMalformed", d.Problem)
			}
			if d.ChipID != tt.chipID || d.Data != nil {
				t.Errorf("ChipID %q, %d bytes of Data", d.ChipID, len(d.Data))
			}
		})
	}
}

func TestManifestErrors(t *testing.T) {
	p := testPEM(t)
	good := `4BA2BB8764BD,cn,"` + p + `"`
	row2 := fmt.Sprintf("row 2 (line %d)", 3+strings.Count(p, "\n"))
	tests := []struct {
		name   string
		doc    string
		limits manifest.Limits
		want   error
		entry  string
		msg    string
		before int
	}{
		{name: "empty", doc: "", want: manifest.ErrMalformed, msg: "empty file: want a header MAC,cn,cert"},
		{name: "no header", doc: csvDoc(good), want: manifest.ErrFormat, msg: "header is not MAC,cn,cert"},
		{name: "column twice", doc: csvDoc("MAC,cn,cert,MAC"), want: manifest.ErrFormat, msg: "column MAC twice in the header"},
		{name: "bare quote", doc: csvDoc("MAC,cn,cert", good, `4BA2BB8764BE,c"n,x`), want: manifest.ErrMalformed, entry: "after row 1 (line 2)", msg: `bare " in non-quoted-field`, before: 1},
		{name: "unterminated quote", doc: csvDoc("MAC,cn,cert", good, `4BA2BB8764BE,cn,"`+p), want: manifest.ErrMalformed, entry: "after row 1 (line 2)", msg: `extraneous or missing " in quoted-field`, before: 1},
		{
			name: "too many rows", doc: csvDoc("MAC,cn,cert", good, good), limits: manifest.Limits{MaxEntries: 1},
			want: manifest.ErrTooLarge, entry: row2, msg: "more than 1 rows", before: 1,
		},
		{
			name: "huge line", doc: csvDoc("MAC,cn,cert", good, "4BA2BB8764BE,"+strings.Repeat("x", 1<<20)), limits: manifest.Limits{MaxEntryBytes: 8192},
			want: manifest.ErrTooLarge, entry: "after row 1 (line 2)", msg: "a CSV record longer than 16384 bytes", before: 1,
		},
		{
			name: "huge quoted field", doc: csvDoc("MAC,cn,cert", good, `4BA2BB8764BE,cn,"`+strings.Repeat("x\r\n", 1<<20)+`"`), limits: manifest.Limits{MaxEntryBytes: 8192},
			want: manifest.ErrTooLarge, entry: "after row 1 (line 2)", msg: "a CSV record longer than 16384 bytes", before: 1,
		},
		{
			name: "input too long", doc: csvDoc("MAC,cn,cert", good, good), limits: manifest.Limits{MaxTotalBytes: int64(len(good) + 20)},
			want: manifest.ErrTooLarge, entry: "after row 1 (line 2)", msg: "input longer than", before: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs, err := readAll(t, strings.NewReader(tt.doc), manifest.Options{Limits: tt.limits})
			manifesttest.CheckFatal(t, err, "test.csv", tt.want, tt.entry, tt.msg)
			if len(devs) != tt.before {
				t.Errorf("%d devices before the error, want %d", len(devs), tt.before)
			}
		})
	}
	t.Run("header only", func(t *testing.T) {
		devs, err := readAll(t, strings.NewReader("\ufeffMAC,cn,cert\n"), manifest.Options{})
		if err != nil || len(devs) != 0 {
			t.Fatalf("%d devices, %v", len(devs), err)
		}
	})
	t.Run("columns in another order", func(t *testing.T) {
		devs, err := readAll(t, strings.NewReader(csvDoc("cert,MAC,cn", `"`+p+`",4ba2bb8764bd,x`)), manifest.Options{})
		if err != nil || len(devs) != 1 || devs[0].Problem != nil || devs[0].ThingName != "4BA2BB8764BD" || devs[0].CN != "x" {
			t.Fatalf("%+v, %v", devs, err)
		}
	})
	t.Run("read error at the total limit", func(t *testing.T) {
		doc := csvDoc("MAC,cn,cert", good)
		fail := errors.New("disk on fire")
		devs, err := readAll(t, io.MultiReader(strings.NewReader(doc), iotest.ErrReader(fail)), manifest.Options{Limits: manifest.Limits{MaxTotalBytes: int64(len(doc))}})
		if !errors.Is(err, fail) || len(devs) != 1 {
			t.Errorf("%d devices, error %v", len(devs), err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		fail := errors.New("disk on fire")
		_, err := readAll(t, io.MultiReader(strings.NewReader(csvDoc("MAC,cn,cert", good)), iotest.ErrReader(fail)), manifest.Options{})
		if !errors.Is(err, fail) || !strings.Contains(err.Error(), "test.csv: after row 1 (line 2): read: disk on fire") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("one byte at a time", func(t *testing.T) {
		devs, err := readAll(t, iotest.OneByteReader(strings.NewReader(csvDoc("MAC,cn,cert", good, good))), manifest.Options{})
		if err != nil || len(devs) != 2 || devs[1].Problem != nil || devs[1].Entry != row2 {
			t.Fatalf("%d devices, %v", len(devs), err)
		}
	})
}

// TestManyRows reads a generated manifest of many rows.
func TestManyRows(t *testing.T) {
	p := testPEM(t)
	var b bytes.Buffer
	b.WriteString("MAC,cn,cert\r\n")
	const n = 1000
	for i := range n {
		fmt.Fprintf(&b, "%012X,cn-%d,\"%s\"\r\n", i, i, p)
	}
	devs, err := readAll(t, &b, manifest.Options{})
	if err != nil || len(devs) != n {
		t.Fatalf("%d devices, %v", len(devs), err)
	}
	for i, d := range devs {
		if want := fmt.Sprintf("%012X", i); d.Problem != nil || d.ThingName != want {
			t.Fatalf("%s: ThingName %q, Problem %v; want %s", d.Entry, d.ThingName, d.Problem, want)
		}
	}
}

func TestRealSample(t *testing.T) {
	path := manifesttest.Sample(t, "manifest-espressif.csv")
	manifesttest.CheckSHA256(t, path, "da5b057f0f442bc7e12afc6e13b3c2bc4ea6febcdf5ef978f666334db9544260")
	r, err := Open(path, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var names []string
	for _, d := range manifesttest.All(t, r.NextDevice) {
		if d.Problem != nil || !bytes.HasPrefix(d.Data, []byte("-----BEGIN CERTIFICATE-----\n")) || d.CN == "" {
			t.Errorf("%s: Problem %v, CN %q", d.Entry, d.Problem, d.CN)
		}
		names = append(names, d.ThingName)
	}
	if len(names) != 7 || names[0] != "4BA2BB8764BD" || names[6] != "764C4DDF59BF" {
		t.Errorf("Things %v, want 7 from 4BA2BB8764BD to 764C4DDF59BF", names)
	}
}
