package infineon

import (
	"io"

	"github.com/thingpress/thingpress/internal/manifest"
)

func checkHeader(r io.ReaderAt, size int64, lim manifest.Limits) error { return nil }
