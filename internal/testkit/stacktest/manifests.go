package stacktest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
)

// Thing is a device of a vendor manifest as AWS IoT must end up holding
// it: its name and the attributes its Thing has, chip_id included.
type Thing struct {
	Name       string
	Attributes map[string]string
}

// EspressifCSV writes to path an Espressif manifest (MAC,cn,cert) of n
// good devices issued by ca and returns them.
func EspressifCSV(t testing.TB, path string, ca *generate.CA, n int) []Thing {
	t.Helper()
	var b strings.Builder
	b.WriteString("MAC,cn,cert\n")
	things := make([]Thing, n)
	for i := range n {
		mac := fmt.Sprintf("24a160%06x", i)
		cn := fmt.Sprintf("esp-%s", mac)
		leaf, err := ca.Issue(generate.LeafOptions{CommonName: cn})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s,%s,\"%s\"\n", mac, cn, generate.PEM(leaf.Cert))
		up := strings.ToUpper(mac)
		things[i] = Thing{Name: up, Attributes: map[string]string{"chip_id": up, "cn": cn}}
	}
	WriteFile(t, path, []byte(b.String()))
	return things
}

// GeneratedLines writes to path a generated manifest of n good devices
// issued by ca, each line the base64 of the leaf's PEM and the CA's, and
// returns them (named by their CN, without attributes).
func GeneratedLines(t testing.TB, path string, ca *generate.CA, n int) []Thing {
	t.Helper()
	var b strings.Builder
	things := make([]Thing, n)
	for i := range n {
		name := fmt.Sprintf("gen-device-%04d", i)
		leaf, err := ca.Issue(generate.LeafOptions{CommonName: name})
		if err != nil {
			t.Fatal(err)
		}
		text := append(generate.PEM(leaf.Cert), generate.PEM(ca.Cert)...)
		b.WriteString(base64.StdEncoding.EncodeToString(text) + "\n")
		things[i] = Thing{Name: name, Attributes: map[string]string{}}
	}
	WriteFile(t, path, []byte(b.String()))
	return things
}

// MicrochipThings returns the Things of the Microchip manifest at path
// (a JSON array of JWS entries, each with its uniqueId in its unprotected
// header): named by the upper-cased uniqueId, with the attribute names
// each has (values are not checked, "" stands for any).
func MicrochipThings(t testing.TB, path string, attrs ...string) []Thing {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Header struct {
			UniqueID string `json:"uniqueId"`
		} `json:"header"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	things := make([]Thing, len(entries))
	for i, e := range entries {
		a := map[string]string{"chip_id": e.Header.UniqueID}
		for _, name := range attrs {
			a[name] = ""
		}
		things[i] = Thing{Name: strings.ToUpper(e.Header.UniqueID), Attributes: a}
	}
	return things
}

// WriteFile writes data to path, failing the test on an error.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
