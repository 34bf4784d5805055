package main

import (
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/state"
)

// stateFile returns the state meta of a run over the input at path (its
// SHA-256, the slot, region and endpoint, and o's policies, thing type and
// groups) and the run's state file: flag (--state) if given, else the
// default path for the meta.
func (o *targetOptions) stateFile(path, slot, region, endpoint, flag string) (state.Meta, string, error) {
	meta := state.Meta{Slot: slot, Region: region, Endpoint: endpoint,
		Policies: o.policies, ThingType: o.thingType, ThingGroups: o.thingGroups}
	sum, err := state.HashFile(path)
	if err != nil {
		return meta, "", &manifest.Error{File: path, Err: err}
	}
	meta.ManifestSHA256 = sum
	if flag != "" {
		return meta, flag, nil
	}
	p, err := state.DefaultPath(meta)
	return meta, p, err
}
