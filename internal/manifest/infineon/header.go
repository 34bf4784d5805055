package infineon

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"strconv"

	"github.com/thingpress/thingpress/internal/manifest"
)

// checkHeader walks the header of the 7z archive in r before
// github.com/bodgit/sevenzip parses it, following the same grammar as that
// library (v1.6.5), and rejects what would make the library allocate
// without bound or index out of range:
//
//   - the library sizes slices by counts read from the header (files, CRCs,
//     times, attributes, sub-streams, coder streams) checked only against
//     4 GiB; a header of a few bytes claiming 2^32 files makes it allocate
//     hundreds of GiB, and the runtime's "out of memory" is fatal, not a
//     panic. Files and sub-streams are capped here by Limits.MaxEntries,
//     coders and their streams by small constants;
//   - decompressors allocate the dictionary the coder properties ask for
//     (up to 4 GiB for LZMA2): capped at maxDict;
//   - inconsistent counts (files without streams, too few pack sizes, bind
//     pairs out of range) make the library index out of range: rejected as
//     ErrMalformed;
//   - a compressed ("encoded") header is decompressed here first (LZMA,
//     LZMA2 or copy, as 7-Zip writes it) and walked too; an encrypted one
//     is ErrEncrypted.
//
// The archive must start at offset 0 (the library would also look for a
// 7z signature further in, as in self-extracting archives).
func checkHeader(r io.ReaderAt, size int64, lim manifest.Limits) error {
	_, err := scanHeader(r, size, lim, nil, 0)
	return err
}

var sevenZipSignature = []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C}

// spillFile takes the decoded header for scanHeader: the temporary file
// the inner archive is spooled to.
type spillFile interface {
	io.ReaderAt
	io.WriterAt
}

// scanHeader is checkHeader that, when spill is not nil, also maps the
// header for memberStream (see layout). An encoded header is then written,
// decoded, to spill at offset at, where memberStream reads it later: a
// header of a million members decodes to some 90 MB, which are not to be
// held in memory.
func scanHeader(r io.ReaderAt, size int64, lim manifest.Limits, spill spillFile, at int64) (*layout, error) {
	var sh [32]byte
	if n, _ := r.ReadAt(sh[:], 0); n < len(sh) {
		return nil, fmt.Errorf("not a 7z archive: %d bytes: %w", n, manifest.ErrMalformed)
	}
	if !bytes.Equal(sh[:6], sevenZipSignature) {
		return nil, fmt.Errorf("not a 7z archive: %w", manifest.ErrMalformed)
	}
	if crc32.ChecksumIEEE(sh[12:32]) != binary.LittleEndian.Uint32(sh[8:12]) {
		return nil, fmt.Errorf("7z start header fails its CRC check: %w", manifest.ErrMalformed)
	}
	off := binary.LittleEndian.Uint64(sh[12:20])
	n := binary.LittleEndian.Uint64(sh[20:28])
	if off > uint64(size) || n > uint64(size) || 32+off+n > uint64(size) {
		return nil, fmt.Errorf("7z header lies past the end of the file (truncated?): %w", manifest.ErrMalformed)
	}
	var lay *layout
	if spill != nil {
		lay = &layout{dataEnd: int64(32 + off)}
	}
	if n == 0 {
		if lay != nil {
			lay.notYet("no header") // and the library fails as it always did
		}
		return lay, nil // an empty archive
	}
	hl := headerLimits(lim)
	if int64(n) > hl.maxHeader {
		return nil, fmt.Errorf("7z header of %d bytes exceeds the limit of %d: %w", n, hl.maxHeader, manifest.ErrTooLarge)
	}
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.NewSectionReader(r, int64(32+off), int64(n))); err != nil {
		return nil, fmt.Errorf("reading the 7z header: %w", err)
	}
	if h.Sum32() != binary.LittleEndian.Uint32(sh[28:32]) {
		return nil, fmt.Errorf("7z header fails its CRC check: %w", manifest.ErrMalformed)
	}
	w := newWalker(io.NewSectionReader(r, int64(32+off), int64(n)), hl)
	id, err := w.byte()
	if err != nil {
		return nil, err
	}
	switch id {
	case idHeader:
		w.lay = lay
		if err := w.header(); err != nil {
			return nil, err
		}
		if err := w.end(); err != nil {
			return nil, err
		}
		if lay != nil {
			lay.hdr = io.NewSectionReader(r, int64(32+off), int64(n))
		}
		return lay, nil
	case idEncodedHeader:
		si, err := w.streamsInfo()
		if err != nil {
			return nil, err
		}
		if err := w.end(); err != nil {
			return nil, err
		}
		dec, err := decodeHeader(r, si, hl)
		if err != nil {
			return nil, err
		}
		var src io.Reader = dec
		var tee *spillWriter
		if lay != nil {
			tee = &spillWriter{w: io.NewOffsetWriter(spill, at)}
			src = io.TeeReader(dec, tee)
		}
		w2 := newWalker(src, hl)
		w2.lay = lay
		if id, err := w2.byte(); err != nil || id != idHeader {
			err = w2.bad("encoded header does not start with a header")
			return nil, tee.check(err)
		}
		if err := w2.header(); err != nil {
			return nil, tee.check(err)
		}
		// The rest of the header, for its CRC (and not to the spill file).
		if _, err := io.Copy(io.Discard, dec); err != nil {
			return nil, err
		}
		if lay != nil {
			lay.hdr = io.NewSectionReader(spill, at, tee.n)
		}
		return lay, nil
	default:
		return nil, w.bad("unknown header type")
	}
}

