package infineon

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf16"

	"github.com/ulikunitz/xz/lzma"

	"github.com/thingpress/thingpress/internal/manifest"
)

// layout maps the header of a 7z archive for memberStream, which reads the
// members in header order without a list of them: a list costs about 200
// bytes per member in the 7z library, 200 MB for a reel of a million
// chips. Instead memberStream reads the header's per-member sections (the
// files' names, attributes and empty-stream flags, the sub-streams' sizes
// and CRCs, the folders' coders and sizes) each with its own cursor, in
// step, as it goes from member to member. The walker (see scanHeader)
// fills in where each section starts, having checked the whole header
// first.
//
// Offsets are into hdr, the (decoded) header, and 0 means "absent": offset
// 0 holds the header's ID, never a section.
type layout struct {
	hdr     io.ReaderAt // the header, decoded
	dataEnd int64       // end of the packed streams in the archive: 32 + next header offset
	// why is empty when memberStream can read the archive, else says what
	// it does not read: the 7z library reads the archive then.
	why string

	packPos      uint64 // packed streams start at 32 + packPos
	packSizesAt  int64  // one number per packed stream
	folders      uint64 // number of folders
	foldersAt    int64  // their coders, one folder after another
	unpackAt     int64  // their coders' unpack sizes
	numStreamsAt int64  // sub-streams per folder; absent: one each
	substreams   uint64 // sub-streams in all
	subSizesAt   int64  // sizes of all sub-streams but each folder's last
	subCRCsAt    int64  // CRCs of the sub-streams, an optional-bits vector

	files    uint64 // members
	emptyAt  int64  // kEmptyStream: bit vector of the members without data
	attrAt   int64  // kWinAttributes: optional-bits vector, external byte, values
	namesAt  int64  // kName: UTF-16LE names, each ended by a zero unit
	declared uint64 // bytes of all members together, saturated
}

// maxNameUnits caps a member name, in UTF-16 units, for memberStream. The
// library refuses names of 64 KiB and more of UTF-8; below 16 Ki units a
// name stays well under that.
const maxNameUnits = 16 << 10

func (l *layout) notYet(why string) {
	if l.why == "" {
		l.why = why
	}
}

// notTwice records the offset of a files property, which memberStream
// reads only if there is one of its kind.
func (l *layout) notTwice(at *int64, pos int64, what string) {
	if *at != 0 {
		l.notYet("two " + what + " properties")
	}
	*at = pos
}

// finish completes the layout from the checked streams info.
func (l *layout) finish(si *streamsInfo, files, nonEmpty uint64) {
	l.files = files
	if files > 0 && l.namesAt == 0 {
		l.notYet("members without names")
	}
	if nonEmpty == 0 {
		return // no data to read
	}
	// checkStreams made sure there is unpack and pack info.
	l.packPos = si.packPos
	l.folders = si.folders
	switch {
	case si.hasSub:
		l.declared = si.declared
	case si.folders > 1:
		// The library maps every member to the first folder then.
		l.notYet("several folders without sub-streams info")
	default:
		l.declared = si.unpack[0]
	}
}

// addSat adds without overflow, saturating at the largest uint64.
func addSat(a, b uint64) uint64 {
	if b > math.MaxUint64-a {
		return math.MaxUint64
	}
	return a + b
}

// Coder method IDs memberStream decodes, besides copy, LZMA and LZMA2.
var methodBCJ = []byte{0x03, 0x03, 0x01, 0x03}

// streamable says why memberStream cannot decode folder f, or "" if it
// can: the coder chains 7-Zip writes for Infineon's archives and for
// 7z a -m0=... of copy, LZMA and LZMA2, with or without the x86 BCJ
// filter after them.
func streamable(f *folder) string {
	switch {
	case !chain(f):
		return describeCoders(f)
	case len(f.coders) == 2 && f.sizes[0] != f.sizes[1]:
		return "BCJ of another size than its input"
	}
	return ""
}

func describeCoders(f *folder) string {
	ids := make([]string, len(f.coders))
	for i, c := range f.coders {
		ids[i] = fmt.Sprintf("%X", c.id)
	}
	return "coders " + strings.Join(ids, "+")
}

