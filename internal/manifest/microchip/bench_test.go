package microchip

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
)

const benchEntries = 100_000

// benchSignerSeed makes the bench signer's key, and so the cached
// manifest, the same from run to run.
const benchSignerSeed = "thingpress microchip bench signer v1"

// benchSigner returns a signer whose key is derived from benchSignerSeed.
func benchSigner(b *testing.B) *testSigner {
	b.Helper()
	sum := sha256.Sum256([]byte(benchSignerSeed))
	d := new(big.Int).SetBytes(sum[:])
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
	if err != nil {
		b.Fatal(err)
	}
	return newTestSignerKey(b, key, "Manifest Signer bench", nil, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC))
}

// benchManifest returns the path of a manifest of benchEntries entries,
// each signed by the bench signer and carrying one device certificate
// chain (the same one: the reader does not look for duplicates). It is
// made once in os.TempDir and reused by later runs.
func benchManifest(b *testing.B, s *testSigner) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("thingpress-microchip-bench-%d-v1.json", benchEntries))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	b.Logf("generating %s", path)
	pki := newDevicePKI(b)
	entries := make([]string, benchEntries)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < benchEntries; i += workers {
				// No x5t#S256: the signer certificate's DER differs from
				// run to run (its signature is randomised), its kid not.
				h := s.header()
				delete(h, "x5t#S256")
				entries[i] = s.signed(b, h, pki.payload(fmt.Sprintf("0123%014x", i))).json(b)
			}
		})
	}
	wg.Wait()
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriter(f)
	// A bufio.Writer keeps its first error; Flush returns it.
	_, _ = w.WriteString("[\n")
	for i, e := range entries {
		if i > 0 {
			_, _ = w.WriteString(",\n")
		}
		_, _ = w.WriteString(e)
	}
	_, _ = w.WriteString("\n]\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkRead100k reads a 100,000-entry manifest per op, verifying
// each entry's signature and its device certificate's, and reports
// entries/s; BenchmarkTwoP256Verifications is its ceiling.
func BenchmarkRead100k(b *testing.B) {
	s := benchSigner(b)
	path := benchManifest(b, s)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	signers := s.signers(b)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		r, err := Open(path, manifest.Options{}, signers)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			d, err := r.NextDevice()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if d.Problem != nil {
				b.Fatalf("%s: %v", d.Entry, d.Problem)
			}
			n++
		}
		r.Close()
		if n != benchEntries {
			b.Fatalf("read %d entries, want %d", n, benchEntries)
		}
	}
	b.ReportMetric(float64(b.N)*benchEntries/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkTwoP256Verifications does per op what the reader does per
// entry in cryptography: one raw ES256 and one ASN.1 ECDSA P-256
// verification.
func BenchmarkTwoP256Verifications(b *testing.B) {
	s := benchSigner(b)
	sum := sha256.Sum256([]byte("protected.payload"))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	asn1, err := ecdsa.SignASN1(rand.Reader, s.key, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	pub := &s.key.PublicKey
	for b.Loop() {
		if !ecdsa.Verify(pub, sum[:], r, ss) || !ecdsa.VerifyASN1(pub, sum[:], asn1) {
			b.Fatal("verification failed")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