// spillWriter writes the decoded header to the spill file and keeps the
// first write error, which the walker would take for a truncated header.
type spillWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (s *spillWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.n += int64(n)
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("writing the decoded 7z header: %w", err)
	}
	return n, err
}

// check returns the write error in place of err, if there was one.
func (s *spillWriter) check(err error) error {
	if s != nil && s.err != nil {
		return s.err
	}
	return err
}

// Property IDs of the 7z format.
const (
	idEnd = iota
	idHeader
	idArchiveProperties
	idAdditionalStreamsInfo
	idMainStreamsInfo
	idFilesInfo
	idPackInfo
	idUnpackInfo
	idSubStreamsInfo
	idSize
	idCRC
	idFolder
	idCodersUnpackSize
	idNumUnpackStream
	idEmptyStream
	idEmptyFile
	idAnti
	idName
	idCTime
	idATime
	idMTime
	idWinAttributes
	idComment
	idEncodedHeader
	idStartPos
	idDummy
)

const (
	maxCoders       = 32      // coders in a folder (7-Zip writes at most 4)
	maxCoderStreams = 32      // in or out streams of one coder (BCJ2 has 4)
	maxProps        = 1 << 10 // bytes of one coder's properties
	// maxDict caps the dictionary (or model memory) a decompressor may
	// allocate. 7-Zip's -mx9 uses 64 MiB; Infineon's bundles 16 MiB.
	maxDict = 256 << 20
)

type hdrLimits struct {
	maxFiles  uint64 // files, and sub-streams, in one archive
	maxHeader int64  // bytes of the (decoded) header
}

func headerLimits(lim manifest.Limits) hdrLimits {
	lim = lim.WithDefaults()
	// A header needs well under 1 KiB per file (name, sizes, CRC, times).
	maxHeader := int64(lim.MaxEntries)*1024 + 1<<20
	if maxHeader > 1<<30 || maxHeader < 0 {
		maxHeader = 1 << 30
	}
	return hdrLimits{maxFiles: uint64(lim.MaxEntries), maxHeader: maxHeader}
}

// Coder method IDs the walker looks at.
var (
	methodCopy  = []byte{0x00}
	methodLZMA  = []byte{0x03, 0x01, 0x01}
	methodLZMA2 = []byte{0x21}
	methodPPMd  = []byte{0x03, 0x04, 0x01}
	methodAES   = []byte{0x06, 0xF1, 0x07, 0x01}
)