// chain says whether memberStream decodes folder f, its sizes aside: a
// copy, LZMA or LZMA2 coder reading the packed stream, alone or followed
// by BCJ. 7-Zip writes
// BCJ + LZMA2 as coders [LZMA2, BCJ], the first one's out-stream bound to
// the second one's in-stream (each coder has one of each, numbered as the
// coders); the 7z library creates the coders in their order, so it reads
// no other order either.
func chain(f *folder) bool {
	plain := func(c coder) bool {
		switch {
		case c.in != 1 || c.out != 1:
			return false
		case bytes.Equal(c.id, methodCopy):
			return len(c.props) == 0
		case bytes.Equal(c.id, methodLZMA):
			return len(c.props) == 5
		case bytes.Equal(c.id, methodLZMA2):
			return len(c.props) == 1 && c.props[0] <= 40
		}
		return false
	}
	switch {
	case len(f.coders) == 1:
		return plain(f.coders[0])
	case len(f.coders) == 2:
		bcj := f.coders[1]
		return plain(f.coders[0]) &&
			bytes.Equal(bcj.id, methodBCJ) && bcj.in == 1 && bcj.out == 1 && len(bcj.props) == 0 &&
			f.bindIn[0] == 1 && f.bindOut[0] == 0 && len(f.packedIn) == 1 && f.packedIn[0] == 0
	}
	return false
}

// member is what memberStream tells of an archive member, as the 7z
// library would: a directory's name ends in "/"; crc is 0 when unknown.
type member struct {
	name string
	dir  bool
	size uint64
	crc  uint32
}

// memberStream reads the members of a 7z archive in header order, with
// memory bounded whatever their number: a few cursors into the header, one
// folder's decoder, and the member being read. The header must have been
// checked by scanHeader, which made the layout.
type memberStream struct {
	ra   io.ReaderAt // the archive
	lay  *layout
	lim  hdrLimits
	next uint64 // members returned so far

	empty   *bitCursor // nil without kEmptyStream
	attrs   *vecCursor // nil without kWinAttributes
	names   *walker
	units   []uint16 // scratch for a name
	folderW *walker  // coders of the next folder
	unpackW *walker  // unpack sizes of the next folder
	packW   *walker  // pack sizes of the next folder
	numW    *walker  // sub-streams of the next folder; nil: one each
	sizeW   *walker  // sizes of sub-streams
	crcs    *vecCursor

	folders uint64  // folders entered
	cur     *folder // the folder being read, nil before the first
	left    uint64  // its sub-streams not handed out yet
	remain  uint64  // its bytes not handed out yet
	packOff uint64  // offset from packPos of the next folder's packed streams
	packAt  int64   // the current folder's packed stream in the archive
	packLen int64
	dec     io.Reader     // the current folder's decoder, opened at the first read
	packed  *bufio.Reader // under it, reused from folder to folder
	skip    uint64        // bytes before the next member's data, not decoded yet
	unread  uint64        // the last member's bytes, not read yet
}

