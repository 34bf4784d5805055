package format

import (
	"errors"
	"testing"

	"github.com/thingpress/thingpress/internal/manifest"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name    string
		head    []byte
		want    Format
		wantErr error
	}{
		{name: "7z", head: []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C, 0, 4}, want: Infineon},
		{name: "xml declaration", head: []byte(`<?xml version="1.0"?><CertificateManifest/>`), want: XML},
		{name: "xml with BOM and blank lines", head: []byte("\xef\xbb\xbf\r\n  <CertificateManifest>"), want: XML},
		{name: "xml in UTF-16LE with BOM", head: []byte("\xff\xfe<\x00?\x00"), want: XML},
		{name: "xml in UTF-16BE without BOM", head: []byte("\x00<\x00?"), want: XML},
		{name: "zip", head: []byte("PK\x03\x04"), wantErr: manifest.ErrFormat},
		{name: "empty", head: nil, wantErr: manifest.ErrFormat},
		{name: "pem", head: []byte("-----BEGIN CERTIFICATE-----"), wantErr: manifest.ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Sniff(tt.head)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Sniff() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{in: "", want: Auto}, {in: "auto", want: Auto}, {in: "7z", want: Infineon},
		{in: "Infineon", want: Infineon}, {in: "xml", want: XML}, {in: "csv", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Parse(%q) = %q, %v", tt.in, got, err)
			}
		})
	}
}