// methods names the 7-Zip coder methods by ID, and says which ones the
// importer reads: those github.com/bodgit/sevenzip decodes, less zstd,
// Brotli and LZ4, whose decoders allocate windows the header does not
// declare.
var methods = map[string]struct {
	name string
	read bool
}{
	"\x00":             {"Copy", true},
	"\x03":             {"Delta", true},
	"\x03\x01\x01":     {"LZMA", true},
	"\x03\x03\x01\x03": {"BCJ", true},
	"\x03\x03\x01\x1b": {"BCJ2", true},
	"\x03\x03\x02\x05": {"PPC", true},
	"\x03\x03\x04\x01": {"IA64", false},
	"\x03\x03\x05\x01": {"ARM", true},
	"\x03\x03\x07\x01": {"ARMT", false},
	"\x03\x03\x08\x05": {"SPARC", true},
	"\x03\x04\x01":     {"PPMd", true},
	"\x04\x01\x08":     {"Deflate", true},
	"\x04\x01\x09":     {"Deflate64", false},
	"\x04\x02\x02":     {"BZip2", true},
	"\x04\xf7\x11\x01": {"zstd", false},
	"\x04\xf7\x11\x02": {"Brotli", false},
	"\x04\xf7\x11\x04": {"LZ4", false},
	"\x04\xf7\x11\x05": {"LZ5", false},
	"\x04\xf7\x11\x06": {"Lizard", false},
	"\x06\xf1\x07\x01": {"AES", true}, // reported as encrypted
	"\x0a":             {"ARM64", true},
	"\x0b":             {"RISCV", false},
	"\x21":             {"LZMA2", true},
	"\x02\x03\x02":     {"Swap2", false},
	"\x02\x03\x04":     {"Swap4", false},
}

// methodName names coder method id for messages: "Deflate64 (040109)",
// or just its ID when 7-Zip's name for it is not known here.
func methodName(id []byte) string {
	if m, ok := methods[string(id)]; ok {
		return fmt.Sprintf("%s (%X)", m.name, id)
	}
	return fmt.Sprintf("%X", id)
}

// unsupported is the error of a coder method the importer does not read.
func unsupported(id []byte) error {
	return fmt.Errorf("7z compression method %s: %w", methodName(id), manifest.ErrUnsupported)
}

type coder struct {
	id      []byte
	in, out uint64
	props   []byte
}

type folder struct {
	coders        []coder
	in, out       uint64
	bindIn        []uint64 // in index of each bind pair
	bindOut       []uint64 // out index of each bind pair
	packed        uint64   // packed streams
	packedIn      []uint64 // their in indexes
	sizes         []uint64 // one per out stream
	encrypted     bool
	unsupportedID []byte
	crc           uint32 // of the unpacked data, when a one-folder unpack info has it
}

func (f *folder) unpackSize() uint64 {
	if len(f.sizes) == 0 {
		return 0
	}
	return f.sizes[f.mainOut()]
}

// mainOut returns the index of the out-stream whose size is the folder's
// unpack size, as the library picks it: the last one not bound, else the
// last one.
func (f *folder) mainOut() uint64 {
	for i := f.out; i > 0; i-- {
		bound := false
		for _, o := range f.bindOut {
			if o == i-1 {
				bound = true
				break
			}
		}
		if !bound {
			return i - 1
		}
	}
	return f.out - 1
}

// streamsInfo is what the walker keeps of a streams info: little per
// folder, for an archive of a million members may have a million folders.
type streamsInfo struct {
	packPos   uint64
	numPack   uint64
	hasSizes  bool   // numPack pack sizes follow (kSize)
	packSize0 uint64 // the first one
	hasPack   bool
	hasUnpack bool
	folders   uint64
	first     *folder  // the first folder, whole: an encoded header's
	unpack    []uint64 // each folder's unpack size
	packed    uint64   // packed streams of all folders
	// unsupportedID is the first coder the importer does not read.
	unsupportedID []byte
	hasSub        bool
	substream     uint64 // sub-streams in all
	declared      uint64 // unpack sizes of the folders with sub-streams, saturated
}

type walker struct {
	r   *bufio.Reader
	cnt *countReader // under r, for pos
	lim hdrLimits
	lay *layout // when not nil, the walker maps the header into it
}

func newWalker(r io.Reader, lim hdrLimits) *walker {
	cnt := &countReader{r: r}
	return &walker{r: bufio.NewReader(cnt), cnt: cnt, lim: lim}
}

// end checks that the walker has read all of the header, as the library
// does (the encoded header's trailing bytes it does not check).
func (w *walker) end() error {
	if _, err := w.r.Peek(1); err == nil {
		return w.bad("bytes after the end")
	}
	return nil
}

// pos returns the offset of the next byte the walker reads.
func (w *walker) pos() int64 { return w.cnt.n - int64(w.r.Buffered()) }

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (w *walker) bad(format string, a ...any) error {
	return fmt.Errorf("7z header: %s: %w", fmt.Sprintf(format, a...), manifest.ErrMalformed)
}

