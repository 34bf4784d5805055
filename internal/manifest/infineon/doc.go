// Package infineon reads Infineon OPTIGA Trust M Express reel bundles: a
// 7z "archive of archives" whose members <reelID>_<batchID>_<SLOT>_Certs.7z
// hold one PEM file <chipID>_<SLOT>.pem per chip.
//
// Open finds the inner archive of the chosen slot in the outer archive (of
// at most Limits.MaxMembers members), checks that it starts as a 7z
// archive, spools it to a temporary file (capped by Limits.MaxInnerBytes,
// never held in memory; OpenContext stops spooling when its context is
// done, and the file is removed on every error) and opens it; Reader.Next
// then yields one manifest.Record per chip in archive order. The encrypted
// _keys.7z member is never opened. Reel and batch IDs come from the inner
// archive names, not from the outer file name, which customers rename.
//
// Both archives are read with github.com/bodgit/sevenzip, in pure Go.
// Before that library sees an archive, checkHeader walks its header and
// rejects counts and dictionary sizes that would make the library
// allocate without bound (a header of a few bytes can claim four billion
// files, and an out-of-memory error cannot be recovered) and coder methods
// the importer does not read (manifest.ErrUnsupported, named); calls into
// the library are also guarded against panics, which become
// manifest.ErrMalformed. The library keeps the inner archive's member list
// in memory, some hundreds of bytes per member (see BENCHMARKS.md).
package infineon
