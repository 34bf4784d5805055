package validate

import (
	"errors"
	"fmt"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/trust"
)

func TestLabel(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{err: &manifest.Error{Err: ErrExpired}, want: "expired"},
		{err: fmt.Errorf("%w: x", trust.ErrUntrusted), want: "untrusted chain"},
		{err: &manifest.Error{Err: fmt.Errorf("%w: 2", ErrMultipleCertificates)}, want: "several certificates"},
		{err: &manifest.Error{Err: fmt.Errorf("%w: \"X\" expired", trust.ErrIssuerNotValid)}, want: "issuer expired"},
		{err: &manifest.Error{Err: fmt.Errorf("%w: \"X\"", trust.ErrIssuerNotCA)}, want: "issuer not a CA"},
		{err: fmt.Errorf("%w \"CN=X\"", trust.ErrUnknownIssuer), want: "untrusted chain"},
		{err: &manifest.Error{Err: ErrCA}, want: "CA certificate"},
		{err: &manifest.Error{Err: fmt.Errorf("%w: Ed25519", ErrKeyAlgorithm)}, want: "key type"},
		{err: &manifest.Error{Err: fmt.Errorf("%w: chip_id", ErrAttribute)}, want: "invalid attribute"},
		{err: &manifest.Error{Err: ErrDuplicateChipID}, want: "duplicate chip ID"},
		{err: errors.New("odd"), want: "other"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := Label(tt.err); got != tt.want {
				t.Errorf("Label(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
