package inspect

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/outcome"
	"github.com/thingpress/thingpress/internal/validate"
)

// Output selects how devices are written.
type Output string

// The outputs inspect writes.
const (
	Table Output = "table"
	JSON  Output = "json"
)

// ErrOutput is an unknown --output value.
var ErrOutput = errors.New("unknown output")

// ParseOutput turns an --output value, in any letter case, into an Output.
func ParseOutput(s string) (Output, error) {
	switch o := Output(strings.ToLower(s)); o {
	case Table, JSON:
		return o, nil
	}
	return "", fmt.Errorf("%w %q (want table or json)", ErrOutput, s)
}

// Line is the JSON form of one checked device, one line of --output json.
type Line struct {
	Vendor        string `json:"vendor,omitempty"`
	ChipID        string `json:"chip_id"`
	Slot          string `json:"slot"`
	ThingName     string `json:"thing_name"`
	CertificateID string `json:"certificate_id"`
	Subject       string `json:"subject"`
	Issuer        string `json:"issuer"`
	NotBefore     string `json:"not_before"`
	NotAfter      string `json:"not_after"`
	Status        string `json:"status"`
	Error         string `json:"error"`
	ReelID        string `json:"reel_id,omitempty"`
	BatchID       string `json:"batch_id,omitempty"`
	Entry         string `json:"entry"`
}

// Status values of a Line.
const (
	StatusOK      = "ok"
	StatusInvalid = "invalid"
)

// NewLine describes a checked device.
func NewLine(d *validate.Checked) Line {
	r := Line{
		Vendor:        d.Vendor,
		ChipID:        d.ChipID,
		Slot:          d.Slot,
		ThingName:     d.ThingName,
		CertificateID: d.CertificateID,
		Status:        StatusOK,
		ReelID:        d.ReelID,
		BatchID:       d.BatchID,
		Entry:         d.Entry,
	}
	if c := d.Cert; c != nil {
		r.Subject = c.Subject.String()
		r.Issuer = c.Issuer.String()
		r.NotBefore = c.NotBefore.UTC().Format(time.RFC3339)
		r.NotAfter = c.NotAfter.UTC().Format(time.RFC3339)
	}
	if d.Err != nil {
		r.Status = StatusInvalid
		r.Error = manifest.Reason(d.Err)
	}
	return r
}

// maxDistinct caps the distinct reel, batch and issuer names a summary
// keeps, so a hostile manifest cannot grow it without bound.
const maxDistinct = 16

// Summary counts what a manifest holds.
type Summary struct {
	File   string
	Format string
	// Vendor is the chip maker (a manifest.Vendor constant); the first
	// device's when the caller leaves it empty.
	Vendor       string
	Slot         string
	ChainChecked bool
	// ValidAt is the --valid-at time validity was checked at; empty
	// means now.
	ValidAt string
	// SignedBy names the signers that a signed (Microchip) manifest's
	// entries were verified against.
	SignedBy []string
	Anchors  []string
	// Refused names the trust file's certificates that are not trusted
	// to issue devices (trust.Store.Rejected).
	Refused []string
	Reels   []string
	Batches []string
	Issuers map[string]int
	// Counts counts the devices after the checks.
	outcome.Counts
	NotBefore time.Time // earliest of the valid devices
	NotAfter  time.Time // latest of the valid devices
	// Unlisted counts the invalid devices past the table's cap.
	Unlisted int
	more     map[string]bool
}

func (s *Summary) addName(list *[]string, kind, v string) {
	if v == "" || slices.Contains(*list, v) {
		return
	}
	if len(*list) >= maxDistinct {
		if s.more == nil {
			s.more = map[string]bool{}
		}
		s.more[kind] = true
		return
	}
	*list = append(*list, v)
}

// Add counts one device.
func (s *Summary) Add(d *validate.Checked) {
	if s.Issuers == nil {
		s.Issuers = map[string]int{}
	}
	if s.Vendor == "" {
		s.Vendor = d.Vendor
	}
	s.addName(&s.Reels, "reel", d.ReelID)
	s.addName(&s.Batches, "batch", d.BatchID)
	if s.Slot == "" {
		s.Slot = d.Slot
	}
	s.Check(d)
	if !d.OK() {
		return
	}
	if _, ok := s.Issuers[d.Issuer]; ok || len(s.Issuers) < maxDistinct {
		s.Issuers[d.Issuer]++
	} else {
		s.Issuers["(others)"]++
	}
	if c := d.Cert; c != nil {
		if s.NotBefore.IsZero() || c.NotBefore.Before(s.NotBefore) {
			s.NotBefore = c.NotBefore
		}
		if c.NotAfter.After(s.NotAfter) {
			s.NotAfter = c.NotAfter
		}
	}
}

// Options configure Run.
type Options struct {
	Output   Output
	Validate validate.Options
	// Summary is the starting summary: file, format and trust facts
	// that the caller knows.
	Summary Summary
	// TempDir holds the spool of invalid devices for the table output.
	TempDir string
	// MaxListed caps the invalid devices the table lists, the rest
	// counted (0: DefaultMaxListed; negative: no cap). The JSON output
	// has every device.
	MaxListed int
	// OnDevice, if set, is called after each device is checked, for a
	// progress display.
	OnDevice func()
	// AfterRead, if set, is called when every device is checked, before
	// the table is written (to end a progress display first).
	AfterRead func()
}

// DefaultMaxListed is how many invalid devices the table lists.
const DefaultMaxListed = 20

