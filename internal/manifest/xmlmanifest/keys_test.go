package xmlmanifest

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/manifest"
)

func TestKeyMaterialAnywhereInDevice(t *testing.T) {
	ca, err := generate.NewRoot("xmlmanifest key root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(generate.LeafOptions{Seed: "xml key"})
	if err != nil {
		t.Fatal(err)
	}
	cert := strings.TrimSpace(strings.ReplaceAll(string(generate.PEM(leaf.Cert)), "\r\n", "\n"))
	keyPEM := strings.TrimSpace(string(leaf.KeyPEM()))
	keyB64 := base64.StdEncoding.EncodeToString(leaf.KeyDER())
	const chip = "0A091B5C001500070063"
	tests := []struct {
		name   string
		device string // the inside of the Device element
		attrs  string // more attributes of the Device element
		want   bool
	}{
		{name: "certificate only", device: `<Certificate slot="E0E0">` + cert + `</Certificate>`},
		{name: "other slot only certificates", device: `<Certificate slot="E0E0">` + cert + `</Certificate><Certificate slot="E0E1" encoding="base64-der">` + base64.StdEncoding.EncodeToString(leaf.Cert.Raw) + `</Certificate>`},
		{name: "PEM key element", device: `<Certificate slot="E0E0">` + cert + `</Certificate><PrivateKey>` + keyPEM + `</PrivateKey>`, want: true},
		{name: "base64 key element", device: `<Certificate slot="E0E0">` + cert + `</Certificate><Key>` + keyB64 + `</Key>`, want: true},
		{name: "key in another slot", device: `<Certificate slot="E0E0">` + cert + `</Certificate><Certificate slot="E0E1">` + keyPEM + `</Certificate>`, want: true},
		{name: "key nested in the certificate", device: `<Certificate slot="E0E0">` + cert + `<k>` + keyB64 + `</k></Certificate>`, want: true},
		{name: "key in an attribute", device: `<Certificate slot="E0E0" key="` + keyB64 + `">` + cert + `</Certificate>`, want: true},
		{name: "key in a Device attribute", attrs: ` privateKey="` + keyB64 + `"`, device: `<Certificate slot="E0E0">` + cert + `</Certificate>`, want: true},
		{name: "lower-case marker deep down", device: `<Certificate slot="E0E0">` + cert + `</Certificate><a><b>-----begin ec private key-----</b></a>`, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := fmt.Sprintf(`<CertificateManifest reelId="78211223032C7EFA"><Device chipId=%q%s>%s</Device><Device chipId="0A091B5C001500070064"><Certificate slot="E0E0">%s</Certificate></Device></CertificateManifest>`,
				chip, tt.attrs, tt.device, cert)
			recs, err := readAll(t, strings.NewReader(doc), manifest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 {
				t.Fatalf("%d records", len(recs))
			}
			if got := recs[0].KeyMaterial; got != tt.want {
				t.Errorf("KeyMaterial = %v, want %v", got, tt.want)
			}
			if tt.want && recs[0].Data != nil {
				t.Errorf("a device with key material keeps its data")
			}
			if recs[1].KeyMaterial || recs[1].Data == nil {
				t.Errorf("the next device inherits the flag or lost its data")
			}
			if recs[0].Vendor != manifest.VendorInfineon || recs[0].ChipID != chip {
				t.Errorf("vendor %q chip %q", recs[0].Vendor, recs[0].ChipID)
			}
		})
	}
}

func TestVendor(t *testing.T) {
	for _, tt := range []struct{ attr, want string }{
		{attr: "", want: manifest.VendorInfineon},
		{attr: ` vendor="Infineon"`, want: manifest.VendorInfineon},
		{attr: ` vendor="INFINEON"`, want: manifest.VendorInfineon},
		{attr: ` vendor="Acme"`, want: "Acme"},
	} {
		recs, err := readAll(t, strings.NewReader(`<CertificateManifest`+tt.attr+`><Device chipId="A"/></CertificateManifest>`), manifest.Options{})
		if err != nil || len(recs) != 1 || recs[0].Vendor != tt.want {
			t.Errorf("%q: %v %+v, want vendor %q", tt.attr, err, recs, tt.want)
		}
	}
}
