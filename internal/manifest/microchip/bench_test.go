package microchip

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/testkit/manifesttest"
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
	return manifesttest.Cached(b, fmt.Sprintf("thingpress-microchip-bench-%d-v1.json", benchEntries), func(w *bufio.Writer) {
		pki := newDevicePKI(b)
		entries := make([]string, benchEntries)
		workers := runtime.GOMAXPROCS(0)
		var wg sync.WaitGroup
		for g := range workers {
			wg.Go(func() {
				for i := g; i < benchEntries; i += workers {
					// No x5t#S256: the signer certificate's DER differs from
					// run to run (its signature is randomised), its kid not.
					h := s.header()
					delete(h, "x5t#S256")
					entries[i] = s.signed(b, h, pki.payload(fmt.Sprintf("0123%014x", i))).json(b)
				}
			})
		}
		wg.Wait()
		_, _ = w.WriteString("[\n")
		for i, e := range entries {
			if i > 0 {
				_, _ = w.WriteString(",\n")
			}
			_, _ = w.WriteString(e)
		}
		_, _ = w.WriteString("\n]\n")
	})
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
		n := manifesttest.Count(b, r.NextDevice, func(d Device) {
			if d.Problem != nil {
				b.Fatalf("%s: %v", d.Entry, d.Problem)
			}
		})
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
