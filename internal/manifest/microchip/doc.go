// Package microchip reads the manifests Microchip ships with Trust&GO,
// TrustFLEX and TrustCUSTOM secure elements: a JSON array with one JWS per
// chip in flattened JSON serialisation (RFC 7515, section 7.2.2).
//
// A [Reader] is a [manifest.Source] yielding one record per array element,
// in order; [Reader.NextDevice] also gives the Microchip fields ([Device]).
// Nothing in an entry is trusted before its ES256 signature verifies
// against a manifest signer: by default the signer certificates Microchip
// publishes (built in), or a caller's [Signers]. The signer is the one
// whose subject key identifier is the protected header's kid (and, when
// given, whose DER hashes to its x5t#S256), and it must have been valid at
// the entry's provisioningTimestamp.
//
// Identity comes from the signed payload only: the Thing name is its
// uniqueId upper-cased (as Microchip's own AWS loader does, and as the
// device certificate's CN spells it); an unprotected header uniqueId that
// differs other than in case makes the entry invalid. The record's Data is
// the DER of the first x5c certificate in publicKeySet, which must be
// signed by the CA certificate after it. An entry that fails any check is
// a record with a Problem saying why, never dropped; its ChipID is then
// the unprotected uniqueId, for messages only.
//
// The input is read with encoding/json's Decoder, one element at a time,
// through a reader that caps one element at 4*Limits.MaxEntryBytes (plus
// one read of look-ahead) and the whole input at Limits.MaxTotalBytes;
// more than Limits.MaxEntries elements, or a JSON syntax error, ends the
// read with a *manifest.Error.
package microchip
