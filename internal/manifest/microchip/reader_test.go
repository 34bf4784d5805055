package microchip

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
)

const uid = "0123f2408ea1fcf201"

func TestEntries(t *testing.T) {
	now := time.Now()
	signer := newTestSigner(t, "Manifest Signer test", nil, now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0))
	other := newTestSigner(t, "Other signer", nil, now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0))
	// impostor uses the signer's kid with a key of its own.
	impostor := newTestSigner(t, "Manifest Signer test", signer.cert.SubjectKeyId, now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0))
	oldSigner := newTestSigner(t, "Old signer", nil, time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	pki := newDevicePKI(t)
	strange := newDevicePKI(t)

	good := func() (map[string]any, map[string]any) { return signer.header(), pki.payload(uid) }
	keys := func(p map[string]any) []any { return p["publicKeySet"].(map[string]any)["keys"].([]any) }
	entry := func(mod func(h, p map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string {
			h, p := good()
			mod(h, p)
			return signer.signed(t, h, p).json(t)
		}
	}
	tests := []struct {
		name    string
		entry   func(t *testing.T) string
		signers *Signers // nil: signer only
		want    error    // nil: the entry must verify
		reason  string   // the exact Problem
	}{
		{
			name:  "good",
			entry: entry(func(h, p map[string]any) {}),
		},
		{
			name: "unprotected uniqueId differs only in case",
			entry: func(t *testing.T) string {
				h, p := good()
				e := signer.signed(t, h, p)
				e.Header.UniqueID = strings.ToUpper(uid)
				return e.json(t)
			},
		},
		{
			name: "no unprotected header",
			entry: func(t *testing.T) string {
				h, p := good()
				e := signer.signed(t, h, p)
				e.Header = nil
				return e.json(t)
			},
		},
		{
			name:    "no x5t#S256, two signers under the kid",
			entry:   entry(func(h, p map[string]any) { delete(h, "x5t#S256") }),
			signers: must(NewSigners(impostor.cert, signer.cert)),
		},
		{
			name:    "signer among others",
			entry:   entry(func(h, p map[string]any) {}),
			signers: must(NewSigners(other.cert, impostor.cert, signer.cert)),
		},
		{
			name: "payload changed after signing",
			entry: func(t *testing.T) string {
				h, p := good()
				e := signer.signed(t, h, p)
				p["uniqueId"] = "0123f2408ea1fcf202"
				e.Payload = b64json(t, p)
				return e.json(t)
			},
			want:   ErrSignature,
			reason: "signature does not verify: with the key of Manifest Signer test",
		},
		{
			name: "signed by another key under the signer's kid",
			entry: func(t *testing.T) string {
				h, p := good()
				return impostor.signed(t, h, p).json(t)
			},
			want:   ErrSignature,
			reason: "signature does not verify: with the key of Manifest Signer test",
		},
		{
			name: "signature of another entry",
			entry: func(t *testing.T) string {
				h, p := good()
				e := signer.signed(t, h, p)
				p["groupId"] = "X"
				e.Signature = signer.signed(t, h, p).Signature
				return e.json(t)
			},
			want:   ErrSignature,
			reason: "signature does not verify: with the key of Manifest Signer test",
		},
		{
			name: "signed by an unknown signer",
			entry: func(t *testing.T) string {
				_, p := good()
				return other.signed(t, other.header(), p).json(t)
			},
			want:   ErrUnknownSigner,
			reason: "no known manifest signer: for kid " + other.kid() + " and x5t#S256 " + other.x5t(),
		},
		{
			name:   "x5t#S256 of another certificate",
			entry:  entry(func(h, p map[string]any) { h["x5t#S256"] = other.x5t() }),
			want:   ErrUnknownSigner,
			reason: "no known manifest signer: for kid " + signer.kid() + " and x5t#S256 " + other.x5t(),
		},
		{
			name:  "no x5t#S256",
			entry: entry(func(h, p map[string]any) { delete(h, "x5t#S256") }),
		},
		{
			name:   "no kid",
			entry:  entry(func(h, p map[string]any) { delete(h, "kid") }),
			want:   ErrUnknownSigner,
			reason: "no known manifest signer: protected header has no kid",
		},
		{
			name:   "alg none",
			entry:  entry(func(h, p map[string]any) { h["alg"] = "none" }),
			want:   ErrSignature,
			reason: `signature does not verify: alg "none", want ES256`,
		},
		{
			name:   "crit",
			entry:  entry(func(h, p map[string]any) { h["crit"] = []string{"exp"} }),
			want:   ErrSignature,
			reason: "signature does not verify: protected header has crit, which is not supported",
		},
		{
			name: "DER signature",
			entry: func(t *testing.T) string {
				h, p := good()
				e := signer.signed(t, h, p)
				e.Signature = base64.RawURLEncoding.EncodeToString(make([]byte, 70))
				return e.json(t)
			},
			want:   ErrSignature,
			reason: "signature does not verify: signature is not 64 bytes of base64url",
		},
		{
			name: "unprotected uniqueId disagrees",
			entry: func(t *testing.T) string {
				h, p := good()
				e := signer.signed(t, h, p)
				e.Header.UniqueID = "0123aaaaaaaaaaaaaa"
				return e.json(t)
			},
			want:   ErrUniqueID,
			reason: `bad uniqueId: unprotected header names "0123aaaaaaaaaaaaaa", the signed payload "0123f2408ea1fcf201"`,
		},
		{
			name:   "no uniqueId in the payload",
			entry:  entry(func(h, p map[string]any) { delete(p, "uniqueId") }),
			want:   ErrUniqueID,
			reason: `bad uniqueId: signed uniqueId "" is not 1 to 64 hex characters`,
		},
		{
			name:   "uniqueId not hex",
			entry:  entry(func(h, p map[string]any) { p["uniqueId"] = "../etc" }),
			want:   ErrUniqueID,
			reason: `bad uniqueId: signed uniqueId "../etc" is not 1 to 64 hex characters`,
		},
		{
			name:   "version 2 without publicKeySet",
			entry:  entry(func(h, p map[string]any) { p["version"] = 2; delete(p, "publicKeySet") }),
			want:   ErrNoCertificate,
			reason: "no device certificate: signed payload (version 2) has no publicKeySet",
		},
		{
			name:   "no key with x5c",
			entry:  entry(func(h, p map[string]any) { delete(keys(p)[0].(map[string]any), "x5c") }),
			want:   ErrNoCertificate,
			reason: "no device certificate: no key in publicKeySet has x5c",
		},
		{
			name:   "x5c without the CA",
			entry:  entry(func(h, p map[string]any) { keys(p)[0].(map[string]any)["x5c"] = pki.x5c[:1] }),
			want:   ErrChain,
			reason: "device certificate not signed by the CA certificate after it: x5c holds no CA certificate after the device certificate",
		},
		{
			name:   "x5c with another CA",
			entry:  entry(func(h, p map[string]any) { keys(p)[0].(map[string]any)["x5c"] = []string{pki.x5c[0], strange.x5c[1]} }),
			want:   ErrChain,
			reason: "device certificate not signed by the CA certificate after it: x509: ECDSA verification failure",
		},
		{
			name:   "x5c not base64",
			entry:  entry(func(h, p map[string]any) { keys(p)[0].(map[string]any)["x5c"] = []string{"!!!!", pki.x5c[1]} }),
			want:   ErrPayload,
			reason: "bad signed payload: x5c[0]: base64: illegal base64 data at input byte 0",
		},
		{
			name:   "private key in a JWK",
			entry:  entry(func(h, p map[string]any) { keys(p)[2].(map[string]any)["d"] = "AAAA" }),
			want:   ErrPrivateKey,
			reason: "PRIVATE KEY MATERIAL in entry: the entry is never imported or sent anywhere: a key in publicKeySet has a private part (d)",
		},
		{
			name:   "provisioned before the signer was valid",
			entry:  entry(func(h, p map[string]any) { p["provisioningTimestamp"] = "2000-01-01T00:00:00Z" }),
			want:   ErrSignerTime,
			reason: "signer not valid at the provisioning time: Manifest Signer test is valid from " + signer.cert.NotBefore.UTC().Format(time.RFC3339) + " to " + signer.cert.NotAfter.UTC().Format(time.RFC3339) + ", the entry was provisioned at 2000-01-01T00:00:00Z",
		},
		{
			name: "expired signer",
			entry: func(t *testing.T) string {
				_, p := good()
				return oldSigner.signed(t, oldSigner.header(), p).json(t)
			},
			signers: must(NewSigners(oldSigner.cert)),
			want:    ErrSignerTime,
			reason:  "signer not valid at the provisioning time: Old signer is valid from 2019-01-01T00:00:00Z to 2020-01-01T00:00:00Z, the entry was provisioned at 2025-06-01T20:14:53.773Z",
		},
		{
			name:   "bad provisioningTimestamp",
			entry:  entry(func(h, p map[string]any) { p["provisioningTimestamp"] = "yesterday" }),
			want:   ErrPayload,
			reason: `bad signed payload: provisioningTimestamp "yesterday" is not an RFC 3339 time`,
		},
		{
			name:   "payload null",
			entry:  func(t *testing.T) string { return signer.signed(t, signer.header(), nil).json(t) },
			want:   ErrUniqueID,
			reason: `bad uniqueId: signed uniqueId "" is not 1 to 64 hex characters`,
		},
		{
			name:   "no signature",
			entry:  func(t *testing.T) string { return `{"protected":"e30","payload":"e30"}` },
			want:   ErrEntry,
			reason: "not a flattened JWS entry: protected, payload and signature are required",
		},
		{
			name:   "general serialisation",
			entry:  func(t *testing.T) string { return `{"payload":"e30","signatures":[]}` },
			want:   ErrEntry,
			reason: "not a flattened JWS entry: general JWS serialisation (signatures) is not supported",
		},
		{
			name:   "a number",
			entry:  func(t *testing.T) string { return `42` },
			want:   ErrEntry,
			reason: "not a flattened JWS entry: json: cannot unmarshal number into Go value of type microchip.jws",
		},
		{
			name:   "protected header not base64url",
			entry:  func(t *testing.T) string { return `{"protected":"e30=","payload":"e30","signature":""}` },
			want:   ErrEntry,
			reason: "not a flattened JWS entry: protected header: base64url: illegal base64 data at input byte 3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.signers
			if s == nil {
				s = signer.signers(t)
			}
			devs, err := readAll(t, strings.NewReader("[\n"+tt.entry(t)+"\n]\n"), manifest.Options{}, s)
			d := manifesttest.Single(t, devs, err)
			if d.Entry != "entry[1]" {
				t.Errorf("Entry %q, want entry[1]", d.Entry)
			}
			if tt.want == nil {
				if d.Problem != nil {
					t.Fatalf("Problem: %v", d.Problem)
				}
				if !bytes.Equal(d.Data, pki.leaf.Cert.Raw) || d.Encoding != manifest.DER {
					t.Errorf("Data is not the leaf's DER")
				}
				if d.ThingName != strings.ToUpper(uid) || d.ChipID != uid {
					t.Errorf("ThingName %q ChipID %q", d.ThingName, d.ChipID)
				}
				if d.Signer == nil || d.Signer.Subject.CommonName != "Manifest Signer test" {
					t.Errorf("Signer %v", d.Signer)
				}
				want := map[string]string{"partNumber": "ATECC608C-TNGTLSU-B", "groupId": "P5C8Q2UDYWLQ7HB4", "provisioningTimestamp": "2025-06-01T20:14:53.773Z"}
				if got := d.Attributes(); !equalMaps(got, want) {
					t.Errorf("Attributes %v, want %v", got, want)
				}
				return
			}
			if d.Problem == nil {
				t.Fatalf("no Problem, want %v", tt.want)
			}
			if !errors.Is(d.Problem, tt.want) {
				t.Errorf("Problem %q does not wrap %v", d.Problem, tt.want)
			}
			if malformed := !errors.Is(tt.want, ErrNoCertificate); errors.Is(d.Problem, manifest.ErrMalformed) != malformed {
				t.Errorf("Problem %q: wraps manifest.ErrMalformed is %t, want %t", d.Problem, !malformed, malformed)
			}
			if got := d.Problem.Error(); got != tt.reason {
				t.Errorf("Problem\n %q, want\n %q", got, tt.reason)
			}
			if d.Data != nil {
				t.Errorf("a device with a Problem has %d bytes of Data", len(d.Data))
			}
			if (errors.Is(tt.want, ErrSignature) || errors.Is(tt.want, ErrUnknownSigner)) && (d.ThingName != "" || d.Signer != nil) {
				t.Errorf("an entry that does not verify has ThingName %q, Signer %v", d.ThingName, d.Signer)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestManifestErrors(t *testing.T) {
	now := time.Now()
	signer := newTestSigner(t, "Manifest Signer test", nil, now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0))
	pki := newDevicePKI(t)
	e := signer.signed(t, signer.header(), pki.payload(uid)).json(t)
	tests := []struct {
		name   string
		doc    string
		limits manifest.Limits
		want   error
		entry  string
		msg    string
		before int // devices read before the error
	}{
		{name: "empty", doc: "", want: manifest.ErrMalformed, msg: "empty file"},
		{name: "object", doc: `{"a":1}`, want: manifest.ErrFormat, msg: "not a JSON array"},
		{name: "string", doc: `"x"`, want: manifest.ErrFormat, msg: "not a JSON array"},
		{name: "cut in an entry", doc: "[" + e + "," + e[:100], want: manifest.ErrMalformed, entry: "entry[2]", msg: "file ends inside the array", before: 1},
		{name: "no closing bracket", doc: "[" + e, want: manifest.ErrMalformed, entry: "entry[1]", msg: "file ends inside the array", before: 1},
		{name: "syntax error", doc: "[" + e + ", {]", want: manifest.ErrMalformed, entry: "entry[2]", msg: "invalid character ']'", before: 1},
		{name: "data after the array", doc: "[" + e + "] []", want: manifest.ErrMalformed, entry: "entry[1]", msg: "data after the array", before: 1},
		{
			name: "too many entries", doc: "[" + e + "," + e + "]", limits: manifest.Limits{MaxEntries: 1},
			want: manifest.ErrTooLarge, entry: "entry[2]", msg: "more than 1 entries", before: 1,
		},
		{
			name: "entry too long", doc: `[{"protected":"` + strings.Repeat("A", 1<<20) + `"}]`, limits: manifest.Limits{MaxEntryBytes: 4096},
			want: manifest.ErrTooLarge, entry: "entry[1]", msg: "an array element longer than 16384 bytes",
		},
		{
			name: "white space too long", doc: "[" + e + "," + strings.Repeat(" ", 1<<20) + e + "]", limits: manifest.Limits{MaxEntryBytes: 4096},
			want: manifest.ErrTooLarge, entry: "entry[2]", msg: "an array element longer than 16384 bytes", before: 1,
		},
		{
			name: "input too long", doc: "[" + e + "," + e + "]", limits: manifest.Limits{MaxTotalBytes: int64(len(e) + 10)},
			want: manifest.ErrTooLarge, entry: "entry[2]", msg: "input longer than", before: 1,
		},
		{name: "deep nesting", doc: "[" + strings.Repeat("[", 20000), want: manifest.ErrMalformed, entry: "entry[1]", msg: "exceeded max depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs, err := readAll(t, strings.NewReader(tt.doc), manifest.Options{Limits: tt.limits}, signer.signers(t))
			manifesttest.CheckFatal(t, err, "test.json", tt.want, tt.entry, tt.msg)
			if len(devs) != tt.before {
				t.Errorf("read %d devices before the error, want %d", len(devs), tt.before)
			}
			for _, d := range devs {
				if d.Problem != nil {
					t.Errorf("%s: %v", d.Entry, d.Problem)
				}
			}
		})
	}
	t.Run("exact total limit", func(t *testing.T) {
		doc := "[" + e + "]"
		devs, err := readAll(t, strings.NewReader(doc), manifest.Options{Limits: manifest.Limits{MaxTotalBytes: int64(len(doc))}}, signer.signers(t))
		if err != nil || len(devs) != 1 {
			t.Fatalf("got %d devices and %v, want 1", len(devs), err)
		}
	})
	t.Run("read error at the total limit", func(t *testing.T) {
		doc := "[" + e + "]"
		fail := errors.New("disk on fire")
		_, err := readAll(t, io.MultiReader(strings.NewReader(doc), iotest.ErrReader(fail)), manifest.Options{Limits: manifest.Limits{MaxTotalBytes: int64(len(doc))}}, signer.signers(t))
		manifesttest.CheckFatal(t, err, "test.json", fail, "entry[1]", "read: disk on fire")
	})
	t.Run("empty array", func(t *testing.T) {
		devs, err := readAll(t, strings.NewReader(" [ ] \n"), manifest.Options{}, signer.signers(t))
		if err != nil || len(devs) != 0 {
			t.Fatalf("got %d devices and %v, want none", len(devs), err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		fail := errors.New("disk on fire")
		_, err := readAll(t, io.MultiReader(strings.NewReader("["+e+","), iotest.ErrReader(fail)), manifest.Options{}, signer.signers(t))
		manifesttest.CheckFatal(t, err, "test.json", fail, "entry[2]", "read: disk on fire")
	})
	t.Run("one byte at a time", func(t *testing.T) {
		devs, err := readAll(t, iotest.OneByteReader(strings.NewReader("["+e+","+e+"]")), manifest.Options{}, signer.signers(t))
		if err != nil || len(devs) != 2 || devs[1].Problem != nil {
			t.Fatalf("got %d devices and %v", len(devs), err)
		}
	})
}

func TestSigners(t *testing.T) {
	def := DefaultSigners().List()
	if len(def) != 5 {
		t.Fatalf("%d built-in signers, want 5", len(def))
	}
	if got := def[4].kid; got != "TCnpnzYB8M3CO776ByPJ2yX3KYo" {
		t.Errorf("signer 5 kid %s", got)
	}
	if got := def[4].x5t; got != "Vx2ZhBEX46-zTyiIYEWQP6eFzCg90ugGjh5epGBM4OM" {
		t.Errorf("signer 5 x5t#S256 %s", got)
	}
	s := &Signers{}
	if err := s.AddPEM([]byte("no pem here")); !errors.Is(err, ErrSignerCert) {
		t.Errorf("AddPEM of no PEM: %v", err)
	}
	ca, err := generate.NewRoot("rsa? no, p256")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddPEM(generate.PEM(ca.Cert)); err != nil {
		t.Errorf("AddPEM of a P-256 certificate: %v", err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384 := newTestSigner(t, "x", nil, time.Now(), time.Now().Add(time.Hour))
	p384.cert.PublicKey = key.Public()
	if err := s.Add(p384.cert); !errors.Is(err, ErrSignerCert) || !strings.Contains(err.Error(), "not ECDSA P-256") {
		t.Errorf("Add of a P-384 certificate: %v", err)
	}
}

func TestRealSamples(t *testing.T) {
	tests := []struct {
		file   string
		sha256 string // the sample's, so that a changed sample cannot skew the counts
		want   error  // nil: every entry verifies
		reason string
	}{
		{file: "ECC608C-TNGTLSU-B.json", sha256: "1e4691f8604d8a1be3a39aebe1ffb4a75e22d6c69ab48f329d4b284a364b40d5"},
		{
			file: "ECC608-TMNGTLSS-B.json", sha256: "22ffa0b7f45b71d78b29b8f767bbc5b6b599daede6d60091d4f942626d99104c",
			want: ErrNoCertificate, reason: "no device certificate: signed payload (version 2) has no publicKeySet",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := manifesttest.Sample(t, tt.file)
			manifesttest.CheckSHA256(t, path, tt.sha256)
			r, err := Open(path, manifest.Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			n := 0
			for _, d := range manifesttest.All(t, r.NextDevice) {
				n++
				if d.Signer == nil || d.Signer.Subject.CommonName != "Manifest Signer 005" {
					t.Errorf("%s: signer %v, want Manifest Signer 005", d.Entry, d.Signer)
				}
				if d.ThingName != strings.ToUpper(d.ChipID) || len(d.ThingName) != 18 {
					t.Errorf("%s: ThingName %q ChipID %q", d.Entry, d.ThingName, d.ChipID)
				}
				if tt.want == nil {
					if d.Problem != nil || len(d.Data) == 0 {
						t.Errorf("%s: Problem %v, %d bytes", d.Entry, d.Problem, len(d.Data))
					}
					if d.PartNumber != "ATECC608C-TNGTLSU-B" || d.GroupID == "" || d.ProvisioningTimestamp.IsZero() {
						t.Errorf("%s: attributes %v", d.Entry, d.Attributes())
					}
					continue
				}
				if !errors.Is(d.Problem, tt.want) || d.Problem.Error() != tt.reason {
					t.Errorf("%s: Problem %v, want %q", d.Entry, d.Problem, tt.reason)
				}
			}
			if n != 10 {
				t.Errorf("%d entries, want 10", n)
			}
		})
	}
}
