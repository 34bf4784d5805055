// Package infineon reads Infineon OPTIGA Trust M Express reel bundles: a
// 7z "archive of archives" whose members <reelID>_<batchID>_<SLOT>_Certs.7z
// hold one PEM file <chipID>_<SLOT>.pem per chip (see
// shared/specs/infineon-reel-bundle.md).
//
// Open finds the inner archive of the chosen slot in the outer archive,
// spools it to a temporary file (capped by Limits.MaxInnerBytes, never held
// in memory) and opens it; Reader.Next then yields one manifest.Record per
// chip in archive order. The encrypted _keys.7z member is never opened.
// Reel and batch IDs come from the inner archive names, not from the outer
// file name, which customers rename.
//
// The archives are read with github.com/bodgit/sevenzip, in pure Go.
// Before that library sees an archive, checkHeader walks the archive's
// header itself and rejects counts and dictionary sizes that would make
// the library allocate without bound (a header of a few bytes can claim
// four billion files, and an out-of-memory error cannot be recovered);
// calls into the library are also guarded against panics, which become
// manifest.ErrMalformed.
//
// Memory: the library keeps each solid folder's decompressor in a small
// pool keyed by stream offset. Members are read strictly in archive order,
// each one to its end, so each Open finds the decompressor positioned
// exactly at the member's start: reading n members costs O(n) in time,
// with memory bounded by one decompressor plus one entry, plus the header
// listing of the inner archive, which the 7z format and the library keep
// in memory: about 200 bytes per member live, and about 550 MB of peak
// heap for a reel of a million chips with the default GOGC. Members are
// let go as they are read. BenchmarkRead100k measures it (about 60,000
// records/s, the same per record at 10,000 and 100,000 devices; LZMA
// decoding is 80% of the time).
package infineon
