package infineon

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"

	"github.com/bodgit/sevenzip"
	"go4.org/readerutil"

	"github.com/thingpress/thingpress/internal/manifest"
)

// checkHeader walks the header of the 7z archive in r along the grammar of
// github.com/bodgit/sevenzip v1.6.5 (TestLibraryVersion) before the library
// parses it, and rejects what no recover catches: counts the library sizes
// slices by, which it checks only against 2^32 (a 41-byte header declaring
// 2^32-1 files is a fatal out of memory), dictionaries over maxDict, and a
// Delta coder feeding another, which spins for ever. Files and sub-streams
// are capped by lim.MaxEntries. It also names the methods the importer does
// not read (ErrUnsupported) and refuses encryption (ErrEncrypted). The
// library's panics on counts that disagree are left to recoverLib. An
// encoded header is decoded by the library and walked too. The archive
// must start at offset 0.
func checkHeader(r io.ReaderAt, size int64, lim manifest.Limits) (err error) {
	defer func() {
		if p := recover(); p != nil {
			he, ok := p.(hdrError)
			if !ok {
				panic(p) // the library's: recoverLib's
			}
			err = he.error
		}
	}()
	var sh [32]byte
	k, _ := r.ReadAt(sh[:], 0)
	off, n, err := checkStart(sh[:k], uint64(size), "the file")
	if err != nil || n == 0 {
		return err
	}
	hdr := io.NewSectionReader(r, int64(32+off), int64(n))
	w := &walker{r: bufio.NewReader(hdr), maxFiles: uint64(lim.WithDefaults().MaxEntries)}
	switch w.byte() {
	case idHeader:
		w.header()
		return nil
	case idEncodedHeader:
	default:
		return nil // the library refuses it
	}
	w.streamsInfo()
	if n > 64<<10 {
		w.bad("encoded header of %d bytes", n)
	}
	// The library decodes the header as the one file of an archive whose
	// plain header holds the encoded header's streams info.
	enc := make([]byte, n)
	if _, err := hdr.ReadAt(enc, 0); err != nil {
		return fmt.Errorf("reading the 7z header: %w", err)
	}
	plain := append(append([]byte{idHeader, idMainStreamsInfo}, enc[1:]...), idFilesInfo, 1, idEnd, idEnd)
	binary.LittleEndian.PutUint64(sh[20:28], uint64(len(plain)))
	binary.LittleEndian.PutUint32(sh[28:32], crc32.ChecksumIEEE(plain))
	binary.LittleEndian.PutUint32(sh[8:12], crc32.ChecksumIEEE(sh[12:32]))
	sp := readerutil.NewMultiReaderAt(bytes.NewReader(sh[:]), io.NewSectionReader(r, 32, int64(off)), bytes.NewReader(plain))
	zr, err := sevenzip.NewReader(sp, sp.Size())
	if err != nil {
		return libError("decoding the 7z header", err)
	}
	if maxHeader := min(w.maxFiles, 1<<20)*1024 + 1<<20; zr.File[0].UncompressedSize > maxHeader {
		return fmt.Errorf("7z header of %d bytes exceeds the limit of %d: %w",
			zr.File[0].UncompressedSize, maxHeader, manifest.ErrTooLarge)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		return libError("decoding the 7z header", err)
	}
	defer rc.Close()
	w.r = bufio.NewReader(rc) // a decoding error ends it: truncated
	if w.byte() == idHeader {
		w.header()
	}
	return nil
}

// checkStart checks the signature of the 7z archive what, of size bytes and
// starting with head, and returns where its header is.
func checkStart(head []byte, size uint64, what string) (off, n uint64, err error) {
	if !bytes.HasPrefix(head, []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C}) {
		return 0, 0, fmt.Errorf("%s is not a 7z archive (it starts %q): %w", what, head[:min(len(head), 6)], manifest.ErrMalformed)
	}
	if len(head) < 32 {
		return 0, 0, fmt.Errorf("%s is not a 7z archive: %d bytes: %w", what, len(head), manifest.ErrMalformed)
	}
	off, n = binary.LittleEndian.Uint64(head[12:20]), binary.LittleEndian.Uint64(head[20:28])
	if off > size || n > size || 32+off+n > size {
		return 0, 0, fmt.Errorf("%s: 7z header lies past the end of the archive: %w", what, manifest.ErrMalformed)
	}
	return off, n, nil
}

// Property IDs of the 7z format.
const (
	idEnd, idHeader, idMainStreamsInfo, idFilesInfo, idPackInfo, idUnpackInfo, idSubStreamsInfo = 0, 1, 4, 5, 6, 7, 8
	idSize, idCRC, idFolder, idCodersUnpackSize, idNumUnpackStream, idEmptyStream, idEmptyFile  = 9, 10, 11, 12, 13, 14, 15
	idName, idCTime, idATime, idMTime, idWinAttributes, idEncodedHeader                         = 17, 18, 19, 20, 21, 23
)

