package pipeline

import (
	"context"
	"errors"
	"sync"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/validate"
)

// Options configure Run.
type Options struct {
	Validate validate.Options
	// Workers is the number of devices imported at once.
	Workers int
	// OnResult receives every device's result, one call at a time.
	OnResult func(importer.Result)
}

// Run validates the devices of src and imports the valid ones with im,
// o.Workers at once. Invalid devices are reported as importer.Skipped
// with their reason. It returns importer.ErrInterrupted when ctx was
// cancelled before every device was done (the results of those done are
// reported).
func Run(ctx context.Context, im *importer.Importer, src manifest.Source, o Options) error {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	var mu sync.Mutex
	report := func(r importer.Result) {
		mu.Lock()
		defer mu.Unlock()
		if o.OnResult != nil {
			o.OnResult(r)
		}
	}
	work := make(chan importer.Device)
	var wg sync.WaitGroup
	var interrupted, fatal error
	var errMu sync.Mutex
	setErr := func(dst *error, err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if *dst == nil {
			*dst = err
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				res, err := im.Import(runCtx, &d)
				switch {
				case errors.Is(err, importer.ErrInterrupted):
					setErr(&interrupted, err)
					continue
				case err != nil:
					// The state file failed: no device may go on
					// without its steps being recorded.
					setErr(&fatal, err)
					cancel()
					continue
				}
				report(res)
			}
		}()
	}
	verr := validate.Run(runCtx, src, o.Validate, func(d *validate.Checked) error {
		if !d.OK() {
			report(importer.Result{
				ChipID: d.ChipID, ThingName: d.ThingName,
				CertificateID: d.CertificateID, Status: importer.Skipped, Error: manifest.Reason(d.Err),
			})
			return nil
		}
		select {
		case work <- importer.FromChecked(d):
			return nil
		case <-runCtx.Done():
			return runCtx.Err()
		}
	})
	close(work)
	wg.Wait()
	switch {
	case fatal != nil:
		return fatal
	case ctx.Err() != nil || interrupted != nil:
		return importer.ErrInterrupted
	}
	return verr
}
