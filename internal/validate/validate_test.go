package validate_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

type pki struct {
	root, inter, stranger *generate.CA
	store                 *trust.Store
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	root, err := generate.NewRoot("Test Root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := generate.NewRoot("Stranger")
	if err != nil {
		t.Fatal(err)
	}
	store, err := trust.FromPEM(append(generate.PEM(root.Cert), generate.PEM(inter.Cert)...))
	if err != nil {
		t.Fatal(err)
	}
	return &pki{root: root, inter: inter, stranger: stranger, store: store}
}

func (p *pki) leaf(t *testing.T, ca *generate.CA, o generate.LeafOptions) *generate.Leaf {
	t.Helper()
	l, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func rec(chip string, data []byte) manifest.Record {
	return manifest.Record{Entry: chip + "_E0E0.pem", ChipID: chip, Slot: "E0E0", Data: data}
}

func TestRunReasons(t *testing.T) {
	p := newPKI(t)
	good := p.leaf(t, p.inter, generate.LeafOptions{Seed: "good"})
	other := p.leaf(t, p.inter, generate.LeafOptions{Seed: "other"})
	sameName := p.leaf(t, p.inter, generate.LeafOptions{CommonName: good.Cert.Subject.CommonName})
	third := p.leaf(t, p.inter, generate.LeafOptions{Seed: "third"})
	past := time.Now().AddDate(-30, 0, 0)
	future := time.Now().AddDate(1, 0, 0)

	tests := []struct {
		name    string
		records []manifest.Record
		noTrust bool
		// want is the cause per record; nil means ok.
		want []error
	}{
		{
			name:    "valid",
			records: []manifest.Record{rec("A1", generate.PEM(good.Cert)), rec("A2", generate.PEM(other.Cert))},
			want:    []error{nil, nil},
		},
		{
			name:    "DER encoding",
			records: []manifest.Record{{Entry: "Device[1]", ChipID: "A1", Data: good.Cert.Raw, Encoding: manifest.DER}},
			want:    []error{nil},
		},
		{
			name:    "two certificates",
			records: []manifest.Record{rec("A1", append(generate.PEM(good.Cert), generate.PEM(other.Cert)...))},
			want:    []error{validate.ErrMultipleCertificates},
		},
		{
			name:    "no certificate",
			records: []manifest.Record{rec("A1", []byte("hello"))},
			want:    []error{validate.ErrNoCertificate},
		},
		{
			name:    "empty DER",
			records: []manifest.Record{{Entry: "Device[1]", Encoding: manifest.DER}},
			want:    []error{validate.ErrNoCertificate},
		},
		{
			name:    "private key with certificate",
			records: []manifest.Record{rec("A1", append(generate.PEM(good.Cert), good.KeyPEM()...))},
			want:    []error{validate.ErrPrivateKey},
		},
		{
			name:    "garbled certificate",
			records: []manifest.Record{rec("A1", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))},
			want:    []error{validate.ErrParse},
		},
		{
			name:    "expired",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.inter, generate.LeafOptions{Seed: "exp", NotBefore: past, NotAfter: past.AddDate(1, 0, 0)}).Cert))},
			want:    []error{validate.ErrExpired},
		},
		{
			name:    "not yet valid",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.inter, generate.LeafOptions{Seed: "nyv", NotBefore: future}).Cert))},
			want:    []error{validate.ErrNotYetValid},
		},
		{
			name:    "unknown CA",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.stranger, generate.LeafOptions{Seed: "s"}).Cert))},
			want:    []error{trust.ErrUntrusted},
		},
		{
			name:    "unknown CA, chain not checked",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.stranger, generate.LeafOptions{Seed: "s"}).Cert))},
			noTrust: true,
			want:    []error{nil},
		},
		{
			name:    "no CN",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.inter, generate.LeafOptions{CommonName: "-"}).Cert))},
			want:    []error{validate.ErrNoCommonName},
		},
		{
			name:    "CN with space",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.inter, generate.LeafOptions{CommonName: "my thing"}).Cert))},
			want:    []error{validate.ErrThingName},
		},
		{
			name:    "CN too long",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.inter, generate.LeafOptions{CommonName: strings.Repeat("a", 129)}).Cert))},
			want:    []error{validate.ErrThingName},
		},
		{
			name: "duplicate certificate",
			records: []manifest.Record{
				rec("A1", generate.PEM(good.Cert)), rec("A2", generate.PEM(other.Cert)), rec("A3", generate.PEM(good.Cert)),
			},
			want: []error{nil, nil, validate.ErrDuplicateCertificate},
		},
		{
			name:    "duplicate thing name",
			records: []manifest.Record{rec("A1", generate.PEM(good.Cert)), rec("A2", generate.PEM(sameName.Cert))},
			want:    []error{nil, validate.ErrDuplicateThingName},
		},
		{
			name: "invalid first occurrence does not claim the name",
			records: []manifest.Record{
				rec("A1", append(generate.PEM(good.Cert), good.KeyPEM()...)), rec("A2", generate.PEM(good.Cert)),
			},
			want: []error{validate.ErrPrivateKey, nil},
		},
		{
			name:    "lower-case private key block",
			records: []manifest.Record{rec("A1", append(generate.PEM(good.Cert), bytes.ReplaceAll(good.KeyPEM(), []byte("EC PRIVATE KEY"), []byte("ec private key"))...))},
			want:    []error{validate.ErrPrivateKey},
		},
		{
			name:    "bare base64 key after the certificate",
			records: []manifest.Record{rec("A1", append(generate.PEM(good.Cert), base64.StdEncoding.EncodeToString(good.KeyDER())...))},
			want:    []error{validate.ErrPrivateKey},
		},
		{
			name:    "key glued to DER",
			records: []manifest.Record{{Entry: "Device[1]", ChipID: "A1", Data: append(bytes.Clone(good.Cert.Raw), good.KeyDER()...), Encoding: manifest.DER}},
			want:    []error{validate.ErrPrivateKey},
		},
		{
			name:    "reader saw key material",
			records: []manifest.Record{{Entry: "Device[1]", ChipID: "A1", Data: generate.PEM(good.Cert), KeyMaterial: true}},
			want:    []error{validate.ErrPrivateKey},
		},
		{
			name:    "CA certificate",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.inter, generate.LeafOptions{Seed: "ca", IsCA: true}).Cert))},
			want:    []error{validate.ErrCA},
		},
		{
			name:    "code signing only",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.inter, generate.LeafOptions{Seed: "cs", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}).Cert))},
			want:    []error{validate.ErrExtKeyUsage},
		},
		{
			name:    "SHA-1 signature, chain not checked",
			records: []manifest.Record{rec("A1", generate.PEM(p.leaf(t, p.inter, generate.LeafOptions{Seed: "sha1", SignatureAlgorithm: x509.ECDSAWithSHA1}).Cert))},
			noTrust: true,
			want:    []error{validate.ErrSignatureAlgorithm},
		},
		{
			name:    "Infineon chip ID of 5000 characters",
			records: []manifest.Record{{Entry: "Device[1]", ChipID: strings.Repeat("0", 5000), Vendor: manifest.VendorInfineon, Data: generate.PEM(good.Cert)}},
			want:    []error{validate.ErrAttribute},
		},
		{
			name:    "Infineon chip ID path traversal",
			records: []manifest.Record{{Entry: "Device[1]", ChipID: "../../etc/passwd", Vendor: manifest.VendorInfineon, Data: generate.PEM(good.Cert)}},
			want:    []error{validate.ErrChipID},
		},
		{
			name: "duplicate chip ID, other certificate",
			records: []manifest.Record{
				rec("A1", generate.PEM(good.Cert)), rec("A2", generate.PEM(other.Cert)), rec("A1", generate.PEM(third.Cert)), rec("A1", generate.PEM(good.Cert)),
			},
			want: []error{nil, nil, validate.ErrDuplicateChipID, validate.ErrDuplicateCertificate},
		},
		{
			name: "duplicate Infineon chip ID in another case",
			records: []manifest.Record{
				{Entry: "a", ChipID: "0A091B5C001500070063", Vendor: manifest.VendorInfineon, Data: generate.PEM(good.Cert)},
				{Entry: "b", ChipID: "0a091b5c001500070063", Vendor: manifest.VendorInfineon, Data: generate.PEM(other.Cert)},
			},
			want: []error{nil, validate.ErrDuplicateChipID},
		},
		{
			name:    "invalid first occurrence does not claim the chip ID",
			records: []manifest.Record{rec("A1", []byte("junk")), rec("A1", generate.PEM(good.Cert))},
			want:    []error{validate.ErrNoCertificate, nil},
		},
		{
			name:    "reader problem",
			records: []manifest.Record{{Entry: "A1_E0E0.pem", ChipID: "A1", Problem: manifest.ErrTooLarge}},
			want:    []error{validate.ErrEntry},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := validate.Options{File: "reel.7z", Trust: p.store, Workers: 3}
			if tt.noTrust {
				opts.Trust = nil
			}
			var got []*validate.Checked
			err := validate.Run(t.Context(), &manifesttest.Slice{Recs: tt.records}, opts, func(d *validate.Checked) error {
				got = append(got, d)
				return nil
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d devices, want %d", len(got), len(tt.want))
			}
			for i, d := range got {
				if d.Seq != i+1 {
					t.Errorf("device %d: Seq = %d", i, d.Seq)
				}
				if tt.want[i] == nil {
					if d.Err != nil {
						t.Errorf("device %d: unexpected error %v", i, d.Err)
					}
					if d.CertificateID == "" || d.ThingName == "" || d.DER == nil {
						t.Errorf("device %d: ok but missing id/name/der: %+v", i, d)
					}
					continue
				}
				if !errors.Is(d.Err, tt.want[i]) {
					t.Errorf("device %d: error = %v, want %v", i, d.Err, tt.want[i])
					continue
				}
				var me *manifest.Error
				if !errors.As(d.Err, &me) || me.File != "reel.7z" || me.Entry == "" {
					t.Errorf("device %d: error %v does not name file and entry", i, d.Err)
				}
			}
		})
	}
}