const (
	maxCoders       = 32        // coders in a folder (7-Zip writes at most 4)
	maxCoderStreams = 32        // in or out streams of one coder (BCJ2 has 4)
	maxProps        = 1 << 10   // bytes of one coder's properties
	maxDict         = 256 << 20 // dictionary or model memory of a decompressor
)

// methods names the 7-Zip coder methods by ID, and says which ones the
// importer reads: those the library decodes, less zstd, Brotli and LZ4,
// whose decoders allocate windows the header does not declare.
var methods = map[string]struct {
	name string
	read bool
}{
	"\x00": {"Copy", true}, "\x03": {"Delta", true}, "\x03\x01\x01": {"LZMA", true},
	"\x03\x03\x01\x03": {"BCJ", true}, "\x03\x03\x01\x1b": {"BCJ2", true}, "\x03\x03\x02\x05": {"PPC", true},
	"\x03\x03\x04\x01": {"IA64", false}, "\x03\x03\x05\x01": {"ARM", true}, "\x03\x03\x07\x01": {"ARMT", false},
	"\x03\x03\x08\x05": {"SPARC", true}, "\x03\x04\x01": {"PPMd", true}, "\x04\x01\x08": {"Deflate", true},
	"\x04\x01\x09": {"Deflate64", false}, "\x04\x02\x02": {"BZip2", true}, "\x04\xf7\x11\x01": {"zstd", false},
	"\x04\xf7\x11\x02": {"Brotli", false}, "\x04\xf7\x11\x04": {"LZ4", false}, "\x04\xf7\x11\x05": {"LZ5", false},
	"\x04\xf7\x11\x06": {"Lizard", false}, "\x06\xf1\x07\x01": {"AES", true},
	"\x0a": {"ARM64", true}, "\x0b": {"RISCV", false}, "\x21": {"LZMA2", true},
	"\x02\x03\x02": {"Swap2", false}, "\x02\x03\x04": {"Swap4", false},
}

// hdrError carries the walker's error up to checkHeader.
type hdrError struct{ error }

// walker reads a header; its methods panic with a hdrError on a problem.
type walker struct {
	r        *bufio.Reader
	maxFiles uint64 // files, and sub-streams, in one archive
}

func (w *walker) fail(err error) { panic(hdrError{err}) }

func (w *walker) bad(format string, a ...any) {
	w.fail(fmt.Errorf("7z header: %s: %w", fmt.Sprintf(format, a...), manifest.ErrMalformed))
}

func (w *walker) tooMany(what string, limit uint64) {
	w.fail(fmt.Errorf("7z header: more than %d %s: %w", limit, what, manifest.ErrTooLarge))
}

func (w *walker) unsupported(id []byte) {
	name := fmt.Sprintf("%X", id)
	if m, ok := methods[string(id)]; ok {
		name = fmt.Sprintf("%s (%X)", m.name, id)
	}
	w.fail(fmt.Errorf("7z compression method %s: %w", name, manifest.ErrUnsupported))
}

func (w *walker) byte() byte {
	b, err := w.r.ReadByte()
	if err != nil {
		w.bad("truncated")
	}
	return b
}

// num reads a 7z variable-length number.
func (w *walker) num() uint64 {
	b := w.byte()
	var v uint64
	for i, mask := 0, byte(0x80); i < 8; i, mask = i+1, mask>>1 {
		if b&mask == 0 {
			return v | uint64(b&(mask-1))<<(8*i)
		}
		v |= uint64(w.byte()) << (8 * i)
	}
	return v
}

// count reads a number the library sizes a slice by.
func (w *walker) count(what string, limit uint64) uint64 {
	v := w.num()
	if v > limit {
		w.tooMany(what, limit)
	}
	return v
}

func (w *walker) read(n uint64) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(w.r, b); err != nil {
		w.bad("truncated")
	}
	return b
}

func (w *walker) skip(n uint64) {
	if _, err := io.CopyN(io.Discard, w.r, int64(min(n, math.MaxInt64))); err != nil || n > math.MaxInt64 {
		w.bad("truncated")
	}
}

// bits reads a vector of n bits and returns how many are set.
func (w *walker) bits(n uint64) (set uint64) {
	for i := uint64(0); i < n; i += 8 {
		set += uint64(bits.OnesCount8(w.byte() & ^byte(0xFF>>min(n-i, 8))))
	}
	return set
}

// nums reads n numbers.
func (w *walker) nums(n uint64) {
	for range n {
		w.num()
	}
}

// crcs reads the CRCs of n streams if id is kCRC, and the kEnd after them.
func (w *walker) crcs(id byte, n uint64) {
	if id == idCRC {
		w.values(n, 4, false)
		w.byte()
	}
}

