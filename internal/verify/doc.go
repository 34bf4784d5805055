// Package verify checks, with read-only calls and changing nothing, that
// the devices of a manifest are complete in AWS IoT Core: each certificate
// registered and ACTIVE, its Thing there with the thing type, the
// certificate attached to that Thing and to no other, each policy attached
// and the Thing in each group. What AWS lists for many devices at once is
// listed once per run; docs/design.md ("Verify and remove") says which
// calls remain per device.
package verify
