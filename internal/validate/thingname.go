package validate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/thingpress/thingpress/internal/manifest"
)

// ErrNameTemplate means a thing name template does not parse.
var ErrNameTemplate = errors.New("invalid thing name template")

// ErrNames means a thing name template gives some valid devices an
// invalid or duplicate name.
var ErrNames = errors.New("thing name template gives invalid or duplicate names")

// nameFields are the fields of a thing name template, by name.
var nameFields = map[string]func(d *Checked, cn string) string{
	"cn":       func(_ *Checked, cn string) string { return cn },
	"chip_id":  func(d *Checked, _ string) string { return d.ChipID },
	"reel_id":  func(d *Checked, _ string) string { return d.ReelID },
	"batch_id": func(d *Checked, _ string) string { return d.BatchID },
	"slot":     func(d *Checked, _ string) string { return d.Slot },
	"vendor":   func(d *Checked, _ string) string { return d.Vendor },
}

// NameFields lists the fields a thing name template may use, sorted.
func NameFields() []string { return slices.Sorted(maps.Keys(nameFields)) }

// NameTemplate makes a thing name of a device from fields in braces and
// literal text, e.g. "{vendor}-{chip_id}".
type NameTemplate struct {
	src   string
	parts []namePart
}

type namePart struct{ lit, field string }

// ParseNameTemplate parses a thing name template. Literal text must be
// characters a thing name allows; fields are NameFields in braces.
func ParseNameTemplate(s string) (*NameTemplate, error) {
	t := &NameTemplate{src: s}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if end := strings.IndexByte(rest, '}'); end >= 0 && (open < 0 || end < open) {
			return nil, fmt.Errorf("%w %q: a } without its {", ErrNameTemplate, s)
		}
		lit := rest
		if open >= 0 {
			lit = rest[:open]
		}
		if lit != "" {
			if !thingNameRE.MatchString(lit) {
				return nil, fmt.Errorf("%w %q: literal text %q has characters a thing name cannot have (it must match [a-zA-Z0-9:_-])", ErrNameTemplate, s, lit)
			}
			t.parts = append(t.parts, namePart{lit: lit})
		}
		if open < 0 {
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%w %q: a { without its }", ErrNameTemplate, s)
		}
		field := rest[open+1 : open+end]
		if _, ok := nameFields[field]; !ok {
			return nil, fmt.Errorf("%w %q: unknown field {%s} (want one of {%s})", ErrNameTemplate, s, field, strings.Join(NameFields(), "}, {"))
		}
		t.parts = append(t.parts, namePart{field: field})
		rest = rest[open+end+1:]
	}
	if len(t.parts) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrNameTemplate)
	}
	return t, nil
}

// String returns the template as parsed.
func (t *NameTemplate) String() string { return t.src }

// name returns d's name, and the first field that is empty for d, if any.
func (t *NameTemplate) name(d *Checked, cn string) (name, empty string) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
			continue
		}
		v := nameFields[p.field](d, cn)
		if v == "" && empty == "" {
			empty = p.field
		}
		b.WriteString(v)
	}
	return b.String(), empty
}

// maxNameProblems is how many devices ErrNames names.
const maxNameProblems = 10

// CheckNames validates every record of src as Run does and fails with
// ErrNames, naming the first devices, when opts.ThingName gives any valid
// device an invalid name or one that an earlier device has: so that a
// template is refused before the first device is imported. Devices
// invalid for other reasons are left to the import's report.
func CheckNames(ctx context.Context, src manifest.Source, opts Options) error {
	var problems []string
	n := 0
	err := Run(ctx, src, opts, func(d *Checked) error {
		if !errors.Is(d.Err, ErrThingName) && !errors.Is(d.Err, ErrDuplicateThingName) {
			return nil
		}
		n++
		if len(problems) < maxNameProblems {
			problems = append(problems, d.Err.Error())
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	more := ""
	if n > len(problems) {
		more = fmt.Sprintf("; and %d more", n-len(problems))
	}
	return fmt.Errorf("%w (template %q): %d devices, nothing imported: %s%s", ErrNames, opts.ThingName, n, strings.Join(problems, "; "), more)
}

// CheckThingAttributes checks attrs against AWS IoT's rules for the
// attributes of one Thing (API reference, AttributePayload): at most 50
// with a thing type, 3 without; names [a-zA-Z0-9_.,@/:#-]{1,128}, values
// [a-zA-Z0-9_.,@/:#=\[\]-]{0,800}. The error wraps ErrAttribute.
func CheckThingAttributes(attrs map[string]string, thingType bool) error {
	limit := maxAttributes
	if !thingType {
		limit = maxAttributesWithoutType
	}
	if len(attrs) > limit {
		without := ""
		if !thingType {
			without = " without a thing type"
		}
		return fmt.Errorf("%w: %d attributes (a Thing%s has at most %d)", ErrAttribute, len(attrs), without, limit)
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if len(k) == 0 || len(k) > maxAttributeNameLen || !validAttributeName(k) {
			return fmt.Errorf(`%w: name %s must match [a-zA-Z0-9_.,@/:#-]{1,%d}`, ErrAttribute, quote(k), maxAttributeNameLen)
		}
		if err := checkAttribute(quote(k), attrs[k]); err != nil {
			return err
		}
	}
	return nil
}

// maxAttributesWithoutType is the most attributes of a Thing without a
// thing type.
const maxAttributesWithoutType = 3
