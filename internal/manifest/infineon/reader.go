package infineon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/bodgit/sevenzip"

	"github.com/thingpress/thingpress/internal/manifest"
)

// innerName matches <reelID>_<batchID>_<SLOT>_Certs.7z and pemName
// <chipID>_<SLOT>.pem, looser than Infineon's lengths so that a change of
// length does not make a bundle unreadable.
var (
	innerName = regexp.MustCompile(`^([^_/\\]+)_([^_/\\]+)_([0-9A-Za-z]+)_[Cc]erts\.7z$`)
	pemName   = regexp.MustCompile(`^([0-9A-Fa-f]{1,64})_([0-9A-Za-z]+)\.[Pp][Ee][Mm]$`)
)

// Reader yields the certificates of one slot of an Infineon reel bundle.
// It implements manifest.Source.
type Reader struct {
	path    string
	opts    manifest.Options
	slot    string
	reelID  string
	batchID string
	inner   string // the inner archive's member name, for messages

	final manifest.Final   // owns the spooled inner archive
	files []*sevenzip.File // the members Next has yet to read
	count int              // the members Next will yield a record for
	total int64            // bytes decompressed to reach the inner archive
}

var _ manifest.Counted = (*Reader)(nil)

// Open opens the reel bundle at path to read the certificates of opts.Slot
// (manifest.DefaultSlot when empty). It stops, with an error wrapping
// ctx.Err(), when ctx is done: the inner archive of a big reel takes a
// while to spool. Every error is a *manifest.Error naming path, wrapping an
// I/O error or manifest.ErrBadSlot, ErrSlotMissing, ErrFormat (no
// *_Certs.7z member), ErrMalformed, ErrEncrypted, ErrUnsupported (a 7z
// method not read) or ErrTooLarge (past a limit, among them
// Limits.MaxMembers and MaxInnerMembers).
func Open(ctx context.Context, path string, opts manifest.Options) (_ *Reader, err error) {
	opts = opts.WithDefaults()
	r := &Reader{path: path, opts: opts, slot: strings.ToUpper(opts.Slot)}
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
	outer, err := r.openArchive(f, st.Size(), opts.Limits.MaxMembers)
	if err != nil {
		return nil, r.fail("", fmt.Errorf("outer archive: %w", err))
	}
	member, err := r.findInner(outer)
	if err != nil {
		return nil, err
	}
	var before uint64 // the members before it in its solid folder, decompressed too
	for _, f := range outer.File[:slices.Index(outer.File, member)] {
		if f.Stream == member.Stream {
			before += min(f.UncompressedSize, math.MaxUint64-before) // saturating
		}
	}
	if r.total = int64(before); before > uint64(opts.Limits.MaxTotalBytes) {
		return nil, r.fail(member.Name, fmt.Errorf("the members up to this one hold more than the limit of %d bytes: %w",
			opts.Limits.MaxTotalBytes, manifest.ErrTooLarge))
	}
	tmp, size, err := r.spool(ctx, member)
	if err != nil {
		return nil, r.fail(member.Name, err)
	}
	inner, err := r.openArchive(tmp, size, min(opts.Limits.MaxEntries, opts.Limits.MaxInnerMembers))
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

// Count is the number of <chipID>_<SLOT>.pem members the header declares.
func (r *Reader) Count() int { return r.count }

// Next returns the record of the next <chipID>_<SLOT>.pem member, in archive
// order, or io.EOF after the last one; other members are skipped with a
// warning. An entry over Limits.MaxEntryBytes yields a record whose Problem
// wraps manifest.ErrTooLarge; a damaged archive ends the reading.
func (r *Reader) Next() (manifest.Record, error) {
	return manifest.Next(&r.final, r.next)
}

func (r *Reader) next() (manifest.Record, error) {
	for len(r.files) > 0 {
		f := r.files[0]
		r.files[0], r.files = nil, r.files[1:] // let the listing shrink as it is read
		m, skip := r.match(f)
		if skip != "" {
			r.opts.Logger.Warn("skipping archive member", "file", r.path, "archive", r.inner, "entry", f.Name, "reason", skip)
			continue
		}
		rec := manifest.Record{Entry: f.Name, ChipID: m[1], Slot: r.slot, ReelID: r.reelID, BatchID: r.batchID,
			Encoding: manifest.PEM, Vendor: manifest.VendorInfineon}
		if limit := r.opts.Limits.MaxEntryBytes; f.UncompressedSize > uint64(limit) {
			// Not read: the library skips it on the way to the next one.
			rec.Problem = fmt.Errorf("entry of %d bytes exceeds the limit of %d bytes: %w",
				f.UncompressedSize, limit, manifest.ErrTooLarge)
			return rec, nil
		}
		var err error
		if rec.Data, err = read(f); err != nil {
			return rec, r.fail(f.Name, fmt.Errorf("in %s: %w", r.inner, err))
		}
		return rec, nil
	}
	return manifest.Record{}, io.EOF
}

var errClosed = errors.New("reader is closed")

// Close closes the spooled inner archive. It may be called more than once.
func (r *Reader) Close() error {
	r.files = nil
	return r.final.Close(r.path, errClosed)
}

func (r *Reader) fail(entry string, err error) error {
	return &manifest.Error{File: r.path, Entry: entry, Err: err}
}

// openArchive opens an archive of at most limit members (checkHeader).
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
	return zr, nil
}