func (w *walker) byte() (byte, error) {
	b, err := w.r.ReadByte()
	if err != nil {
		return 0, w.bad("truncated")
	}
	return b, nil
}

// num reads a 7z variable-length number.
func (w *walker) num() (uint64, error) {
	b, err := w.byte()
	if err != nil {
		return 0, err
	}
	var v uint64
	mask := byte(0x80)
	for i := 0; i < 8; i++ {
		if b&mask == 0 {
			return v | uint64(b&(mask-1))<<(8*i), nil
		}
		nb, err := w.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(nb) << (8 * i)
		mask >>= 1
	}
	return v, nil
}

// count reads a number that the library uses to size a slice, and checks
// it as the library does (non-zero where asked, at most 2^32-1) and
// against max.
func (w *walker) count(what string, max uint64, nonZero bool) (uint64, error) {
	v, err := w.num()
	if err != nil {
		return 0, err
	}
	if nonZero && v == 0 {
		return 0, w.bad("zero %s", what)
	}
	if v > math.MaxUint32 {
		return 0, w.bad("%d %s", v, what)
	}
	if v > max {
		return 0, fmt.Errorf("7z header: %d %s, more than the limit of %d: %w", v, what, max, manifest.ErrTooLarge)
	}
	return v, nil
}

func (w *walker) skip(n uint64) error {
	if n > math.MaxInt64 {
		return w.bad("truncated")
	}
	if m, _ := w.r.Discard(int(min(n, math.MaxInt32))); uint64(m) != n {
		if n <= math.MaxInt32 {
			return w.bad("truncated")
		}
		if _, err := io.CopyN(io.Discard, w.r, int64(n)-int64(m)); err != nil {
			return w.bad("truncated")
		}
	}
	return nil
}

func (w *walker) expect(id byte, what string) error {
	b, err := w.byte()
	if err != nil {
		return err
	}
	if b != id {
		return w.bad("expected %s", what)
	}
	return nil
}

// bits reads a bit vector of n bits and returns how many are set.
func (w *walker) bits(n uint64) (uint64, error) {
	var set uint64
	for i := uint64(0); i < n; i += 8 {
		b, err := w.byte()
		if err != nil {
			return 0, err
		}
		if n-i < 8 {
			b &= ^byte(0xFF >> (n - i))
		}
		for ; b != 0; b &= b - 1 {
			set++
		}
	}
	return set, nil
}

// optionalBits reads an "all defined" byte and, if it is zero, a bit
// vector; it returns how many of n items are defined.
func (w *walker) optionalBits(n uint64) (uint64, error) {
	all, err := w.byte()
	if err != nil {
		return 0, err
	}
	if all != 0 {
		return n, nil
	}
	return w.bits(n)
}

func (w *walker) crcs(n uint64) error {
	if n == 0 {
		return w.bad("zero CRCs")
	}
	defined, err := w.optionalBits(n)
	if err != nil {
		return err
	}
	return w.skip(4 * defined)
}

