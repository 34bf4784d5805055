package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/manifest/format"
	"github.com/thingpress/thingpress/internal/progress"
)

// bindProgress adds the --progress flag of the commands that read a
// whole manifest.
func bindProgress(f *pflag.FlagSet, mode *string) {
	f.StringVar(mode, "progress", "auto", "progress display on standard error: auto (bar on a terminal, log lines otherwise), bar, log or none; the total is shown where the manifest declares it (an Infineon bundle's archive header), else done and rate only")
}

// checkProgress checks a --progress value, taken in any case.
func checkProgress(mode *string) error {
	*mode = strings.ToLower(*mode)
	switch *mode {
	case "auto", "bar", "log", "none":
		return nil
	}
	return usageError{fmt.Errorf("--progress %q: want auto, bar, log or none", *mode)}
}

// newMeter returns the progress display mode and stderr call for, or nil
// for none. With skipShort, auto's log lines say nothing of a run shorter
// than their interval (see progress.Meter.SkipShort).
func newMeter(mode string, stderr io.Writer, skipShort bool) *progress.Meter {
	auto := mode == "auto"
	if auto {
		mode = "log"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		return progress.New(stderr, true, 0)
	case "log":
		m := progress.New(stderr, false, 10*time.Second)
		if auto && skipShort {
			m.SkipShort()
		}
		return m
	}
	return nil
}

// openMetered opens the manifest at path with meter (if any) started
// first, and its total set from the manifest when it declares one; the
// caller stops the meter.
func openMetered(ctx context.Context, o *manifestOptions, path string, g *globalOptions, meter *progress.Meter) (manifest.Source, format.Format, error) {
	if meter != nil {
		meter.Start()
	}
	src, ft, err := o.open(ctx, path, g)
	if err != nil {
		if meter != nil {
			meter.Stop()
		}
		return nil, "", err
	}
	if c, ok := src.(manifest.Counted); ok && meter != nil {
		meter.SetTotal(int64(c.Count()))
	}
	return src, ft, nil
}

// meterHooks are inspect's hooks for meter, if any: count each device,
// and stop (once; stop may be called again) before the table is written.
func meterHooks(meter *progress.Meter) (onDevice, stop func()) {
	if meter == nil {
		return nil, func() {}
	}
	return func() { meter.Add(1) }, sync.OnceFunc(meter.Stop)
}
