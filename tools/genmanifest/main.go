// Command genmanifest writes a synthetic certificate manifest signed by a
// throw-away test CA, for trying and load-testing thingpress without real
// chips:
//
//	go run ./tools/genmanifest -n 100000 -format infineon -o reel.7z
//	go run ./tools/genmanifest -n 1000 -format xml -o reel.xml -bad
//	go run ./tools/genmanifest -corpus cmd/thingpress/testdata/corpus
//
// It also writes the test root and intermediate CA as PEM (-ca-out,
// default FILE.ca.pem), for thingpress's --trust. With -bad it adds one
// chip per kind of bad certificate and prints to stderr which chip carries
// which. -curve p384 puts the test CAs on P-384, as Infineon's. -corpus
// DIR writes instead one small manifest per bad case and format, with the
// CA file DIR/ca.pem: the corpus the inspect tests run. The infineon
// format needs the 7z command (p7zip-full).
package main

import (
	"crypto/elliptic"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "genmanifest:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("genmanifest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		n       = fs.Int("n", 1000, "number of good devices")
		format  = fs.String("format", testbundle.FormatInfineon, "manifest format: infineon (7z reel bundle) or xml")
		out     = fs.String("o", "", "output `FILE` (required)")
		caOut   = fs.String("ca-out", "", "where to write the test root and intermediate CA as PEM (default FILE.ca.pem)")
		slots   = fs.String("slots", "E0E0,E0E1,E0E2", "comma-separated certificate slots")
		bad     = fs.Bool("bad", false, "add one device per kind of bad certificate, listed on stderr")
		reel    = fs.String("reel", "", "reel ID (default random)")
		batch   = fs.String("batch", "", "batch ID (default random UUID)")
		level   = fs.Int("level", 0, "7z compression level 1-9 (default 5 up to 10000 devices, else 1)")
		workers = fs.Int("workers", 0, "signing goroutines (default: number of CPUs)")
		tmp     = fs.String("tmp", "", "directory for temporary files (default: /dev/shm if it has room, else system temp)")
		verbose = fs.Bool("v", false, "print the time of each step")
		curve   = fs.String("curve", "p256", "curve of the test CAs' keys: p256 or p384")
		corpus  = fs.String("corpus", "", "write one small manifest per bad case and format into `DIR` instead")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *corpus != "" {
		if fs.NArg() > 0 || *out != "" {
			return fmt.Errorf("-corpus takes no -o and no arguments")
		}
		_, err := exec.LookPath(testbundle.SevenZip)
		return writeCorpus(*corpus, err == nil, stderr)
	}
	curves := map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384()}
	c, ok := curves[strings.ToLower(*curve)]
	if !ok {
		return fmt.Errorf("-curve %q: want p256 or p384", *curve)
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("need -o FILE and no arguments")
	}
	if *caOut == "" {
		*caOut = *out + ".ca.pem"
	}
	var sl []string
	for _, s := range strings.Split(*slots, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sl = append(sl, strings.ToUpper(s))
		}
	}
	start := time.Now()
	o := testbundle.Options{
		N: *n, Format: *format, Slots: sl, Bad: *bad, ReelID: *reel, BatchID: *batch,
		Level: *level, Workers: *workers, TempDir: *tmp,
	}
	if c != elliptic.P256() {
		pki, err := testbundle.NewPKIOn(c)
		if err != nil {
			return err
		}
		o.CA = pki
	}
	if *verbose {
		o.Progress = stderr
	}
	res, err := testbundle.Generate(*out, o)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*caOut, res.PKI.PEM(), 0o644); err != nil {
		return err
	}
	for _, b := range res.Bad {
		fmt.Fprintf(stderr, "bad device %s: %s\n", b.ChipID, b.Case)
	}
	fmt.Fprintf(stderr, "wrote %s (%s, %d chips, slots %s, reel %s, batch %s) and CA %s in %s\n",
		*out, *format, res.ChipIDs, strings.Join(res.Slots, ","), res.ReelID, res.BatchID, *caOut,
		time.Since(start).Round(time.Millisecond))
	return nil
}
