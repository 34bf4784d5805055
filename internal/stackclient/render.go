package stackclient

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the status for a person: the queues, the manifests,
// and what needs attention.
func (s *Status) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Stack:  %s (%s)\nBucket: %s\n\n", s.Stack, s.Region, s.Bucket)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "QUEUE\tWAITING\tIN FLIGHT\tDELAYED\t")
	for _, q := range s.Queues {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", q.Name, q.Visible, q.InFlight, q.Delayed)
	}
	tw.Flush()

	b.WriteString("\n")
	if len(s.Summaries) == 0 {
		b.WriteString("No manifest summaries yet: upload a manifest with `thingpress upload`.\n")
	} else {
		if len(s.Summaries) == 1 && s.SummariesTotal == 1 {
			b.WriteString("Manifest:\n")
		} else {
			fmt.Fprintf(&b, "Latest manifests (%d of %d, newest first):\n", len(s.Summaries), s.SummariesTotal)
		}
		now := time.Now()
		tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MANIFEST\tSTATE\tDEVICES\tVALID\tINVALID\tIMPORTED\tEXISTED\tFAILED\tREQUEUED\tTIME\tRATE")
		for _, m := range s.Summaries {
			imported, existed, failed, requeued, took, rate := "-", "-", "-", "-", "-", "-"
			if r := m.Results; r != nil {
				imported, existed, failed, requeued = strconv.Itoa(r.Imported), strconv.Itoa(r.Exists), strconv.Itoa(r.Failed), strconv.Itoa(r.Requeued)
				if r.Started != "" {
					took = r.Duration(now).Round(100 * time.Millisecond).String()
				}
				if rt := r.Rate(now); rt > 0 {
					rate = fmt.Sprintf("%.1f/s", rt)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Key, m.State(), m.Summary.Total, m.Summary.Valid,
				m.Summary.Invalid, imported, existed, failed, requeued, took, rate)
		}
		tw.Flush()
		for _, m := range s.Summaries {
			switch {
			case m.ReadError != "":
				fmt.Fprintf(&b, "  %s: summary unreadable: %s\n", m.Key, oneLine(m.ReadError))
			case m.Summary.Error != "":
				fmt.Fprintf(&b, "  %s: %s\n", m.Key, oneLine(m.Summary.Error))
			}
			if m.ResultsError != "" {
				fmt.Fprintf(&b, "  %s: results table: %s\n", m.Key, oneLine(m.ResultsError))
			}
			if r := m.Results; r != nil && r.Failed > 0 {
				fmt.Fprintf(&b, "  %s: %d devices failed: list them with --manifest %s --failed -, queue them again with thingpress retry\n", m.Key, r.Failed, m.Key)
			}
			if len(m.Summary.Reasons) > 0 && m.ReadError == "" {
				var rs []string
				for _, k := range sortedKeys(m.Summary.Reasons) {
					rs = append(rs, fmt.Sprintf("%s %d", k, m.Summary.Reasons[k]))
				}
				fmt.Fprintf(&b, "  %s: invalid devices: %s\n", m.Key, strings.Join(rs, ", "))
			}
		}
	}

	if s.ResultsTable == "" && len(s.Summaries) > 0 {
		b.WriteString("\nThis stack has no results table: deploy the current template.yaml to see each device's outcome.\n")
	}
	var notes []string
	for _, q := range s.Queues {
		switch {
		case !q.DeadLetter() && q.Total() > 0:
			notes = append(notes, fmt.Sprintf("Importing: %d messages of devices are still in %s.", q.Total(), q.Name))
		case q.DeadLetter() && q.Total() > 0:
			notes = append(notes, fmt.Sprintf("Attention: %d messages in %s; see the troubleshooting section of docs/deployment.md.", q.Total(), q.Name))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func sortedKeys(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }
