package format

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/infineon"
	"github.com/thingpress/thingpress/internal/manifest/xmlmanifest"
)

// Format names a manifest format.
type Format string

// The formats thingpress reads.
const (
	Auto     Format = "auto"     // detect from content
	Infineon Format = "infineon" // Infineon OPTIGA reel bundle (7z)
	XML      Format = "xml"      // the documented XML manifest
)

// Names lists the values Parse accepts, for help texts.
var Names = []string{string(Auto), string(Infineon), "7z", string(XML)}

// Parse turns a --format value into a Format.
func Parse(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return Auto, nil
	case "infineon", "7z":
		return Infineon, nil
	case "xml":
		return XML, nil
	}
	return "", fmt.Errorf("%w: %q (want one of %s)", manifest.ErrFormat, s, strings.Join(Names, ", "))
}

var sevenZipMagic = []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C}

// Sniff tells the format of a manifest from its first bytes.
func Sniff(head []byte) (Format, error) {
	if bytes.HasPrefix(head, sevenZipMagic) {
		return Infineon, nil
	}
	h := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	h = bytes.TrimLeft(h, " \t\r\n")
	if len(h) > 0 && h[0] == '<' || xmlmanifest.Encoding(head) != "" {
		return XML, nil // the XML reader says if its encoding is not UTF-8
	}
	return "", fmt.Errorf("%w: neither a 7z archive nor XML", manifest.ErrFormat)
}

// Detect reads the start of the file at path and tells its format.
func Detect(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", &manifest.Error{File: path, Err: err}
	}
	ft, err := Sniff(head[:n])
	if err != nil {
		return "", &manifest.Error{File: path, Err: err}
	}
	return ft, nil
}

// Open opens the manifest at path with the reader for f, detecting the
// format first when f is Auto. It returns the format used.
func Open(path string, f Format, opts manifest.Options) (manifest.Source, Format, error) {
	return OpenContext(context.Background(), path, f, opts)
}

// OpenContext is Open that gives up when ctx is done (an Infineon bundle
// spools its inner archive while it opens).
func OpenContext(ctx context.Context, path string, f Format, opts manifest.Options) (manifest.Source, Format, error) {
	if f == Auto || f == "" {
		var err error
		if f, err = Detect(path); err != nil {
			return nil, "", err
		}
	}
	switch f {
	case Infineon:
		r, err := infineon.OpenContext(ctx, path, opts)
		if err != nil {
			return nil, f, err
		}
		return r, f, nil
	case XML:
		r, err := xmlmanifest.Open(path, opts)
		if err != nil {
			return nil, f, err
		}
		return r, f, nil
	}
	return nil, f, &manifest.Error{File: path, Err: fmt.Errorf("%w: %q", manifest.ErrFormat, f)}
}