// Run validates every device of src and writes them to out. It returns
// the summary; invalid devices are not an error.
func Run(ctx context.Context, src manifest.Source, out io.Writer, opts Options) (*Summary, error) {
	sum := opts.Summary
	switch opts.Output {
	case JSON:
		bw := bufio.NewWriter(out)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		err := validate.Run(ctx, src, opts.Validate, func(d *validate.Checked) error {
			sum.Add(d)
			if opts.OnDevice != nil {
				opts.OnDevice()
			}
			return enc.Encode(NewLine(d))
		})
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
		return &sum, err
	case Table, "":
		// Invalid devices are listed after the summary, so they wait in
		// a temporary file rather than in memory.
		spool, err := os.CreateTemp(opts.TempDir, "thingpress-inspect-*")
		if err != nil {
			return nil, err
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		sw := bufio.NewWriter(spool)
		widths := [2]int{len("ENTRY"), len("CHIP")}
		limit := opts.MaxListed
		if limit == 0 {
			limit = DefaultMaxListed
		}
		err = validate.Run(ctx, src, opts.Validate, func(d *validate.Checked) error {
			sum.Add(d)
			if opts.OnDevice != nil {
				opts.OnDevice()
			}
			if d.OK() {
				return nil
			}
			if limit >= 0 && sum.Invalid > limit {
				sum.Unlisted++
				return nil
			}
			name := d.ChipID
			if name == "" {
				name = "-"
			}
			entry, chip := clean(d.Entry), clean(name)
			if len(chip) > maxChipColumn {
				chip = chip[:maxChipColumn] + "..."
			}
			widths[0] = max(widths[0], len(entry))
			widths[1] = max(widths[1], len(chip))
			_, err := fmt.Fprintf(sw, "%s\t%s\t%s\n", entry, chip, clean(manifest.Reason(d.Err)))
			return err
		})
		if opts.AfterRead != nil {
			opts.AfterRead()
		}
		if err != nil {
			return &sum, err
		}
		if err := sw.Flush(); err != nil {
			return &sum, err
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return &sum, err
		}
		return &sum, writeTable(out, &sum, spool, widths)
	}
	return nil, fmt.Errorf("%w %q", ErrOutput, opts.Output)
}

// clean keeps a manifest's text from breaking the table's lines.
// maxChipColumn caps the chip IDs shown in the table: an invalid one can
// be thousands of characters.
const maxChipColumn = 40

func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r < 0x20 {
			return ' '
		}
		return r
	}, s)
}

func writeTable(out io.Writer, s *Summary, invalid io.Reader, widths [2]int) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	if s.Slot != "" {
		row("Manifest", fmt.Sprintf("%s (%s, slot %s)", s.File, s.Format, s.Slot))
	} else {
		row("Manifest", fmt.Sprintf("%s (%s)", s.File, s.Format))
	}
	row("Vendor", orNone(s.Vendor))
	row("Reel", s.list(s.Reels, "reel"))
	row("Batch", s.list(s.Batches, "batch"))
	if s.ChainChecked {
		row("Chain", "verified against "+strings.Join(s.Anchors, ", "))
		if len(s.Refused) > 0 {
			row("Refused", strings.Join(s.Refused, ", ")+" (in the trust file, but not CAs that may issue devices)")
		}
	}
	if len(s.SignedBy) > 0 {
		row("Signed", "each entry's signature verified against "+strings.Join(s.SignedBy, ", ")+"; its certificate against the CA certificate after it")
	}
	if !s.ChainChecked {
		if len(s.SignedBy) > 0 {
			row("Chain", "not checked against a trust store (give --trust to): the manifest signature authenticates the devices")
		} else {
			row("Chain", "NOT VERIFIED (--no-verify-chain): certificates were not checked against any CA")
		}
	}
	var issuers []string
	for name, n := range s.Issuers {
		if name == "" {
			name = "(no CN)"
		}
		issuers = append(issuers, fmt.Sprintf("%s (%d)", name, n))
	}
	slices.Sort(issuers)
	row("Issuers", orNone(strings.Join(issuers, ", ")))
	row("Devices", fmt.Sprintf("%d: %d ok, %d invalid", s.Total, s.Valid, s.Invalid))
	if s.ValidAt != "" {
		row("Valid at", s.ValidAt+" (--valid-at), not now")
	}
	if !s.NotBefore.IsZero() {
		row("Validity", fmt.Sprintf("%s to %s", s.NotBefore.UTC().Format(time.RFC3339), s.NotAfter.UTC().Format(time.RFC3339)))
	}
	if len(s.Reasons) > 0 {
		var rs []string
		for k, n := range s.Reasons {
			rs = append(rs, fmt.Sprintf("%s %d", k, n))
		}
		slices.Sort(rs)
		row("Problems", strings.Join(rs, ", "))
	}
	if s.PrivateKeys > 0 {
		row("WARNING", fmt.Sprintf("%d entries carry PRIVATE KEY material: they are never imported; treat those keys as exposed", s.PrivateKeys))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.Invalid == 0 {
		return nil
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Invalid devices:")
	// Not a tabwriter: it would hold every line until the end.
	bw := bufio.NewWriter(out)
	fmt.Fprintf(bw, "%-*s  %-*s  %s\n", widths[0], "ENTRY", widths[1], "CHIP", "REASON")
	sc := bufio.NewScanner(invalid)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		if len(f) != 3 {
			continue
		}
		fmt.Fprintf(bw, "%-*s  %-*s  %s\n", widths[0], f[0], widths[1], f[1], f[2])
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if s.Unlisted > 0 {
		fmt.Fprintf(bw, "... and %d more invalid devices (--output json lists every device)\n", s.Unlisted)
	}
	return bw.Flush()
}

func (s *Summary) list(v []string, kind string) string {
	out := orNone(strings.Join(v, ", "))
	if s.more[kind] {
		out += ", and more"
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
