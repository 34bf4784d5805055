package iotproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"sync"
)

// Resource names what a forwarded IoT request acts on, so that a test can
// tell a repeated call from a call for another device:
//
//	RegisterCertificateWithoutCA  hex SHA-256 of the certificate's DER (AWS's certificate ID)
//	CreateThing, others           the unescaped request path
//	AttachThingPrincipal          path and the x-amzn-principal header
//	AttachPolicy                  path and the target in the body
//	AddThingToThingGroup          group and thing names from the body
func Resource(op string, r *http.Request, body []byte) string {
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	path, _ := url.PathUnescape(r.URL.EscapedPath())
	switch op {
	case "RegisterCertificateWithoutCA":
		pemText, _ := in["certificatePem"].(string)
		return CertificateKey(pemText)
	case "AttachPolicy":
		return path + " " + fmt.Sprint(in["target"])
	case "AddThingToThingGroup":
		return fmt.Sprint(in["thingGroupName"], " ", in["thingName"])
	case "AttachThingPrincipal":
		return path + " " + r.Header.Get("x-amzn-principal")
	}
	return path
}

// CertificateKey is Resource's name of a registration of pemText: the
// hex SHA-256 of the first PEM block's DER, or of the text if it is not PEM.
func CertificateKey(pemText string) string {
	data := []byte(pemText)
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Recorder counts forwarded calls per operation and resource. Its Observe
// method fits Config.Observe.
type Recorder struct {
	mu   sync.Mutex
	keys map[string]int
}

// Observe records one forwarded request as "<op> <resource>".
func (c *Recorder) Observe(op string, r *http.Request, body []byte) {
	key := op + " " + Resource(op, r, body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[string]int{}
	}
	c.keys[key]++
}

// Counts returns the calls per "<op> <resource>" since the last Reset.
func (c *Recorder) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.keys))
	for k, v := range c.keys {
		out[k] = v
	}
	return out
}

// Reset forgets every call.
func (c *Recorder) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = nil
}