// findInner picks the <reel>_<batch>_<slot>_Certs.7z member for r.slot, its
// r.inner, and learns the reel and batch from the inner archive names.
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
			r.opts.Logger.Warn("skipping archive of an unknown slot", "file", r.path, "entry", f.Name, "slot", slot)
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
	var slots []string
	for _, s := range manifest.Slots {
		if bySlot[s] != nil {
			slots = append(slots, s)
		}
	}
	if len(slots) == 0 {
		return nil, r.fail("", fmt.Errorf("not an Infineon reel bundle: no <reel>_<batch>_<slot>_Certs.7z member among %d: %w",
			len(outer.File), manifest.ErrFormat))
	}
	f := bySlot[r.slot]
	if f == nil {
		return nil, r.fail("", fmt.Errorf("slot %s: bundle holds only %s: %w",
			r.slot, strings.Join(slots, ", "), manifest.ErrSlotMissing))
	}
	r.inner = f.Name
	return f, nil
}

// spool copies the inner archive to a temporary file and returns its size.
func (r *Reader) spool(ctx context.Context, f *sevenzip.File) (tmp *os.File, size int64, err error) {
	lim := r.opts.Limits
	limit := min(lim.MaxInnerBytes, lim.MaxTotalBytes-r.total)
	if f.UncompressedSize > uint64(limit) {
		return nil, 0, fmt.Errorf("inner archive of %d bytes exceeds the limit of %d bytes: %w",
			f.UncompressedSize, limit, manifest.ErrTooLarge)
	}
	defer recoverLib(&err)
	rc, err := f.Open()
	if err != nil {
		return nil, 0, libError("opening the inner archive", err)
	}
	defer rc.Close()
	src := bufio.NewReaderSize(ctxReader{ctx: ctx, r: rc}, 64<<10) // the library reads no more than the header declares
	head, err := src.Peek(32)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, libError("decompressing the inner archive", err)
	}
	if _, _, err := checkStart(head, f.UncompressedSize, "inner archive"); err != nil {
		return nil, 0, err
	}
	if tmp, err = os.CreateTemp(r.opts.TempDir, "thingpress-infineon-*.7z"); err != nil {
		return nil, 0, fmt.Errorf("spooling the inner archive: %w", err)
	}
	r.final.Own(tmp)
	if err := os.Remove(tmp.Name()); err != nil { // at once: not even a kill leaves it behind
		return nil, 0, fmt.Errorf("spooling the inner archive: %w", err)
	}
	h := crc32.NewIEEE()
	copied, err := io.Copy(io.MultiWriter(tmp, h), src)
	r.total += copied
	if err != nil { // a write error of the temporary file is an *fs.PathError, which libError keeps
		return nil, 0, libError("spooling the inner archive", err)
	}
	return tmp, copied, checkData("inner archive", copied, h.Sum32(), f)
}

// checkData checks the size and CRC of member f, read whole.
func checkData(what string, size int64, crc uint32, f *sevenzip.File) error {
	if uint64(size) != f.UncompressedSize {
		return fmt.Errorf("%s has %d bytes, its header says %d: %w", what, size, f.UncompressedSize, manifest.ErrMalformed)
	}
	if f.CRC32 != 0 && crc != f.CRC32 {
		return fmt.Errorf("%s fails its CRC check: %w", what, manifest.ErrMalformed)
	}
	return nil
}

// ctxReader reads r until ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// match returns the chip ID and slot of member f's name, or why f is skipped.
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

// read reads and checks member f, of the size its header declares.
func read(f *sevenzip.File) (data []byte, err error) {
	defer recoverLib(&err)
	rc, err := f.Open()
	if err != nil {
		return nil, libError("opening", err)
	}
	data, err = io.ReadAll(manifest.ProgressReader(rc)) // the library's Delta decoder spins on a short stream
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, libError("decompressing", err)
	}
	return data, checkData("member", int64(len(data)), crc32.ChecksumIEEE(data), f)
}

// libError classifies an error of the 7z library.
func libError(what string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, manifest.ErrMalformed, err)
}

// recoverLib turns a panic of the 7z library into ErrMalformed.
func recoverLib(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("7z library failed on this archive (%v): %w", p, manifest.ErrMalformed)
	}
}
