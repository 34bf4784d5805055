// Package verify checks, with read-only calls, that the devices of a
// manifest are complete in AWS IoT Core: each certificate registered and
// ACTIVE, its Thing there with the thing type, the certificate attached
// to that Thing and to no other, each policy attached to the certificate
// and the Thing in each thing group.
//
// What AWS can list for many devices at once is listed once per run:
// ListThingsInThingGroup per group, ListTargetsForPolicy per policy and
// ListThings for the thing type, 250 a page. What it cannot is asked per
// device: DescribeCertificate (status and ARN) and ListPrincipalThings
// (the Things the certificate is attached to), two calls for a complete
// device, plus DescribeThing only for a device whose certificate is not
// attached to its Thing or whose Thing is not of the type.
package verify
