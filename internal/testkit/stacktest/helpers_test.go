package stacktest_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

// logger logs warnings and errors into the test's output.
func logger(t *testing.T) *slog.Logger {
	t.Helper()
	w := t.Output()
	if os.Getenv("STACKTEST_QUIET") != "" {
		w = io.Discard
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// bundle generates an Infineon bundle of n good devices and every bad
// case, and returns it with the good devices as IoT must end up holding
// them.
func bundle(t *testing.T, n int) (*generate.Result, []iottest.Device) {
	t.Helper()
	testbundle.Require7z(t)
	dir := t.TempDir()
	res, err := generate.Write(filepath.Join(dir, "reel.7z"), generate.Options{N: n, Bad: true, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	devs := make([]iottest.Device, n)
	for i := range devs {
		chip := generate.ChipID(res.ReelID, i)
		devs[i] = iottest.Device{ThingName: generate.CommonName(res.ReelID, chip, "E0E0"), ChipID: chip, ReelID: res.ReelID}
	}
	return res, devs
}

// quietLogger logs errors only, to stderr: a measurement of a big
// manifest should not be a measurement of logging.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
