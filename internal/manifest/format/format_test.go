package format

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
		{name: "microchip", head: []byte(`[{"payload":"eyJ9","protected":"eyJ9","header":{"uniqueId":"01"}}]`), want: Microchip},
		{name: "microchip cut short after protected", head: []byte("[\n {\"header\": {\"a\": [1, {\"protected\": 2}]}, \"protected\": \"ey"), want: Microchip},
		{name: "json array without protected", head: []byte(`[{"payload":"x","header":{"protected":1}}]`), wantErr: manifest.ErrFormat},
		{name: "json array of strings", head: []byte(`["protected"]`), wantErr: manifest.ErrFormat},
		{name: "json object", head: []byte(`{"protected":"x"}`), wantErr: manifest.ErrFormat},
		{name: "espressif", head: []byte("MAC,cn,cert\n4BA2BB8764BD,x,\"-----BEGIN"), want: Espressif},
		{name: "espressif with BOM and CRLF", head: []byte("\xef\xbb\xbfMAC,cn,cert\r\n"), want: Espressif},
		{name: "other csv", head: []byte("mac,name,certificate\n"), wantErr: manifest.ErrFormat},
		{name: "generated", head: []byte("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1J\n"), want: Generated},
		{name: "other base64", head: []byte("TUlJQ2dqQ0NBaW1n\n"), wantErr: manifest.ErrFormat},
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
		{in: "Microchip", want: Microchip}, {in: "ESPRESSIF", want: Espressif}, {in: "generated", want: Generated},
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

func TestParseVendor(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{in: "", want: Auto}, {in: "INFINEON", want: InfineonAny}, {in: "MicroChip", want: Microchip},
		{in: "espressif", want: Espressif}, {in: "Generated", want: Generated},
		{in: "xml", wantErr: true}, {in: "7z", wantErr: true}, {in: "nxp", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVendor(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseVendor(%q) = %q, %v", tt.in, got, err)
			}
		})
	}
}

// TestDetectSamples detects the vendor test manifests and the chip
// makers' samples (when ../shared holds them).
func TestDetectSamples(t *testing.T) {
	tests := []struct {
		path string
		want Format
	}{
		{"../microchip/testdata/mixed.json", Microchip},
		{"../espressif/testdata/mixed.csv", Espressif},
		{"../generated/testdata/mixed.txt", Generated},
		{"../infineon/testdata/small.7z", Infineon},
		{samples + "ECC608C-TNGTLSU-B.json", Microchip},
		{samples + "ECC608-TMNGTLSS-B.json", Microchip},
		{samples + "manifest-espressif.csv", Espressif},
		{samples + "certificates_test.txt", Generated},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			if _, err := os.Stat(tt.path); errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(tt.path, samples) {
				t.Skipf("no %s: the chip makers' samples are not here", tt.path)
			}
			got, err := Detect(tt.path)
			if err != nil || got != tt.want {
				t.Fatalf("Detect = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

const samples = "../../../../shared/fixtures/thingpress-artifacts/"