func TestPrivateKeyNeverInError(t *testing.T) {
	p := newPKI(t)
	l := p.leaf(t, p.inter, generate.LeafOptions{Seed: "k"})
	key := l.KeyPEM()
	data := append(generate.PEM(l.Cert), key...)
	var got *validate.Checked
	err := validate.Run(t.Context(), &manifesttest.Slice{Recs: []manifest.Record{rec("A1", data)}}, validate.Options{Trust: p.store}, func(d *validate.Checked) error {
		got = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.DER != nil || got.Data != nil || got.PEM() != "" {
		t.Errorf("device with a key keeps certificate or data for import")
	}
	msg := got.Err.Error()
	body := strings.Split(string(key), "\n")[1]
	if strings.Contains(msg, body[:20]) {
		t.Errorf("error message carries key material: %s", msg)
	}
	if strings.Contains(string(data), body) {
		t.Errorf("entry buffer was not wiped")
	}
}

func TestRunOrderAndErrors(t *testing.T) {
	p := newPKI(t)
	var recs []manifest.Record
	for i := range 200 {
		l := p.leaf(t, p.inter, generate.LeafOptions{Seed: fmt.Sprint(i)})
		recs = append(recs, rec(fmt.Sprintf("C%03d", i), generate.PEM(l.Cert)))
	}
	t.Run("order kept", func(t *testing.T) {
		var chips []string
		err := validate.Run(t.Context(), &manifesttest.Slice{Recs: recs}, validate.Options{Trust: p.store, Workers: 4}, func(d *validate.Checked) error {
			chips = append(chips, d.ChipID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range chips {
			if want := fmt.Sprintf("C%03d", i); c != want {
				t.Fatalf("device %d is %s, want %s", i, c, want)
			}
		}
	})
	t.Run("source error", func(t *testing.T) {
		boom := errors.New("boom")
		n := 0
		err := validate.Run(t.Context(), &manifesttest.Slice{Recs: recs[:5], Err: boom}, validate.Options{}, func(*validate.Checked) error {
			n++
			return nil
		})
		if !errors.Is(err, boom) || n != 5 {
			t.Fatalf("err = %v after %d devices, want boom after 5", err, n)
		}
	})
	t.Run("emit error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := validate.Run(t.Context(), &manifesttest.Slice{Recs: recs}, validate.Options{}, func(*validate.Checked) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 3 {
			t.Fatalf("err = %v after %d, want stop after 3", err, n)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		err := validate.Run(ctx, &manifesttest.Slice{Recs: recs}, validate.Options{}, func(*validate.Checked) error {
			n++
			if n == 2 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}