// crc1 reads the CRCs of one item: its value, or 0 if it is not defined
// (as the library, which does not check a CRC of 0).
func (w *walker) crc1() (uint32, error) {
	defined, err := w.optionalBits(1)
	if err != nil || defined == 0 {
		return 0, err
	}
	var b [4]byte
	if _, err := io.ReadFull(w.r, b[:]); err != nil {
		return 0, w.bad("truncated")
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func (w *walker) header() error {
	id, err := w.byte()
	if err != nil {
		return err
	}
	if id == idArchiveProperties || id == idAdditionalStreamsInfo {
		return w.bad("unsupported property %d", id)
	}
	var si *streamsInfo
	if id == idMainStreamsInfo {
		if si, err = w.streamsInfo(); err != nil {
			return err
		}
		if id, err = w.byte(); err != nil {
			return err
		}
	}
	var files, empty uint64
	if id == idFilesInfo {
		if files, empty, err = w.filesInfo(); err != nil {
			return err
		}
		if id, err = w.byte(); err != nil {
			return err
		}
	}
	if id != idEnd {
		return w.bad("unexpected property %d", id)
	}
	if err := checkStreams(si, files-empty, w); err != nil {
		return err
	}
	if w.lay != nil {
		w.lay.finish(si, files, files-empty)
	}
	return nil
}

// checkStreams checks that the streams can serve nonEmpty files and that
// the library will find every size it looks up.
func checkStreams(si *streamsInfo, nonEmpty uint64, w *walker) error {
	if si == nil || !si.hasUnpack {
		if nonEmpty > 0 {
			return w.bad("%d files but no streams", nonEmpty)
		}
		return nil
	}
	if id := si.unsupportedID; id != nil {
		return unsupported(id)
	}
	if !si.hasPack || !si.hasSizes || si.numPack < si.packed {
		var sizes uint64
		if si.hasSizes {
			sizes = si.numPack
		}
		return w.bad("%d packed streams but %d pack sizes", si.packed, sizes)
	}
	streams := si.folders
	if si.hasSub {
		streams = si.substream
	}
	if nonEmpty != streams && nonEmpty > 0 {
		return w.bad("%d files with data but %d streams", nonEmpty, streams)
	}
	return nil
}

func (w *walker) streamsInfo() (*streamsInfo, error) {
	si := &streamsInfo{}
	id, err := w.byte()
	if err != nil {
		return nil, err
	}
	if id == idPackInfo {
		if err := w.packInfo(si); err != nil {
			return nil, err
		}
		if id, err = w.byte(); err != nil {
			return nil, err
		}
	}
	if id == idUnpackInfo {
		if err := w.unpackInfo(si); err != nil {
			return nil, err
		}
		if id, err = w.byte(); err != nil {
			return nil, err
		}
	}
	if id == idSubStreamsInfo {
		if !si.hasUnpack {
			return nil, w.bad("sub-streams without unpack info")
		}
		if err := w.subStreamsInfo(si); err != nil {
			return nil, err
		}
		if id, err = w.byte(); err != nil {
			return nil, err
		}
	}
	if id != idEnd {
		return nil, w.bad("unexpected property %d in streams info", id)
	}
	return si, nil
}

func (w *walker) packInfo(si *streamsInfo) error {
	var err error
	si.hasPack = true
	if si.packPos, err = w.num(); err != nil {
		return err
	}
	if si.numPack, err = w.count("pack streams", w.lim.maxFiles+maxCoders, true); err != nil {
		return err
	}
	id, err := w.byte()
	if err != nil {
		return err
	}
	if id == idSize {
		if w.lay != nil {
			w.lay.packSizesAt = w.pos()
		}
		si.hasSizes = true
		for i := range si.numPack {
			s, err := w.num()
			if err != nil {
				return err
			}
			if i == 0 {
				si.packSize0 = s
			}
		}
		if id, err = w.byte(); err != nil {
			return err
		}
	}
	if id == idCRC {
		if err := w.crcs(si.numPack); err != nil {
			return err
		}
		if id, err = w.byte(); err != nil {
			return err
		}
	}
	if id != idEnd {
		return w.bad("unexpected property %d in pack info", id)
	}
	return nil
}

func (w *walker) unpackInfo(si *streamsInfo) error {
	si.hasUnpack = true
	if err := w.expect(idFolder, "folders"); err != nil {
		return err
	}
	n, err := w.count("folders", w.lim.maxFiles+maxCoders, true)
	if err != nil {
		return err
	}
	ext, err := w.byte()
	if err != nil {
		return err
	}
	if ext != 0 {
		return w.bad("external folders")
	}
	if w.lay != nil {
		w.lay.foldersAt = w.pos()
	}
	// What the unpack sizes need to know of each folder.
	type shape struct {
		out, main uint16 // out-streams (at most 32 * 32), the unbound one
		bcj       bool   // a BCJ chain, whose two sizes must agree
	}
	si.folders = n
	shapes := make([]shape, 0, min(n, 1024))
	for i := range n {
		f, err := w.folder()
		if err != nil {
			return err
		}
		if i == 0 {
			si.first = f
		}
		si.packed += f.packed
		if si.unsupportedID == nil && !f.encrypted { // encrypted says more
			si.unsupportedID = f.unsupportedID
		}
		if w.lay != nil && !chain(f) {
			w.lay.notYet(describeCoders(f))
		}
		shapes = append(shapes, shape{out: uint16(f.out), main: uint16(f.mainOut()), bcj: len(f.coders) == 2})
	}
	if err := w.expect(idCodersUnpackSize, "unpack sizes"); err != nil {
		return err
	}
	if w.lay != nil {
		w.lay.unpackAt = w.pos()
	}
	si.unpack = make([]uint64, 0, min(n, 1024))
	for i, sh := range shapes {
		var sizes [2]uint64
		var unpack uint64
		for j := range sh.out {
			v, err := w.num()
			if err != nil {
				return err
			}
			if j < 2 {
				sizes[j] = v
			}
			if j == sh.main {
				unpack = v
			}
			if i == 0 {
				si.first.sizes = append(si.first.sizes, v)
			}
		}
		si.unpack = append(si.unpack, unpack)
		if w.lay != nil && sh.bcj && sizes[0] != sizes[1] {
			w.lay.notYet("BCJ of another size than its input")
		}
	}
	id, err := w.byte()
	if err != nil {
		return err
	}
	if id == idCRC {
		if w.lay != nil {
			w.lay.notYet("folder CRCs")
		}
		if n == 1 { // an encoded header's: keep it
			if si.first.crc, err = w.crc1(); err != nil {
				return err
			}
		} else if err := w.crcs(n); err != nil {
			return err
		}
		if id, err = w.byte(); err != nil {
			return err
		}
	}
	if id != idEnd {
		return w.bad("unexpected property %d in unpack info", id)
	}
	return nil
}

func (w *walker) folder() (*folder, error) {
	f := &folder{}
	n, err := w.count("coders", maxCoders, true)
	if err != nil {
		return nil, err
	}
	for range n {
		v, err := w.byte()
		if err != nil {
			return nil, err
		}
		c := coder{id: make([]byte, v&0x0F), in: 1, out: 1}
		if _, err := io.ReadFull(w.r, c.id); err != nil {
			return nil, w.bad("truncated")
		}
		if v&0x10 != 0 {
			if c.in, err = w.count("coder in-streams", maxCoderStreams, true); err != nil {
				return nil, err
			}
			if c.out, err = w.count("coder out-streams", maxCoderStreams, true); err != nil {
				return nil, err
			}
		}
		if v&0x20 != 0 {
			ps, err := w.count("property bytes", maxProps, true)
			if err != nil {
				return nil, err
			}
			c.props = make([]byte, ps)
			if _, err := io.ReadFull(w.r, c.props); err != nil {
				return nil, w.bad("truncated")
			}
		}
		if err := f.checkCoder(c); err != nil {
			return nil, err
		}
		f.coders = append(f.coders, c)
		f.in += c.in
		f.out += c.out
	}
	if f.in < f.out {
		return nil, w.bad("folder has fewer in-streams than out-streams")
	}
	for range f.out - 1 {
		in, err := w.num()
		if err != nil {
			return nil, err
		}
		out, err := w.num()
		if err != nil {
			return nil, err
		}
		if in >= f.in || out >= f.out {
			return nil, w.bad("bind pair out of range")
		}
		f.bindIn = append(f.bindIn, in)
		f.bindOut = append(f.bindOut, out)
	}
	f.packed = f.in - (f.out - 1)
	if f.packed == 1 {
		for i := range f.in {
			bound := false
			for _, b := range f.bindIn {
				bound = bound || b == i
			}
			if !bound {
				f.packedIn = append(f.packedIn, i)
			}
		}
		if len(f.packedIn) != 1 {
			return nil, w.bad("no unbound in-stream")
		}
	} else {
		for range f.packed {
			i, err := w.num()
			if err != nil {
				return nil, err
			}
			if i >= f.in {
				return nil, w.bad("packed stream out of range")
			}
			f.packedIn = append(f.packedIn, i)
		}
	}
	return f, nil
}

// checkCoder caps the memory a coder's decompressor will allocate and notes
// encryption and the methods the importer does not read.
func (f *folder) checkCoder(c coder) error {
	tooBig := func(what string, n uint64) error {
		return fmt.Errorf("7z coder %X: %s of %d bytes exceeds the limit of %d: %w",
			c.id, what, n, maxDict, manifest.ErrTooLarge)
	}
	switch {
	case bytes.Equal(c.id, methodLZMA):
		if len(c.props) != 5 {
			return fmt.Errorf("7z coder LZMA: %d property bytes: %w", len(c.props), manifest.ErrMalformed)
		}
		if d := uint64(binary.LittleEndian.Uint32(c.props[1:])); d > maxDict {
			return tooBig("dictionary", d)
		}
	case bytes.Equal(c.id, methodLZMA2):
		if len(c.props) == 1 && c.props[0] <= 40 {
			if d := lzma2Dict(c.props[0]); d > maxDict {
				return tooBig("dictionary", d)
			}
		}
	case bytes.Equal(c.id, methodPPMd):
		if len(c.props) == 5 {
			if d := uint64(binary.LittleEndian.Uint32(c.props[1:])); d > maxDict {
				return tooBig("model memory", d)
			}
		}
	case bytes.Equal(c.id, methodAES):
		f.encrypted = true
	}
	if m, ok := methods[string(c.id)]; (!ok || !m.read) && f.unsupportedID == nil {
		f.unsupportedID = c.id
	}
	return nil
}

func (w *walker) subStreamsInfo(si *streamsInfo) error {
	id, err := w.byte()
	if err != nil {
		return err
	}
	streams := make([]uint64, si.folders)
	var total uint64
	for i := range streams {
		streams[i] = 1
	}
	if id == idNumUnpackStream {
		if w.lay != nil {
			w.lay.numStreamsAt = w.pos()
		}
		for i := range streams {
			if streams[i], err = w.num(); err != nil {
				return err
			}
			if streams[i] > w.lim.maxFiles || total+streams[i] > w.lim.maxFiles {
				return fmt.Errorf("7z header: more than %d files with data: %w", w.lim.maxFiles, manifest.ErrTooLarge)
			}
			total += streams[i]
		}
		if id, err = w.byte(); err != nil {
			return err
		}
	} else {
		total = uint64(len(streams))
		if total > w.lim.maxFiles {
			return fmt.Errorf("7z header: more than %d files with data: %w", w.lim.maxFiles, manifest.ErrTooLarge)
		}
	}
	si.hasSub, si.substream = true, total
	if w.lay != nil {
		w.lay.substreams = total
	}
	for i, n := range streams {
		if n > 0 {
			si.declared = addSat(si.declared, si.unpack[i])
		}
	}
	sized := false
	if id == idSize {
		if w.lay != nil {
			w.lay.subSizesAt = w.pos()
		}
		sized = true
		for i, n := range streams {
			if n == 0 {
				continue
			}
			var sum uint64
			for j := uint64(1); j < n; j++ {
				s, err := w.num()
				if err != nil {
					return err
				}
				if sum+s < sum {
					return w.bad("sub-stream sizes overflow")
				}
				sum += s
			}
			if sum > si.unpack[i] {
				return w.bad("sub-streams larger than their folder")
			}
		}
		if id, err = w.byte(); err != nil {
			return err
		}
	}
	if !sized {
		for _, n := range streams {
			if n > 1 {
				return w.bad("sub-streams without sizes")
			}
		}
	}
	if id == idCRC {
		if w.lay != nil {
			w.lay.subCRCsAt = w.pos()
		}
		if err := w.crcs(total); err != nil {
			return err
		}
		if id, err = w.byte(); err != nil {
			return err
		}
	}
	if id != idEnd {
		return w.bad("unexpected property %d in sub-streams info", id)
	}
	return nil
}

func (w *walker) filesInfo() (files, emptyStreams uint64, err error) {
	if files, err = w.count("files", w.lim.maxFiles, true); err != nil {
		return 0, 0, err
	}
	// The library adds up the empty streams of every kEmptyStream
	// property to size kEmptyFile, but marks the files by the last one.
	var emptyAll uint64
	for {
		prop, err := w.byte()
		if err != nil {
			return 0, 0, err
		}
		if prop == idEnd {
			return files, emptyStreams, nil
		}
		length, err := w.num()
		if err != nil {
			return 0, 0, err
		}
		switch prop {
		case idEmptyStream:
			if w.lay != nil {
				w.lay.notTwice(&w.lay.emptyAt, w.pos(), "kEmptyStream")
			}
			if emptyStreams, err = w.bits(files); err != nil {
				return 0, 0, err
			}
			emptyAll += emptyStreams
		case idEmptyFile:
			if emptyAll == 0 {
				return 0, 0, w.bad("empty files without empty streams")
			}
			_, err = w.bits(emptyAll)
		case idCTime, idATime, idMTime:
			err = w.external(files, 8)
		case idWinAttributes:
			if w.lay != nil {
				w.lay.notTwice(&w.lay.attrAt, w.pos(), "kWinAttributes")
			}
			err = w.external(files, 4)
		case idName:
			if ext, err := w.byte(); err != nil {
				return 0, 0, err
			} else if ext != 0 {
				return 0, 0, w.bad("external names")
			}
			switch {
			case w.lay != nil:
				w.lay.notTwice(&w.lay.namesAt, w.pos(), "kName")
				err = w.names(files, length)
			case length > 0:
				err = w.skip(length - 1)
			}
		case idDummy:
			err = w.skip(length)
		default:
			return 0, 0, w.bad("unsupported file property %d", prop)
		}
		if err != nil {
			return 0, 0, err
		}
	}
}

// names reads the file names, length-1 bytes after the external byte, for
// the layout: memberStream reads them in step with the members, so there
// must be one per file, each ended by a zero UTF-16 unit, and nothing
// after the last (the library reads the others its own way).
func (w *walker) names(files, length uint64) error {
	if length == 0 {
		w.lay.notYet("no names")
		return nil
	}
	n := length - 1
	if n%2 != 0 {
		w.lay.notYet("names of an odd number of bytes")
		return w.skip(n)
	}
	var zeros, units uint64
	lastZero := false
	for n > 0 {
		k := int(min(n, 4096)) // even, and at most the buffer's size
		b, err := w.r.Peek(k)
		if err != nil {
			return w.bad("truncated")
		}
		for i := 0; i < k; i += 2 {
			if b[i]|b[i+1] == 0 {
				zeros++
				units = 0
			} else if units++; units > maxNameUnits {
				w.lay.notYet("a name of more than " + strconv.Itoa(maxNameUnits) + " characters")
			}
		}
		lastZero = b[k-2]|b[k-1] == 0
		w.r.Discard(k)
		n -= uint64(k)
	}
	if zeros != files || !lastZero {
		w.lay.notYet("names that are not one per file")
	}
	return nil
}

// external reads the defined vector, external flag and size bytes of each
// defined item of a times or attributes property.
func (w *walker) external(files uint64, size uint64) error {
	defined, err := w.optionalBits(files)
	if err != nil {
		return err
	}
	ext, err := w.byte()
	if err != nil {
		return err
	}
	if ext != 0 {
		return w.bad("external property")
	}
	return w.skip(defined * size)
}

// decodeHeader returns a reader of the decoded header that si describes,
// limited to hl.maxHeader bytes.
func decodeHeader(r io.ReaderAt, si *streamsInfo, hl hdrLimits) (*errReader, error) {
	bad := func(what string) error {
		return fmt.Errorf("7z encoded header: %s: %w", what, manifest.ErrMalformed)
	}
	if !si.hasUnpack || si.folders != 1 {
		return nil, bad("not one folder")
	}
	f := si.first
	if f.encrypted {
		return nil, fmt.Errorf("7z header: file names are encrypted: %w", manifest.ErrEncrypted)
	}
	if !si.hasPack || !si.hasSizes || len(f.coders) != 1 || f.packed != 1 {
		return nil, bad("unsupported coding")
	}
	if id := f.coders[0].id; !bytes.Equal(id, methodCopy) && !bytes.Equal(id, methodLZMA) && !bytes.Equal(id, methodLZMA2) {
		return nil, fmt.Errorf("7z encoded header: %w", unsupported(id))
	}
	size := f.unpackSize()
	if size > uint64(hl.maxHeader) {
		return nil, fmt.Errorf("7z header of %d bytes exceeds the limit of %d: %w", size, hl.maxHeader, manifest.ErrTooLarge)
	}
	if si.packPos > math.MaxInt64-32 || si.packSize0 > math.MaxInt64 {
		return nil, bad("pack position out of range")
	}
	packed := io.NewSectionReader(r, 32+int64(si.packPos), int64(si.packSize0))
	dec, err := decoder(f.coders[0], size, bufio.NewReader(packed))
	if err != nil {
		return nil, bad(err.Error())
	}
	return &errReader{r: io.LimitReader(dec, int64(size)), crc: f.crc, h: crc32.NewIEEE()}, nil
}

// errReader turns decoding errors into ErrMalformed for the walker, which
// reports any read error as a truncated header anyway, and checks the
// decoded header against crc, unless it is 0, at the end.
type errReader struct {
	r   io.Reader
	crc uint32
	h   hash.Hash32
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.h.Write(p[:n])
	if errors.Is(err, io.EOF) && e.crc != 0 && e.h.Sum32() != e.crc {
		err = fmt.Errorf("7z encoded header fails its CRC check: %w", manifest.ErrMalformed)
	} else if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: %w", manifest.ErrMalformed, err)
	}
	return n, err
}