func newMemberStream(ra io.ReaderAt, lay *layout, lim manifest.Limits) (*memberStream, error) {
	s := &memberStream{ra: ra, lay: lay, lim: headerLimits(lim)}
	if lay.files == 0 {
		return s, nil
	}
	var err error
	if lay.emptyAt != 0 {
		s.empty = &bitCursor{w: s.cursor(lay.emptyAt)}
	}
	if lay.attrAt != 0 {
		if s.attrs, err = s.vector(lay.attrAt, lay.files, true); err != nil {
			return nil, err
		}
	}
	s.names = s.cursor(lay.namesAt)
	if lay.folders == 0 {
		return s, nil
	}
	s.folderW = s.cursor(lay.foldersAt)
	s.unpackW = s.cursor(lay.unpackAt)
	if lay.packSizesAt != 0 {
		s.packW = s.cursor(lay.packSizesAt)
	}
	if lay.numStreamsAt != 0 {
		s.numW = s.cursor(lay.numStreamsAt)
	}
	if lay.subSizesAt != 0 {
		s.sizeW = s.cursor(lay.subSizesAt)
	}
	if lay.subCRCsAt != 0 {
		// As the library does, one CRC per sub-stream of every folder.
		if s.crcs, err = s.vector(lay.subCRCsAt, lay.substreams, false); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// cursor returns a walker reading the header from offset at.
func (s *memberStream) cursor(at int64) *walker {
	return newWalker(io.NewSectionReader(s.lay.hdr, at, math.MaxInt64-at), s.lim)
}

// vector returns a cursor on an optional-bits vector of n items at offset
// at and the 4-byte values of the defined ones, which follow it (after an
// external byte, which the walker checked is 0, when external is set).
func (s *memberStream) vector(at int64, n uint64, external bool) (*vecCursor, error) {
	var all [1]byte
	if _, err := s.lay.hdr.ReadAt(all[:], at); err != nil {
		return nil, fmt.Errorf("7z header: truncated: %w", manifest.ErrMalformed)
	}
	c := &vecCursor{all: all[0] != 0}
	vals := at + 1
	if !c.all {
		c.bits = bitCursor{w: s.cursor(at + 1)}
		vals += int64((n + 7) / 8)
	}
	if external {
		vals++
	}
	c.vals = s.cursor(vals)
	return c, nil
}

// nextMember returns the next member, or io.EOF after the last. The
// member's data is read by read, or skipped if nextMember is called again
// first.
func (s *memberStream) nextMember() (m member, err error) {
	if s.next >= s.lay.files {
		return m, io.EOF
	}
	s.next++
	s.skip += s.unread
	s.unread = 0
	empty := false
	if s.empty != nil {
		if empty, err = s.empty.next(); err != nil {
			return m, err
		}
	}
	var attr uint32
	if s.attrs != nil {
		if attr, _, err = s.attrs.next(); err != nil {
			return m, err
		}
	}
	if m.name, err = s.name(); err != nil {
		return m, err
	}
	if m.dir = isDir(attr); m.dir && !strings.HasSuffix(m.name, "/") {
		m.name += "/"
	}
	if empty {
		return m, nil
	}
	for s.left == 0 {
		if err := s.nextFolder(); err != nil {
			return m, err
		}
	}
	s.left--
	if s.left == 0 {
		m.size = s.remain // the folder's last sub-stream has the rest
	} else if s.sizeW == nil { // the walker saw to it
		return m, s.names.bad("sub-streams without sizes")
	} else if m.size, err = s.sizeW.num(); err != nil {
		return m, err
	} else if m.size > s.remain {
		return m, s.names.bad("sub-streams larger than their folder")
	}
	s.remain -= m.size
	if s.crcs != nil {
		if m.crc, _, err = s.crcs.next(); err != nil {
			return m, err
		}
	}
	s.unread = m.size
	return m, nil
}

// isDir tells a directory from its attributes as the 7z library does: by
// the Unix file type when the high half holds a Unix mode with one, else
// by the DOS directory bit.
func isDir(attr uint32) bool {
	if attr&0xF0000000 != 0 {
		return attr>>16&0xF000 == 0x4000
	}
	return attr&0x10 != 0
}

// name reads the next name, decoding UTF-16 as the library does (an
// unpaired surrogate becomes U+FFFD).
func (s *memberStream) name() (string, error) {
	s.units = s.units[:0]
	for {
		lo, err := s.names.byte()
		if err != nil {
			return "", err
		}
		hi, err := s.names.byte()
		if err != nil {
			return "", err
		}
		u := uint16(hi)<<8 | uint16(lo)
		if u == 0 {
			break
		}
		if len(s.units) >= maxNameUnits {
			return "", s.names.bad("name of more than %d characters", maxNameUnits)
		}
		s.units = append(s.units, u)
	}
	return string(utf16.Decode(s.units)), nil
}

// nextFolder enters the next folder: its coders, sizes, packed stream and
// number of sub-streams.
func (s *memberStream) nextFolder() error {
	if s.folders >= s.lay.folders || s.packW == nil {
		return s.names.bad("more sub-streams than folders hold")
	}
	s.folders++
	f, err := s.folderW.folder()
	if err != nil {
		return err
	}
	f.sizes = make([]uint64, f.out)
	for i := range f.sizes {
		if f.sizes[i], err = s.unpackW.num(); err != nil {
			return err
		}
	}
	if why := streamable(f); why != "" { // the walker saw the same folders
		return s.names.bad("folder %d changed: %s", s.folders-1, why)
	}
	packLen, err := s.packW.num()
	if err != nil {
		return err
	}
	// Like the library, read the packed stream from the packed area
	// only: 32 + packPos + the packed streams before, to dataEnd.
	end := uint64(s.lay.dataEnd)
	at := end // past the area: nothing to read
	if d := s.lay.packPos; d <= end-32 && s.packOff <= end-32-d {
		at = 32 + d + s.packOff
	}
	s.packAt, s.packLen = int64(at), int64(min(packLen, end-at))
	if packLen > math.MaxUint64-s.packOff {
		s.packOff = math.MaxUint64
	} else {
		s.packOff += packLen
	}
	n := uint64(1)
	if s.numW != nil {
		if n, err = s.numW.num(); err != nil {
			return err
		}
	}
	s.cur, s.left, s.remain = f, n, f.unpackSize()
	s.dec, s.skip, s.unread = nil, 0, 0
	return nil
}

// read reads the data of the member nextMember returned last, at most max
// bytes of it (see Reader.read for the checks).
func (s *memberStream) read() (data []byte, err error) {
	size := s.unread
	s.unread = 0
	if size == 0 {
		return []byte{}, nil
	}
	if s.dec == nil {
		if s.dec, err = s.open(); err != nil {
			return nil, err
		}
	}
	if s.skip > 0 {
		n := s.skip
		s.skip = 0
		if _, err := io.CopyN(io.Discard, s.dec, int64(n)); err != nil {
			return nil, libError("opening", err)
		}
	}
	data = make([]byte, size)
	n, err := io.ReadFull(s.dec, data)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return data[:n], nil // the caller reports the short member
	}
	if err != nil {
		return nil, libError("decompressing", err)
	}
	return data, nil
}

// open returns the decoder of the current folder, which streamable
// accepted: one copy, LZMA or LZMA2 coder reading the packed stream, and
// maybe BCJ reading what that one writes (see chain).
func (s *memberStream) open() (io.Reader, error) {
	f := s.cur
	for _, size := range f.sizes {
		if size > math.MaxInt64 {
			return nil, fmt.Errorf("opening: folder of %d bytes: %w", size, manifest.ErrMalformed)
		}
	}
	sr := io.NewSectionReader(s.ra, s.packAt, s.packLen)
	if s.packed == nil {
		s.packed = bufio.NewReaderSize(sr, 64<<10)
	} else {
		s.packed.Reset(sr)
	}
	dec, err := decoder(f.coders[0], f.sizes[0], s.packed)
	if err != nil {
		return nil, fmt.Errorf("opening: %w: %w", manifest.ErrMalformed, err)
	}
	dec = io.LimitReader(dec, int64(f.sizes[0]))
	if len(f.coders) == 2 {
		dec = io.LimitReader(newBCJReader(dec), int64(f.sizes[1]))
	}
	return dec, nil
}

// decoder returns the output of coder c (copy, LZMA or LZMA2), which
// decodes to size bytes, over its packed stream.
func decoder(c coder, size uint64, packed *bufio.Reader) (io.Reader, error) {
	switch {
	case bytes.Equal(c.id, methodCopy):
		return packed, nil
	case bytes.Equal(c.id, methodLZMA):
		if len(c.props) != 5 {
			return nil, fmt.Errorf("LZMA properties")
		}
		// The classic LZMA header: properties, dictionary size, and the
		// unpacked size, which 7z keeps in the folder instead. A
		// dictionary larger than the output is never used: capped, the
		// decoder allocates no more than the output needs.
		h := make([]byte, 13)
		h[0] = c.props[0]
		binary.LittleEndian.PutUint32(h[1:], min(binary.LittleEndian.Uint32(c.props[1:]), uint32(max(min(size, math.MaxUint32), 4096))))
		binary.LittleEndian.PutUint64(h[5:], size)
		return lzma.NewReader(&prefixReader{p: h, r: packed})
	case bytes.Equal(c.id, methodLZMA2):
		if len(c.props) != 1 || c.props[0] > 40 {
			return nil, fmt.Errorf("LZMA2 properties")
		}
		return lzma.Reader2Config{DictCap: int(max(min(lzma2Dict(c.props[0]), size), lzma.MinDictCap))}.NewReader2(packed)
	default:
		return nil, fmt.Errorf("unsupported method %X", c.id)
	}
}

// lzma2Dict is the dictionary size that LZMA2 property byte p (at most
// 40) stands for.
func lzma2Dict(p byte) uint64 { return uint64(2|p&1) << (p/2 + 11) }

// prefixReader reads p, then r; it is an io.ByteReader, which the LZMA
// decoder needs to be fast.
type prefixReader struct {
	p []byte
	r *bufio.Reader
}

func (pr *prefixReader) Read(b []byte) (int, error) {
	if len(pr.p) > 0 {
		n := copy(b, pr.p)
		pr.p = pr.p[n:]
		return n, nil
	}
	return pr.r.Read(b)
}

func (pr *prefixReader) ReadByte() (byte, error) {
	if len(pr.p) > 0 {
		b := pr.p[0]
		pr.p = pr.p[1:]
		return b, nil
	}
	return pr.r.ReadByte()
}

// bitCursor reads a bit vector, most significant bit first.
type bitCursor struct {
	w    *walker
	b    byte
	mask byte
}

func (c *bitCursor) next() (bool, error) {
	if c.mask == 0 {
		b, err := c.w.byte()
		if err != nil {
			return false, err
		}
		c.b, c.mask = b, 0x80
	}
	set := c.b&c.mask != 0
	c.mask >>= 1
	return set, nil
}

// vecCursor reads an optional-bits vector and the 4-byte little-endian
// values of its defined items (CRCs, attributes).
type vecCursor struct {
	all  bool
	bits bitCursor
	vals *walker
}

func (c *vecCursor) next() (v uint32, ok bool, err error) {
	ok = c.all
	if !ok {
		if ok, err = c.bits.next(); err != nil || !ok {
			return 0, false, err
		}
	}
	var b [4]byte
	if _, err := io.ReadFull(c.vals.r, b[:]); err != nil {
		return 0, false, c.vals.bad("truncated")
	}
	return binary.LittleEndian.Uint32(b[:]), true, nil
}
