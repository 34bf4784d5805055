package infineon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/bodgit/sevenzip"

	"github.com/thingpress/thingpress/internal/manifest"
)

var (
	// innerName matches <reelID>_<batchID>_<SLOT>_Certs.7z. Reel IDs are
	// 16 hex characters and batch IDs UUIDs, but neither is checked
	// closer than "no underscore", so that a vendor's change of length
	// does not make a bundle unreadable.
	innerName = regexp.MustCompile(`^([^_/\\]+)_([^_/\\]+)_([0-9A-Za-z]+)_[Cc]erts\.7z$`)
	// pemName matches <chipID>_<SLOT>.pem. Chip IDs are 20 upper-case hex
	// characters; any 1 to 64 hex characters are accepted.
	pemName = regexp.MustCompile(`^([0-9A-Fa-f]{1,64})_([0-9A-Za-z]+)\.[Pp][Ee][Mm]$`)
)

// Reader yields the certificates of one slot of an Infineon reel bundle.
// It implements manifest.Source.
type Reader struct {
	path    string
	opts    manifest.Options
	log     *slog.Logger
	slot    string
	reelID  string
	batchID string
	slots   []string
	inner   string // the inner archive's member name, for messages

	tmp   *os.File // the spooled inner archive
	files []*sevenzip.File
	next  int
	count int   // the members Next will yield a record for
	total int64 // uncompressed bytes read so far
	err   error // sticky: io.EOF or the fatal error
}

var _ manifest.Counted = (*Reader)(nil)

// Open opens the reel bundle at path and prepares to read the certificates
// of opts.Slot (manifest.DefaultSlot when empty). Every error is a
// *manifest.Error naming path, wrapping manifest.ErrBadSlot,
// ErrSlotMissing, ErrFormat (no *_Certs.7z member at all), ErrMalformed,
// ErrEncrypted, ErrUnsupported (a 7z method the importer does not read)
// or ErrTooLarge (also: more than Limits.MaxMembers members in the outer
// archive, or Limits.MaxInnerMembers in the inner one), or an I/O error.
func Open(path string, opts manifest.Options) (*Reader, error) {
	return OpenContext(context.Background(), path, opts)
}

