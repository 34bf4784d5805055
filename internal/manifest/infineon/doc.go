// Package infineon reads Infineon OPTIGA Trust M Express reel bundles: a
// 7z "archive of archives" whose members <reelID>_<batchID>_<SLOT>_Certs.7z
// hold one PEM file <chipID>_<SLOT>.pem per chip (see
// shared/specs/infineon-reel-bundle.md).
//
// Open finds the inner archive of the chosen slot in the outer archive (of
// at most Limits.MaxMembers members), checks that it starts as a 7z
// archive, spools it to a temporary file (capped by Limits.MaxInnerBytes,
// never held in memory; OpenContext stops spooling when its context is
// done, and the file is removed on every error) and opens it; Reader.Next then yields one manifest.Record per
// chip in archive order. The encrypted _keys.7z member is never opened.
// Reel and batch IDs come from the inner archive names, not from the outer
// file name, which customers rename.
//
// The outer archive is read with github.com/bodgit/sevenzip, in pure Go.
// Before that library sees an archive, checkHeader walks the archive's
// header itself and rejects counts and dictionary sizes that would make
// the library allocate without bound (a header of a few bytes can claim
// four billion files, and an out-of-memory error cannot be recovered);
// calls into the library are also guarded against panics, which become
// manifest.ErrMalformed. A coder method that neither reads is
// manifest.ErrUnsupported, named, before anything is decompressed.
//
// The inner archive, where a reel's million members are, is read member
// by member instead (memberStream): the library keeps about 200 bytes per
// member live (550 MB of peak heap for a million chips). scanHeader walks
// its header as checkHeader does, writing an LZMA-compressed header,
// decoded, after the spooled archive in the same temporary file, and notes
// where each per-member section of the header starts (names, attributes,
// empty-stream flags, sub-stream sizes and CRCs, the folders' coders and
// sizes). memberStream then reads those sections with one small cursor
// each, in step, as it goes from member to member, and decodes the
// folders in order with github.com/ulikunitz/xz/lzma and bcjReader: copy,
// LZMA or LZMA2, each alone or followed by BCJ, solid or not, which covers
// what 7-Zip writes for Infineon's archives. An archive with anything else
// (another coder, encryption, folder CRCs, odd header properties) is read
// by the library as before, so that every bundle the library read still
// reads. Both ways yield the same records and warnings, and errors of the
// same kinds (see TestStreamMatchesLibrary and FuzzHeader); each member's
// size and CRC are checked, and every limit applies the same way.
//
// Memory: memberStream holds a dozen header cursors, one folder's
// decoder (its dictionary capped at the folder's size) and the member
// being read, whatever the number of members: reading the inner archive of
// a million chips peaks at about 17 MB of RSS (550 MB through the
// library), the walker keeping about 22 bytes per folder while it checks
// the header (a non-solid archive has a folder per member). Members are
// read strictly in archive order; a member that is not read (a skipped
// name, an entry over the limit) is decoded and dropped on the way to the
// next one read. BenchmarkRead100k measures it; LZMA decoding is most of
// the time.
package infineon
