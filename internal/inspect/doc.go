// Package inspect shows a person what a manifest holds before anything is
// imported: a summary to take in at a glance followed by every invalid
// device with its reason, or one JSON object per device for machines.
// It writes as it reads, so its memory does not grow with the manifest.
package inspect
