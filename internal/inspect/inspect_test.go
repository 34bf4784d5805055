package inspect

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
)

type recs []manifest.Record

func (r *recs) Next() (manifest.Record, error) {
	if len(*r) == 0 {
		return manifest.Record{}, io.EOF
	}
	x := (*r)[0]
	*r = (*r)[1:]
	return x, nil
}
func (r *recs) Close() error { return nil }

// TestRunTable checks the table's summary and that the invalid devices are
// listed after it, aligned, even when there are many of them.
func TestRunTable(t *testing.T) {
	root, err := generate.NewRoot("R")
	if err != nil {
		t.Fatal(err)
	}
	var src recs
	for i := range 3 {
		l, err := root.Issue(generate.LeafOptions{Seed: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, manifest.Record{Entry: fmt.Sprintf("C%d_E0E0.pem", i), ChipID: fmt.Sprintf("C%d", i), Slot: "E0E0", ReelID: "R1", Data: generate.PEM(l.Cert)})
	}
	for i := range 500 {
		src = append(src, manifest.Record{Entry: fmt.Sprintf("BAD%03d_E0E0.pem", i), ChipID: fmt.Sprintf("BAD%03d", i), Slot: "E0E0", Data: []byte("junk")})
	}
	all := slices.Clone(src)
	var out bytes.Buffer
	sum, err := Run(t.Context(), &src, &out, Options{Output: Table, Summary: Summary{File: "f.7z", Format: "infineon"}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Valid != 3 || sum.Invalid != 500 || sum.Reasons["no certificate"] != 500 {
		t.Errorf("summary %+v", sum)
	}
	text := out.String()
	for _, want := range []string{
		"Manifest  f.7z (infineon, slot E0E0)", "Reel      R1", "NOT VERIFIED", "Devices   503: 3 ok, 500 invalid",
		"Problems  no certificate 500", "ENTRY            CHIP    REASON", "BAD019_E0E0.pem  BAD019  no certificate in entry",
		"... and 480 more invalid devices (--output json lists every device)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(text, "BAD020") {
		t.Errorf("the table lists more than %d invalid devices", DefaultMaxListed)
	}
	// No cap: every one is listed.
	src = all
	out.Reset()
	if _, err := Run(t.Context(), &src, &out, Options{Output: Table, MaxListed: -1, Summary: Summary{File: "f.7z", Format: "infineon"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "BAD499_E0E0.pem  BAD499  no certificate in entry") || strings.Contains(out.String(), "more invalid devices") {
		t.Errorf("MaxListed -1 does not list every device:\n%s", out.String())
	}
	if strings.Index(text, "Devices") > strings.Index(text, "BAD000") {
		t.Error("invalid devices come before the summary")
	}
}
