package validate

import (
	"errors"

	"github.com/thingpress/thingpress/internal/trust"
)

// labels name the reasons in summaries, most specific first.
var labels = []struct {
	err   error
	label string
}{
	{ErrPrivateKey, "private key in entry"},
	{ErrEntry, "unreadable entry"},
	{ErrNoCertificate, "no certificate"},
	{ErrMultipleCertificates, "several certificates"},
	{ErrParse, "unparsable certificate"},
	{ErrAttribute, "invalid attribute"},
	{ErrChipID, "invalid chip ID"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not yet valid"},
	{ErrSignatureAlgorithm, "signature algorithm"},
	{ErrKeyAlgorithm, "key type"},
	{ErrWeakKey, "weak key"},
	{ErrCA, "CA certificate"},
	{ErrKeyUsage, "key usage"},
	{ErrExtKeyUsage, "extended key usage"},
	{ErrMultipleCommonNames, "several CNs"},
	{trust.ErrIssuerNotValid, "issuer expired"},
	{trust.ErrIssuerNotCA, "issuer not a CA"},
	{trust.ErrUntrusted, "untrusted chain"},
	{ErrNoCommonName, "no CN"},
	{ErrThingName, "invalid thing name"},
	{ErrDuplicateCertificate, "duplicate certificate"},
	{ErrDuplicateChipID, "duplicate chip ID"},
	{ErrDuplicateThingName, "duplicate thing name"},
}

// Label names the kind of a device error in a word or two.
func Label(err error) string {
	for _, l := range labels {
		if errors.Is(err, l.err) {
			return l.label
		}
	}
	return "other"
}
