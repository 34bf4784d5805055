package outcome

import (
	"errors"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/validate"
)

// Counts counts devices by what became of them. A counter sees them at
// one stage: after the checks (inspect, the provider) it calls Check,
// after the import steps (the CLI's import, the importer function) it
// calls Import. The JSON names are the import report's; the fields of the
// other stage are left out when zero.
type Counts struct {
	// Total is every device counted.
	Total int `json:"total"`

	// After the checks.
	Valid   int `json:"valid,omitempty"`
	Invalid int `json:"invalid,omitempty"`
	// Reasons counts the invalid devices by validate.Label.
	Reasons map[string]int `json:"reasons,omitempty"`
	// PrivateKeys counts the invalid devices that carried key material.
	PrivateKeys int `json:"private_keys,omitempty"`

	// After the import steps, by importer.Status.
	Imported int `json:"imported"`
	Exists   int `json:"exists"`
	Skipped  int `json:"skipped"`
	Failed   int `json:"failed"`
	// Registered counts the certificates an import --register-only
	// registered; Bound the devices bind made complete.
	Registered int `json:"registered,omitempty"`
	Bound      int `json:"bound,omitempty"`
	// LeftHalfMade counts the failed devices that left something in AWS
	// (importer.Result.Left).
	LeftHalfMade int `json:"left_half_made"`
	// Resumed counts the devices complete from an earlier run.
	Resumed int `json:"resumed"`
	// Requeued counts the devices the importer function sent back to the
	// queue to finish later.
	Requeued int `json:"requeued,omitempty"`
}

// Check counts one checked device.
func (c *Counts) Check(d *validate.Checked) {
	c.Total++
	if d.OK() {
		c.Valid++
		return
	}
	c.Invalid++
	if c.Reasons == nil {
		c.Reasons = map[string]int{}
	}
	c.Reasons[validate.Label(d.Err)]++
	if errors.Is(d.Err, validate.ErrPrivateKey) {
		c.PrivateKeys++
	}
}

// Import counts one device's import result.
func (c *Counts) Import(r importer.Result) {
	c.Total++
	switch r.Status {
	case importer.Imported:
		c.Imported++
	case importer.Exists:
		c.Exists++
	case importer.Skipped:
		c.Skipped++
	case importer.Failed:
		c.Failed++
	case importer.Registered:
		c.Registered++
	case importer.Bound:
		c.Bound++
	}
	if r.Resumed {
		c.Resumed++
	}
	if r.Left != nil {
		c.LeftHalfMade++
	}
}

// Merge adds the counts of o to c.
func (c *Counts) Merge(o Counts) {
	c.Total += o.Total
	c.Valid += o.Valid
	c.Invalid += o.Invalid
	if len(o.Reasons) > 0 && c.Reasons == nil {
		c.Reasons = map[string]int{}
	}
	for k, n := range o.Reasons {
		c.Reasons[k] += n
	}
	c.PrivateKeys += o.PrivateKeys
	c.Imported += o.Imported
	c.Exists += o.Exists
	c.Skipped += o.Skipped
	c.Failed += o.Failed
	c.Registered += o.Registered
	c.Bound += o.Bound
	c.LeftHalfMade += o.LeftHalfMade
	c.Resumed += o.Resumed
	c.Requeued += o.Requeued
}

// Done reports whether every device counted is imported or already
// there: none invalid, skipped or failed.
func (c *Counts) Done() bool {
	return c.Invalid == 0 && c.Skipped == 0 && c.Failed == 0 && c.LeftHalfMade == 0
}
