package verify

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/thingpress/thingpress/internal/awsiot"
)

// MaxListed bounds the devices the table names; the JSON output lists
// every one.
const MaxListed = 50

// Summary counts the verdicts of a run, for the table.
type Summary struct {
	Target     awsiot.Target
	Complete   int
	Incomplete int
	Missing    int
	// Invalid counts the manifest's invalid devices, which are not checked.
	Invalid     int
	NotComplete []Result
	Calls       map[string]int64
	Seconds     float64
}

// Add counts r.
func (s *Summary) Add(r Result) {
	switch r.Status {
	case Complete:
		s.Complete++
		return
	case Incomplete:
		s.Incomplete++
	case Missing:
		s.Missing++
	}
	s.NotComplete = append(s.NotComplete, r)
}

// OK reports whether every valid device is complete.
func (s *Summary) OK() bool { return s.Incomplete == 0 && s.Missing == 0 }

// WriteTable prints the counts and the devices that are not complete.
func (s *Summary) WriteTable(w io.Writer) error {
	valid := s.Complete + s.Incomplete + s.Missing
	var b strings.Builder
	fmt.Fprintf(&b, "Checked    policies %s; thing type %s; thing groups %s\n",
		dash(strings.Join(s.Target.Policies, ", ")), dash(s.Target.ThingType), dash(strings.Join(s.Target.ThingGroups, ", ")))
	fmt.Fprintf(&b, "Devices    %d valid: %d complete, %d incomplete, %d missing", valid, s.Complete, s.Incomplete, s.Missing)
	if s.Invalid > 0 {
		fmt.Fprintf(&b, "; %d invalid in the manifest, not checked", s.Invalid)
	}
	b.WriteString("\n")
	var total int64
	for _, n := range s.Calls {
		total += n
	}
	var per []string
	for _, op := range slices.Sorted(maps.Keys(s.Calls)) {
		per = append(per, fmt.Sprintf("%s %d", op, s.Calls[op]))
	}
	fmt.Fprintf(&b, "Calls      %d in %.1f s (%s)\n", total, s.Seconds, strings.Join(per, ", "))
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(s.NotComplete) == 0 {
		_, err := fmt.Fprintf(w, "\nAll %d devices are complete.\n", valid)
		return err
	}
	list := slices.Clone(s.NotComplete)
	slices.SortFunc(list, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.ThingName, b.ThingName), cmp.Compare(a.CertificateID, b.CertificateID))
	})
	fmt.Fprintf(w, "\nNot complete:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "THING\tSTATUS\tCERTIFICATE\tPROBLEMS")
	for i, r := range list {
		if i == MaxListed {
			break
		}
		id := r.CertificateID
		if len(id) > 16 {
			id = id[:16] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ThingName, r.Status, id, strings.Join(r.Problems, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(list) > MaxListed {
		_, err := fmt.Fprintf(w, "... and %d more (--output json lists every device)\n", len(list)-MaxListed)
		return err
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