// values reads an "all defined" byte, if it is zero a vector of n bits,
// maybe an external byte, and size bytes per item defined.
func (w *walker) values(n, size uint64, external bool) {
	d := n
	if w.byte() == 0 {
		d = w.bits(n)
	}
	if external {
		w.byte()
	}
	w.skip(d * size)
}

func (w *walker) header() {
	id := w.byte()
	if id == idMainStreamsInfo {
		w.streamsInfo()
		id = w.byte()
	}
	if id == idFilesInfo {
		w.filesInfo()
	}
}

func (w *walker) streamsInfo() {
	id := w.byte()
	if id == idPackInfo {
		w.num() // position
		n := w.count("pack streams", w.maxFiles+maxCoders)
		if id = w.byte(); id == idSize {
			w.nums(n)
			id = w.byte()
		}
		w.crcs(id, n)
		id = w.byte()
	}
	folders := uint64(1)
	if id == idUnpackInfo {
		w.byte() // kFolder
		folders = w.count("folders", w.maxFiles+maxCoders)
		w.byte() // external
		var outs uint64
		for range folders {
			outs += w.folder()
		}
		w.byte() // kCodersUnpackSize
		w.nums(outs)
		w.crcs(w.byte(), folders)
		id = w.byte()
	}
	if id == idSubStreamsInfo {
		substreams, sizes := folders, uint64(0) // sizes: all but each folder's last
		if id = w.byte(); id == idNumUnpackStream {
			substreams = 0
			for range folders {
				n := w.num()
				if substreams += min(n, w.maxFiles+1); substreams > w.maxFiles {
					w.tooMany("files with data", w.maxFiles)
				}
				sizes += max(n, 1) - 1
			}
			id = w.byte()
		}
		if id == idSize {
			w.nums(sizes)
			id = w.byte()
		}
		w.crcs(id, substreams)
		w.byte() // kEnd of the streams info
	}
}

// folder reads a folder's coders and bind pairs and returns its out-streams.
func (w *walker) folder() (out uint64) {
	var in uint64
	delta := map[uint64]bool{} // out-streams of Delta coders
	for range w.count("coders", maxCoders) {
		v := w.byte()
		id := w.read(uint64(v & 0x0F))
		delta[out] = string(id) == "\x03"
		cin, cout := uint64(1), uint64(1)
		if v&0x10 != 0 {
			cin, cout = w.count("coder in-streams", maxCoderStreams), w.count("coder out-streams", maxCoderStreams)
		}
		var props []byte
		if v&0x20 != 0 {
			props = w.read(w.count("property bytes", maxProps))
		}
		w.coder(id, props)
		in, out = in+cin, out+cout
	}
	for range max(out, 1) - 1 { // bind pairs
		if w.num(); delta[w.num()] {
			w.unsupported([]byte{0x03}) // the library's Delta spins for ever fed to another coder
		}
	}
	if packed := in - min(in, max(out, 1)-1); packed > 1 {
		w.nums(packed)
	}
	return out
}

// coder caps the memory a coder's decompressor will allocate and refuses
// encryption and the methods the importer does not read.
func (w *walker) coder(id, props []byte) {
	var dict uint64
	switch m := methods[string(id)]; {
	case !m.read:
		w.unsupported(id)
	case m.name == "LZMA" && len(props) != 5:
		w.bad("LZMA coder with %d property bytes", len(props))
	case m.name == "LZMA" || m.name == "PPMd" && len(props) == 5:
		dict = uint64(binary.LittleEndian.Uint32(props[1:]))
	case m.name == "LZMA2" && len(props) == 1 && props[0] <= 40:
		dict = uint64(2|props[0]&1) << (props[0]/2 + 11)
	case m.name == "AES": // with no password the library decrypts to garbage, which may even decode
		w.fail(fmt.Errorf("7z archive is encrypted (thingpress reads no password): %w", manifest.ErrEncrypted))
	}
	if dict > maxDict {
		w.fail(fmt.Errorf("7z coder %X: dictionary of %d bytes exceeds the limit of %d: %w",
			id, dict, maxDict, manifest.ErrTooLarge))
	}
}

// filesInfo reads the files info.
func (w *walker) filesInfo() {
	files := w.count("files", w.maxFiles)
	// The library sizes kEmptyFile by the empty streams of every
	// kEmptyStream property, but marks the files by the last one.
	var emptyAll uint64
	for {
		prop := w.byte()
		if prop == idEnd {
			return
		}
		switch length := w.num(); prop {
		case idEmptyStream:
			if emptyAll += w.bits(files); emptyAll > files {
				w.tooMany("empty streams", files)
			}
		case idEmptyFile:
			w.bits(emptyAll)
		case idCTime, idATime, idMTime:
			w.values(files, 8, true)
		case idWinAttributes:
			w.values(files, 4, true)
		case idName:
			w.byte() // external
			w.skip(length - 1)
		default: // kDummy; the library refuses the others
			w.skip(length)
		}
	}
}
