package main

import (
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/state"
)

// stateFile returns meta with the SHA-256 of the input at path, and the
// state file of the run: flag (--state) if given, else the default path
// for meta.
func stateFile(path string, meta state.Meta, flag string) (state.Meta, string, error) {
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
