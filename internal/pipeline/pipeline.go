package pipeline

import (
	"context"

	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/validate"
	"github.com/thingpress/thingpress/internal/workers"
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
// with their reason. It returns an error that Is importer.ErrInterrupted
// when ctx was cancelled, or the endpoint became unreachable, before
// every device was done (the results of those done are reported).
func Run(ctx context.Context, im *importer.Importer, src manifest.Source, o Options) error {
	return workers.Each(ctx, o.Workers, importer.ErrInterrupted, o.OnResult,
		func(ctx context.Context, send func(importer.Device) error, skip func(importer.Result)) error {
			return validate.Run(ctx, src, o.Validate, func(d *validate.Checked) error {
				if !d.OK() {
					skip(importer.Result{
						ChipID: d.ChipID, ThingName: d.ThingName,
						CertificateID: d.CertificateID, Status: importer.Skipped, Error: manifest.Reason(d.Err),
					})
					return nil
				}
				return send(importer.FromChecked(d))
			})
		}, im.Import)
}
