package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

// Fixed IDs of the corpus, so that regenerating it changes only the
// certificates.
const (
	corpusReel  = "C0C0C0C0C0C0C0C0"
	corpusBatch = "00000000-0000-4000-a000-000000000008"
)

// writeCorpus writes one small manifest per bad case and format into dir
// (CASE.xml, and CASE.7z when 7z is there), each holding one good chip and
// the bad one, all under one test PKI whose CA file is dir/ca.pem.
func writeCorpus(dir string, with7z bool, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pki, err := testbundle.NewPKI()
	if err != nil {
		return err
	}
	formats := []string{testbundle.FormatXML}
	if with7z {
		formats = append(formats, testbundle.FormatInfineon)
	}
	ext := map[string]string{testbundle.FormatXML: ".xml", testbundle.FormatInfineon: ".7z"}
	for _, c := range testbundle.BadCases {
		for _, f := range formats {
			path := filepath.Join(dir, string(c)+ext[f])
			_, err := testbundle.Generate(path, testbundle.Options{
				N: 1, Format: f, Slots: []string{"E0E0"}, Bad: true, Cases: []testbundle.BadCase{c},
				ReelID: corpusReel, BatchID: corpusBatch, CA: pki, Level: 9, Workers: 1,
			})
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	// The PKI now holds the refused intermediates too.
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pki.PEM(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %d cases in %v to %s\n", len(testbundle.BadCases), formats, dir)
	return nil
}