// OpenContext is Open that stops when ctx is done: the inner archive of a
// big reel takes a while to spool. The error then wraps ctx.Err(), and the
// temporary file is removed.
func OpenContext(ctx context.Context, path string, opts manifest.Options) (_ *Reader, err error) {
	opts = opts.WithDefaults()
	r := &Reader{path: path, opts: opts, log: opts.Logger, slot: strings.ToUpper(opts.Slot)}
	if !manifest.ValidSlot(r.slot) {
		return nil, r.fail("", fmt.Errorf("slot %q (want one of %s): %w",
			opts.Slot, strings.Join(manifest.Slots, ", "), manifest.ErrBadSlot))
	}
	defer func() {
		if err != nil {
			r.Close()
		}
		if cerr := ctx.Err(); err != nil && cerr != nil && !errors.Is(err, cerr) {
			err = r.fail("", fmt.Errorf("opening the bundle: %w", cerr)) // not what the cut-off read says
		}
	}()

	f, err := os.Open(path)
	if err != nil {
		return nil, r.fail("", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, r.fail("", err)
	}
	outer, err := r.openArchive(&ctxReaderAt{ctx: ctx, r: f}, st.Size(), opts.Limits.MaxMembers)
	if err != nil {
		return nil, r.fail("", fmt.Errorf("outer archive: %w", err))
	}
	member, err := r.findInner(outer)
	if err != nil {
		return nil, err
	}
	r.inner = member.Name
	// In a solid archive the members before this one in its folder are
	// decompressed to reach it: count them against MaxTotalBytes.
	for _, f := range outer.File {
		if f != member && f.Stream != member.Stream {
			continue
		}
		if f.UncompressedSize > uint64(opts.Limits.MaxTotalBytes-r.total) {
			return nil, r.fail(member.Name, fmt.Errorf("the members up to this one hold more than the limit of %d bytes: %w",
				opts.Limits.MaxTotalBytes, manifest.ErrTooLarge))
		}
		if f == member {
			break
		}
		r.total += int64(f.UncompressedSize)
	}
	size, err := r.spool(ctx, member)
	if err != nil {
		return nil, r.fail(member.Name, err)
	}
	inner, err := r.openArchive(&ctxReaderAt{ctx: ctx, r: r.tmp}, size, min(opts.Limits.MaxEntries, opts.Limits.MaxInnerMembers))
	if err != nil {
		return nil, r.fail(member.Name, err)
	}
	r.files = inner.File
	var declared uint64
	for _, f := range r.files {
		if _, skip := r.match(f); skip == "" {
			r.count++
		}
		declared += min(f.UncompressedSize, math.MaxUint64-declared) // saturating
	}
	if room := uint64(opts.Limits.MaxTotalBytes - r.total); declared > room {
		return nil, r.fail(member.Name, fmt.Errorf(
			"members hold more than the limit of %d bytes in all: %w",
			opts.Limits.MaxTotalBytes, manifest.ErrTooLarge))
	}
	return r, nil
}

// ReelID returns the reel ID taken from the inner archive names.
func (r *Reader) ReelID() string { return r.reelID }

// BatchID returns the batch ID taken from the inner archive names.
func (r *Reader) BatchID() string { return r.batchID }

// Slot returns the slot being read.
func (r *Reader) Slot() string { return r.slot }

// Slots returns the certificate slots the bundle holds, in the order of
// manifest.Slots.
func (r *Reader) Slots() []string { return append([]string(nil), r.slots...) }

// Count is the number of records the inner archive's header declares for
// the slot: its <chipID>_<SLOT>.pem members.
func (r *Reader) Count() int { return r.count }

// Next returns the record of the next <chipID>_<SLOT>.pem member, in archive
// order, or io.EOF after the last one. Members with other names are skipped
// with a warning. An entry over Limits.MaxEntryBytes yields a record whose
// Problem wraps manifest.ErrTooLarge; a damaged or encrypted archive ends
// the reading with a *manifest.Error.
func (r *Reader) Next() (manifest.Record, error) {
	if r.err != nil {
		return manifest.Record{}, r.err
	}
	if r.tmp == nil {
		r.err = r.fail("", errors.New("reader is closed"))
		return manifest.Record{}, r.err
	}
	for r.next < len(r.files) {
		f := r.files[r.next]
		r.files[r.next] = nil // let the listing shrink as it is read
		r.next++
		rec, ok, err := r.entry(f)
		if err != nil {
			r.err = r.fail(f.Name, fmt.Errorf("in %s: %w", r.inner, err))
			return manifest.Record{}, r.err
		}
		if ok {
			return rec, nil
		}
	}
	r.err = io.EOF
	return manifest.Record{}, io.EOF
}

// Close removes the spooled inner archive. It may be called more than once.
func (r *Reader) Close() error {
	r.files = nil
	if r.tmp == nil {
		return nil
	}
	name := r.tmp.Name()
	err := r.tmp.Close()
	r.tmp = nil
	if rerr := os.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

func (r *Reader) fail(entry string, err error) error {
	var me *manifest.Error
	if errors.As(err, &me) {
		return err
	}
	return &manifest.Error{File: r.path, Entry: entry, Err: err}
}

func (r *Reader) warn(entry, reason string) {
	r.log.Warn("skipping archive member", "file", r.path, "archive", r.inner, "entry", entry, "reason", reason)
}

// openArchive checks the header of an archive of at most limit members
// (see checkHeader) and opens it with the 7z library.
func (r *Reader) openArchive(ra io.ReaderAt, size int64, limit int) (zr *sevenzip.Reader, err error) {
	defer recoverLib(&err)
	lim := r.opts.Limits
	lim.MaxEntries = limit
	if err := checkHeader(ra, size, lim); err != nil {
		return nil, err
	}
	if zr, err = sevenzip.NewReader(ra, size); err != nil {
		return nil, libError("reading the archive header", err)
	}
	if len(zr.File) > limit {
		return nil, fmt.Errorf("archive holds %d members, more than the limit of %d: %w",
			len(zr.File), limit, manifest.ErrTooLarge)
	}
	return zr, nil
}

// findInner picks the <reel>_<batch>_<slot>_Certs.7z member for r.slot and
// learns the reel, batch and slots present from the inner archive names.
func (r *Reader) findInner(outer *sevenzip.Reader) (*sevenzip.File, error) {
	bySlot := map[string]*sevenzip.File{}
	for _, f := range outer.File {
		if f.FileInfo().IsDir() {
			continue
		}
		m := innerName.FindStringSubmatch(path.Base(f.Name))
		if m == nil {
			continue // README.txt, the _keys.7z and whatever else
		}
		reel, batch, slot := m[1], m[2], strings.ToUpper(m[3])
		if !manifest.ValidSlot(slot) {
			r.log.Warn("skipping archive of an unknown slot", "file", r.path, "entry", f.Name, "slot", slot)
			continue
		}
		if r.reelID == "" {
			r.reelID, r.batchID = reel, batch
		} else if reel != r.reelID || batch != r.batchID {
			return nil, r.fail(f.Name, fmt.Errorf("bundle mixes reels: %s_%s and %s_%s: %w",
				r.reelID, r.batchID, reel, batch, manifest.ErrMalformed))
		}
		if prev, dup := bySlot[slot]; dup {
			return nil, r.fail(f.Name, fmt.Errorf("second archive of slot %s (first: %s): %w",
				slot, prev.Name, manifest.ErrMalformed))
		}
		bySlot[slot] = f
	}
	for _, s := range manifest.Slots {
		if bySlot[s] != nil {
			r.slots = append(r.slots, s)
		}
	}
	if len(r.slots) == 0 {
		return nil, r.fail("", fmt.Errorf("not an Infineon reel bundle: no <reel>_<batch>_<slot>_Certs.7z member among %d: %w",
			len(outer.File), manifest.ErrFormat))
	}
	f := bySlot[r.slot]
	if f == nil {
		return nil, r.fail("", fmt.Errorf("slot %s: bundle holds only %s: %w",
			r.slot, strings.Join(r.slots, ", "), manifest.ErrSlotMissing))
	}
	return f, nil
}

// spool copies the inner archive to a temporary file, stopping past
// MaxInnerBytes whatever the header declares, and returns its size. It
// checks the archive's start header before it writes anything, and
// stops, within a buffer's worth, when ctx is done.
func (r *Reader) spool(ctx context.Context, f *sevenzip.File) (size int64, err error) {
	lim := r.opts.Limits
	limit := min(lim.MaxInnerBytes, lim.MaxTotalBytes-r.total)
	if f.UncompressedSize > uint64(limit) {
		return 0, fmt.Errorf("inner archive of %d bytes exceeds the limit of %d bytes: %w",
			f.UncompressedSize, limit, manifest.ErrTooLarge)
	}
	defer recoverLib(&err)
	defer func() {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("spooling the inner archive: %w", cerr)
		}
	}()
	rc, err := f.Open()
	if err != nil {
		return 0, libError("opening the inner archive", err)
	}
	defer rc.Close()
	src := &ctxReader{ctx: ctx, r: io.LimitReader(rc, limit+1)}
	var head [32]byte
	n, err := io.ReadFull(src, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, libError("decompressing the inner archive", err)
	}
	if _, _, err := checkStart(head[:n], f.UncompressedSize, "inner archive"); err != nil {
		return 0, err
	}
	if r.tmp, err = os.CreateTemp(r.opts.TempDir, "thingpress-infineon-*.7z"); err != nil {
		return 0, fmt.Errorf("spooling the inner archive: %w", err)
	}
	h := crc32.NewIEEE()
	copied, err := io.Copy(io.MultiWriter(r.tmp, h), io.MultiReader(bytes.NewReader(head[:n]), src))
	r.total += copied
	if err != nil { // a write error of the temporary file is an *fs.PathError, which libError keeps
		return 0, libError("spooling the inner archive", err)
	}
	if copied > limit {
		return 0, fmt.Errorf("inner archive exceeds the limit of %d bytes: %w", limit, manifest.ErrTooLarge)
	}
	return copied, checkData("inner archive", copied, h.Sum32(), f)
}

// checkData checks the size and CRC of member f, read whole, against its
// header.
func checkData(what string, size int64, crc uint32, f *sevenzip.File) error {
	if uint64(size) != f.UncompressedSize {
		return fmt.Errorf("%s has %d bytes, its header says %d: %w", what, size, f.UncompressedSize, manifest.ErrMalformed)
	}
	if f.CRC32 != 0 && crc != f.CRC32 {
		return fmt.Errorf("%s fails its CRC check: %w", what, manifest.ErrMalformed)
	}
	return nil
}

// ctxReader reads r until ctx is done: a compressed buffer of the outer
// archive may decode to many megabytes.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ctxReaderAt reads r until ctx is done, so that the 7z library stops
// too, even where it decompresses to skip to a member.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c *ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}

// entry turns one inner member into a record; ok is false for a member
// that is skipped.
// match returns the chip ID and slot of member f's name, or why f is
// skipped.
func (r *Reader) match(f *sevenzip.File) (m []string, skip string) {
	if f.FileInfo().IsDir() {
		return nil, "a directory"
	}
	m = pemName.FindStringSubmatch(path.Base(f.Name))
	if m == nil {
		return nil, "name is not <chipID>_<slot>.pem"
	}
	if slot := strings.ToUpper(m[2]); slot != r.slot {
		return nil, fmt.Sprintf("certificate of slot %s in the archive of slot %s", slot, r.slot)
	}
	return m, ""
}

func (r *Reader) entry(f *sevenzip.File) (rec manifest.Record, ok bool, err error) {
	m, skip := r.match(f)
	if skip != "" {
		r.warn(f.Name, skip)
		return rec, false, nil
	}
	rec = manifest.Record{
		Entry:    f.Name,
		ChipID:   m[1],
		Slot:     r.slot,
		ReelID:   r.reelID,
		BatchID:  r.batchID,
		Encoding: manifest.PEM,
		Vendor:   manifest.VendorInfineon,
	}
	limit := r.opts.Limits.MaxEntryBytes
	if f.UncompressedSize > uint64(limit) {
		// Not read at all: the library skips it on the way to the
		// next member read.
		rec.Problem = fmt.Errorf("entry of %d bytes exceeds the limit of %d bytes: %w",
			f.UncompressedSize, limit, manifest.ErrTooLarge)
		return rec, true, nil
	}
	data, err := read(f, limit)
	if err != nil {
		return rec, false, err
	}
	r.total += int64(len(data))
	if r.total > r.opts.Limits.MaxTotalBytes {
		return rec, false, fmt.Errorf("more than the limit of %d bytes in all: %w",
			r.opts.Limits.MaxTotalBytes, manifest.ErrTooLarge)
	}
	if int64(len(data)) > limit { // the header lied about the size
		rec.Problem = fmt.Errorf("entry exceeds the limit of %d bytes: %w", limit, manifest.ErrTooLarge)
		return rec, true, nil
	}
	rec.Data = data
	return rec, true, nil
}

// read reads member f, at most limit+1 bytes of it, and checks it against
// its header. It reads to the member's end so that the library's
// decompressor is left at the start of the next member.
func read(f *sevenzip.File, limit int64) (data []byte, err error) {
	defer recoverLib(&err)
	rc, err := f.Open()
	if err != nil {
		return nil, libError("opening", err)
	}
	data, err = io.ReadAll(io.LimitReader(rc, limit+1))
	cerr := rc.Close()
	if err != nil {
		return nil, libError("decompressing", err)
	}
	if int64(len(data)) > limit {
		return data[:limit+1], nil
	}
	if err := checkData("member", int64(len(data)), crc32.ChecksumIEEE(data), f); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, libError("closing", cerr)
	}
	return data, nil
}

// libError classifies an error of the 7z library: encryption, a plain
// I/O error of the file underneath, the reading cancelled, or else a
// malformed archive (checkHeader names the methods not read first).
func libError(what string, err error) error {
	var rp *sevenzip.ReadError
	var rv sevenzip.ReadError
	if errors.As(err, &rp) && rp.Encrypted || errors.As(err, &rv) && rv.Encrypted {
		return fmt.Errorf("%s: %w", what, manifest.ErrEncrypted) // the library's words are about the garbled data
	}
	var pe *fs.PathError
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, manifest.ErrMalformed, err)
}

// recoverLib turns a panic inside the 7z library into ErrMalformed. It is
// the last resort: checkHeader keeps the inputs we know to crash it away.
func recoverLib(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("7z library failed on this archive (%v): %w", p, manifest.ErrMalformed)
	}
}
