package generate

import (
	"fmt"
	"os"
	"path/filepath"
)

// Fixed IDs of the corpus, so that regenerating it changes only the
// certificates.
const (
	corpusReel  = "C0C0C0C0C0C0C0C0"
	corpusBatch = "00000000-0000-4000-a000-000000000008"
)

// WriteCorpus writes one small manifest per bad case and format into dir
// (CASE.xml, and CASE.7z when with7z), each holding one good chip and the
// bad one, all under one test PKI whose CA file is dir/ca.pem. It returns
// the formats written.
func WriteCorpus(dir string, with7z bool) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pki, err := NewPKI()
	if err != nil {
		return nil, err
	}
	formats := []string{FormatXML}
	if with7z {
		formats = append(formats, FormatInfineon)
	}
	ext := map[string]string{FormatXML: ".xml", FormatInfineon: ".7z"}
	for _, c := range BadCases {
		for _, f := range formats {
			path := filepath.Join(dir, string(c)+ext[f])
			_, err := Write(path, Options{
				N: 1, Format: f, Slots: []string{"E0E0"}, Bad: true, Cases: []BadCase{c},
				ReelID: corpusReel, BatchID: corpusBatch, CA: pki, Level: 9, Workers: 1,
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	// The PKI now holds the refused intermediates too.
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pki.PEM(), 0o644); err != nil {
		return nil, err
	}
	return formats, nil
}
