package generated

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
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

// testChain is a leaf with the intermediate and root after it.
type testChain struct {
	leaf, inter, root *x509.Certificate
	key               []byte // the leaf's private key as PEM
}

func newTestChain(t testing.TB) *testChain {
	t.Helper()
	root, err := generate.NewRoot("Root CA test")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Intermediate CA test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := inter.Issue(generate.LeafOptions{CommonName: "Device-0"})
	if err != nil {
		t.Fatal(err)
	}
	return &testChain{leaf: l.Cert, inter: inter.Cert, root: root.Cert, key: l.KeyPEM()}
}

func lfPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func readAll(t testing.TB, r io.Reader, opts manifest.Options) ([]Device, error) {
	t.Helper()
	gr := NewReader(r, "test.txt", opts)
	defer gr.Close()
	return manifesttest.Collect(gr.NextDevice)
}

func TestLines(t *testing.T) {
	c := newTestChain(t)
	leaf := lfPEM(c.leaf)
	tests := []struct {
		name   string
		line   string
		chain  int // certificates after the leaf, for a good line
		want   error
		reason string
	}{
		{name: "leaf", line: b64(leaf)},
		{name: "leaf with CRLF", line: b64(strings.ReplaceAll(leaf, "\n", "\r\n")) + "\r"},
		{name: "leaf and chain", line: b64(leaf + lfPEM(c.inter) + lfPEM(c.root)), chain: 2},
		{name: "text around the blocks", line: b64("subject=CN = Device-0\n" + leaf + "trailer\n")},
		{name: "not base64", line: "LS0tLS1CRUdJTi!!", want: ErrBase64, reason: "line is not base64: line 1: illegal base64 data at input byte 14"},
		{name: "cut short", line: b64(leaf)[:101], want: ErrBase64, reason: "line is not base64: line 1: illegal base64 data at input byte 100"},
		{name: "base64 of DER", line: base64.StdEncoding.EncodeToString(c.leaf.Raw), want: ErrNoPEM, reason: "no PEM CERTIFICATE block: line 1: the decoded text holds none"},
		{name: "other block", line: b64("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), want: ErrBlockType, reason: `PEM block other than CERTIFICATE: line 1: a "X509 CRL" block`},
		{name: "private key after the leaf", line: b64(leaf + string(c.key)), want: ErrPrivateKey, reason: "PRIVATE KEY MATERIAL in entry: the entry is never imported or sent anywhere: line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs, err := readAll(t, strings.NewReader(tt.line+"\n"), manifest.Options{})
			d := manifesttest.Single(t, devs, err)
			if d.Entry != "line 1" || d.ChipID != "" {
				t.Errorf("Entry %q ChipID %q", d.Entry, d.ChipID)
			}
			if tt.want == nil {
				if d.Problem != nil {
					t.Fatalf("Problem: %v", d.Problem)
				}
				if string(d.Data) != leaf || d.Encoding != manifest.PEM {
					t.Errorf("Data %q, want the leaf only", d.Data)
				}
				if len(d.Chain) != tt.chain {
					t.Fatalf("%d chain certificates, want %d", len(d.Chain), tt.chain)
				}
				if tt.chain == 2 && (!bytes.Equal(d.Chain[0], c.inter.Raw) || !bytes.Equal(d.Chain[1], c.root.Raw)) {
					t.Errorf("chain is not the intermediate then the root")
				}
				return
			}
			if !errors.Is(d.Problem, tt.want) || !errors.Is(d.Problem, manifest.ErrMalformed) || d.Problem.Error() != tt.reason {
				t.Errorf("Problem %v, want %q", d.Problem, tt.reason)
			}
			if d.Data != nil || d.Chain != nil {
				t.Errorf("a line with a Problem has Data or Chain")
			}
			if bytes.Contains([]byte(d.Problem.Error()), []byte("BEGIN")) {
				t.Errorf("Problem %q carries PEM", d.Problem)
			}
		})
	}
}

func TestManifest(t *testing.T) {
	c := newTestChain(t)
	good := b64(lfPEM(c.leaf))
	t.Run("blank lines and line numbers", func(t *testing.T) {
		doc := "\n" + good + "\r\n  \n" + "bad!" + "\n" + good // no final newline
		devs, err := readAll(t, strings.NewReader(doc), manifest.Options{})
		if err != nil || len(devs) != 3 {
			t.Fatalf("%d devices, %v", len(devs), err)
		}
		for i, want := range []string{"line 2", "line 4", "line 5"} {
			if devs[i].Entry != want {
				t.Errorf("device %d: Entry %q, want %q", i, devs[i].Entry, want)
			}
		}
		if devs[0].Problem != nil || devs[2].Problem != nil || !errors.Is(devs[1].Problem, ErrBase64) || !strings.Contains(devs[1].Problem.Error(), "line 4") {
			t.Errorf("Problems %v, %v, %v", devs[0].Problem, devs[1].Problem, devs[2].Problem)
		}
	})
	t.Run("long line is a Problem, the next line is read", func(t *testing.T) {
		for _, tail := range []string{"\n" + good + "\n", ""} {
			doc := good + "\n" + strings.Repeat("A", 4<<20) + tail
			devs, err := readAll(t, strings.NewReader(doc), manifest.Options{Limits: manifest.Limits{MaxEntryBytes: 4096}})
			if err != nil {
				t.Fatal(err)
			}
			want := 3
			if tail == "" {
				want = 2
			}
			if len(devs) != want {
				t.Fatalf("%d devices, want %d", len(devs), want)
			}
			if p := devs[1].Problem; !errors.Is(p, manifest.ErrTooLarge) || p.Error() != "manifest exceeds a size limit: line 2 is over 5465 bytes" {
				t.Errorf("Problem %v", p)
			}
			if want == 3 && (devs[2].Problem != nil || devs[2].Entry != "line 3") {
				t.Errorf("%s: %v", devs[2].Entry, devs[2].Problem)
			}
		}
	})
	t.Run("line of exactly the cap", func(t *testing.T) {
		// The base64 of 4095 bytes of PEM text, padded to the cap with
		// spaces, is read.
		pad := strings.Repeat(" ", lineCap(manifest.Limits{MaxEntryBytes: 4096})-len(good))
		devs, err := readAll(t, strings.NewReader(good+pad+"\n"), manifest.Options{Limits: manifest.Limits{MaxEntryBytes: 4096}})
		if err != nil || len(devs) != 1 || devs[0].Problem != nil {
			t.Fatalf("%+v, %v", devs, err)
		}
	})
	t.Run("too many lines", func(t *testing.T) {
		devs, err := readAll(t, strings.NewReader(good+"\n"+good+"\n"), manifest.Options{Limits: manifest.Limits{MaxEntries: 1}})
		var me *manifest.Error
		if !errors.As(err, &me) || me.Entry != "line 2" || !errors.Is(err, manifest.ErrTooLarge) || len(devs) != 1 {
			t.Errorf("%d devices, error %v", len(devs), err)
		}
	})
	t.Run("input too long", func(t *testing.T) {
		devs, err := readAll(t, strings.NewReader(good+"\n"+good+"\n"), manifest.Options{Limits: manifest.Limits{MaxTotalBytes: int64(len(good) + 10)}})
		if !errors.Is(err, manifest.ErrTooLarge) || err.Error() != fmt.Sprintf("test.txt: after line 1: manifest exceeds a size limit: input longer than %d bytes", len(good)+10) || len(devs) != 1 {
			t.Errorf("%d devices, error %v", len(devs), err)
		}
	})
	t.Run("exact total limit", func(t *testing.T) {
		doc := good + "\n" + good + "\n"
		devs, err := readAll(t, strings.NewReader(doc), manifest.Options{Limits: manifest.Limits{MaxTotalBytes: int64(len(doc))}})
		if err != nil || len(devs) != 2 {
			t.Errorf("%d devices, error %v", len(devs), err)
		}
	})
	t.Run("read error at the total limit", func(t *testing.T) {
		doc := good + "\n"
		fail := errors.New("disk on fire")
		devs, err := readAll(t, io.MultiReader(strings.NewReader(doc), iotest.ErrReader(fail)), manifest.Options{Limits: manifest.Limits{MaxTotalBytes: int64(len(doc))}})
		if !errors.Is(err, fail) || len(devs) != 1 {
			t.Errorf("%d devices, error %v", len(devs), err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		fail := errors.New("disk on fire")
		devs, err := readAll(t, io.MultiReader(strings.NewReader(good+"\n"+good[:50]), iotest.ErrReader(fail)), manifest.Options{})
		if !errors.Is(err, fail) || err.Error() != "test.txt: after line 1: read: disk on fire" || len(devs) != 1 {
			t.Errorf("%d devices, error %v", len(devs), err)
		}
	})
	t.Run("one byte at a time", func(t *testing.T) {
		devs, err := readAll(t, iotest.OneByteReader(strings.NewReader(good+"\n"+good+"\n")), manifest.Options{})
		if err != nil || len(devs) != 2 || devs[1].Problem != nil {
			t.Errorf("%d devices, error %v", len(devs), err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		devs, err := readAll(t, strings.NewReader(""), manifest.Options{})
		if err != nil || len(devs) != 0 {
			t.Errorf("%d devices, error %v", len(devs), err)
		}
	})
}

func TestRealSample(t *testing.T) {
	path := manifesttest.Sample(t, "certificates_test.txt")
	manifesttest.CheckSHA256(t, path, "182242d8d57fc9096716f8edf8c9c441efa04c1cad39be071d533b8912275c02")
	r, err := Open(path, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for _, d := range manifesttest.All(t, r.NextDevice) {
		if d.Problem != nil {
			t.Fatalf("%s: %v", d.Entry, d.Problem)
		}
		b, _ := pem.Decode(d.Data)
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", d.Entry, err)
		}
		if want := fmt.Sprintf("Device-%d", n); cert.Subject.CommonName != want {
			t.Errorf("%s: CN %q, want %q", d.Entry, cert.Subject.CommonName, want)
		}
		n++
	}
	if n != 100 {
		t.Errorf("%d certificates, want 100", n)
	}
}
