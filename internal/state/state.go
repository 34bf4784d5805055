package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrLocked reports a state file held by another process: most likely
	// another thingpress importing the same manifest into the same slot.
	ErrLocked = errors.New("state file is locked by another process")
	// ErrMismatch reports a state file recorded for another manifest, slot,
	// region or endpoint.
	ErrMismatch = errors.New("state file belongs to another import")
	// ErrFormat reports a state file that is not one this version writes.
	ErrFormat = errors.New("unsupported state file format")
	// ErrEmptyKey reports a device key that is empty.
	ErrEmptyKey = errors.New("empty device key")
	// ErrCorrupt reports a state file that is damaged: truncated, or with
	// pages or records that do not read. Its message says how to go on.
	ErrCorrupt = errors.New("state file is damaged")
)

// Step names recorded in Progress.Done. Policy and group steps carry the
// name of the policy or group, so a rerun with another list of policies or
// groups still knows which of them are done.
const (
	StepRegister  = "register"
	StepThing     = "thing"
	StepPrincipal = "principal"
	// StepActivate makes a certificate registered INACTIVE ACTIVE: the
	// last step of bind, and of an import after import --register-only
	// --inactive (see Progress.Inactive).
	StepActivate = "activate"
)

// PolicyStep is the step of attaching the named policy.
func PolicyStep(name string) string { return "policy:" + name }

// GroupStep is the step of adding the thing to the named thing group.
func GroupStep(name string) string { return "group:" + name }

const (
	formatVersion = "1"
	// lockTimeout bounds the wait for the file lock: long enough to ride out
	// a previous run that is just closing, short enough to fail fast.
	lockTimeout = time.Second
	// batchDelay is how long Update waits for other updates to share its
	// commit (bbolt's MaxBatchDelay). bbolt's default of 10 ms would cost
	// a lone writer 10 ms per step; under load batches fill anyway, since
	// writers queue up while the previous commit syncs. 1 ms was chosen
	// with BenchmarkUpdate (figures in BENCHMARKS.md).
	batchDelay = time.Millisecond
	// forEachChunk is how many records ForEach reads per transaction.
	forEachChunk = 256
)

var (
	bucketMeta    = []byte("meta")
	bucketDevices = []byte("devices")
	keyMeta       = []byte("meta")
	keyMetaCRC    = []byte("meta_crc32") // of the meta value, as 8 hex digits
	keyFormat     = []byte("format")
)

// Meta identifies the import a state file belongs to. ManifestSHA256, Slot,
// Region and Endpoint must match on every Open; Policies, ThingType and
// ThingGroups may change between runs and the latest are stored.
type Meta struct {
	ManifestSHA256 string    `json:"manifest_sha256"`
	Slot           string    `json:"slot"`
	Region         string    `json:"region"`
	Endpoint       string    `json:"endpoint"`
	Policies       []string  `json:"policies,omitempty"`
	ThingType      string    `json:"thing_type,omitempty"`
	ThingGroups    []string  `json:"thing_groups,omitempty"`
	Created        time.Time `json:"created"` // when the file was first made
}

// Progress is what a state file keeps of one device: the steps done, the
// registered certificate and the last outcome. It is stored as JSON.
type Progress struct {
	CertificateID  string `json:"certificate_id,omitempty"`
	CertificateARN string `json:"certificate_arn,omitempty"`
	Existed        bool   `json:"existed,omitempty"` // the certificate was registered before this import
	// Inactive: this import registered the certificate INACTIVE (import
	// --register-only --inactive); a full import ends with StepActivate.
	Inactive bool      `json:"inactive,omitempty"`
	Done     []string  `json:"done,omitempty"` // completed steps, in order
	Status   string    `json:"status,omitempty"`
	Error    string    `json:"error,omitempty"`
	Updated  time.Time `json:"updated"` // set by Update

	// RegisterIntent is set when the thing step is recorded, before the
	// register call is first sent: a certificate AWS registered after it
	// may be this import's own, from a run killed before it could record
	// the answer.
	RegisterIntent time.Time `json:"register_intent,omitzero"`
}

// Has reports whether step is done.
func (d *Progress) Has(step string) bool { return slices.Contains(d.Done, step) }

// Missing returns the steps of steps that are not done, in order.
func (d *Progress) Missing(steps []string) []string {
	var out []string
	for _, s := range steps {
		if !d.Has(s) {
			out = append(out, s)
		}
	}
	return out
}

// MarkDone records step as done; marking it again changes nothing.
func (d *Progress) MarkDone(step string) {
	if !d.Has(step) {
		d.Done = append(d.Done, step)
	}
}

// Store is an open state file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	meta Meta
}

// Open opens the state file at path, creating it (mode 0600) and its parent
// directories (mode 0700) if needed. It fails with ErrLocked, after about a
// second, while another process has the file open, with ErrMismatch if
// the file was recorded for another manifest, slot, region or endpoint,
// and with ErrCorrupt if the file is damaged (it checks every page). It
// stores meta (keeping the file's original Created time).
func Open(path string, meta Meta) (*Store, error) {
	if path == "" {
		return nil, errors.New("open state file: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	s, err := openDB(path, &bolt.Options{Timeout: lockTimeout}, "is another thingpress importing the same manifest?")
	if err != nil {
		return nil, err
	}
	s.db.MaxBatchDelay = batchDelay
	err = s.update(func(tx *bolt.Tx) error { return s.initMeta(tx, meta) })
	if err != nil {
		_ = s.db.Close()
		return nil, err
	}
	return s, nil
}

// OpenReadOnly opens an existing state file for reading only, for a dry
// run: it neither creates nor changes the file, and Update fails. It takes a
// shared lock, so it fails with ErrLocked while an import has the file open
// (and an import waits for it the same way). Meta returns the stored meta;
// the caller compares it if it cares. A damaged file is ErrCorrupt.
func OpenReadOnly(path string) (*Store, error) {
	s, err := openDB(path, &bolt.Options{Timeout: lockTimeout, ReadOnly: true}, "is an import running?")
	if err != nil {
		return nil, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		if mb == nil || tx.Bucket(bucketDevices) == nil {
			return fmt.Errorf("state file %s lacks its buckets: %w", path, ErrFormat)
		}
		if f := mb.Get(keyFormat); string(f) != formatVersion {
			return fmt.Errorf("state file %s has format %q, this thingpress reads %q: %w", path, f, formatVersion, ErrFormat)
		}
		m, err := s.readMeta(mb)
		s.meta = m
		return err
	})
	if err != nil {
		_ = s.db.Close()
		return nil, err
	}
	return s, nil
}

// openDB opens the bolt file at path and checks it. bbolt trusts its
// file: it panics, or faults on a page past the end, where the file is
// damaged, so every page is checked first (half a second for a million
// devices: see BENCHMARKS.md), and the Store's methods contain what
// bbolt does on a page damaged later. A file to write is checked through
// a read-only open first: opened to write, bbolt reads the free page list
// at once, and a panic there would leave the file mapped and so locked.
func openDB(path string, o *bolt.Options, inUse string) (*Store, error) {
	if o.ReadOnly {
		return openBolt(path, o, inUse, true)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		ro := *o
		ro.ReadOnly = true
		s, err := openBolt(path, &ro, inUse, true)
		if err != nil {
			return nil, err
		}
		if err := s.db.Close(); err != nil {
			return nil, fmt.Errorf("close state file %s: %w", path, err)
		}
	}
	return openBolt(path, o, inUse, false)
}

// openBolt opens the file with o; full checks every page, else only the
// file's size.
func openBolt(path string, o *bolt.Options, inUse string, full bool) (s *Store, err error) {
	s = &Store{path: path}
	defer s.contain(&err, debug.SetPanicOnFault(true))
	db, err := bolt.Open(path, 0o600, o)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("state file %s is in use by another process (%s): %w", path, inUse, ErrLocked)
	}
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) ||
		err != nil && strings.HasPrefix(err.Error(), "file size too small") { // bbolt has no sentinel for it
		return nil, s.corrupt(err)
	}
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	s.db = db
	if err := s.check(full); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// check finds a truncated file and, if full, pages bbolt cannot read: it walks
// every record in this goroutine, where a fault on a wild page offset is
// a panic that contain recovers, and then runs bbolt's own check (in its
// goroutine, where it recovers panics itself), which also finds free
// pages that are in use and a damaged free page list.
func (s *Store) check(full bool) error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	return s.view(func(tx *bolt.Tx) error {
		if need := tx.Size(); fi.Size() < need {
			return s.corrupt(fmt.Sprintf("truncated: %d bytes, its pages take %d", fi.Size(), need))
		}
		if !full {
			return nil
		}
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if v != nil && !utf8.Valid(v) { // every value is JSON or a short text
					return s.corrupt(fmt.Sprintf("record %q of %s is not UTF-8", k, name))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		var first error
		for err := range tx.Check() { // drained: Check's goroutine uses tx until it closes
			if first == nil {
				first = s.corrupt(err)
			}
		}
		return first
	})
}

// corrupt returns the ErrCorrupt error of s's file, saying how to go on.
func (s *Store) corrupt(detail any) error {
	return fmt.Errorf("%w: %s (%v); delete it, or pass --state a new file, and run again: the import is idempotent without it",
		ErrCorrupt, s.path, detail)
}

// contain restores the fault mode old and turns a panic of bbolt into an
// ErrCorrupt error. Deferred at the top of every method that reads the
// file, as: defer s.contain(&err, debug.SetPanicOnFault(true)).
func (s *Store) contain(err *error, old bool) {
	debug.SetPanicOnFault(old)
	if p := recover(); p != nil {
		*err = s.corrupt(fmt.Sprintf("bbolt: %v", p))
	}
}

// view and update are db.View and db.Update with bbolt's panics
// contained.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer s.contain(&err, debug.SetPanicOnFault(true))
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	defer s.contain(&err, debug.SetPanicOnFault(true))
	return s.db.Update(fn)
}

func (s *Store) initMeta(tx *bolt.Tx, meta Meta) error {
	mb, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	if _, err := tx.CreateBucketIfNotExists(bucketDevices); err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	if f := mb.Get(keyFormat); f != nil && string(f) != formatVersion {
		return fmt.Errorf("state file %s has format %q, this thingpress reads %q: %w", s.path, f, formatVersion, ErrFormat)
	}
	if mb.Get(keyMeta) != nil {
		old, err := s.readMeta(mb)
		if err != nil {
			return err
		}
		if err := compareMeta(old, meta); err != nil {
			return fmt.Errorf("state file %s %w", s.path, err)
		}
		meta.Created = old.Created
	}
	if meta.Created.IsZero() {
		meta.Created = time.Now().UTC()
	}
	v, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("state file %s: encode meta: %w", s.path, err)
	}
	if err := mb.Put(keyMeta, v); err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	if err := mb.Put(keyMetaCRC, fmt.Appendf(nil, "%08x", crc32.ChecksumIEEE(v))); err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	if err := mb.Put(keyFormat, []byte(formatVersion)); err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	s.meta = cloneMeta(meta)
	return nil
}

// readMeta decodes the stored meta. bbolt checksums only its own meta
// pages, so the meta value carries a CRC (files written before it have
// none): a damaged value must be ErrCorrupt, not an ErrMismatch that
// sends the user looking for another import.
func (s *Store) readMeta(mb *bolt.Bucket) (Meta, error) {
	var m Meta
	v := mb.Get(keyMeta)
	if v == nil {
		return m, s.corrupt("no meta record")
	}
	if c := mb.Get(keyMetaCRC); c != nil && string(c) != fmt.Sprintf("%08x", crc32.ChecksumIEEE(v)) {
		return m, s.corrupt("the meta record fails its CRC check")
	}
	if err := decodeStrict(v, &m); err != nil {
		return m, s.corrupt(fmt.Sprintf("meta record: %v", err))
	}
	return m, nil
}

// decodeStrict decodes a JSON record that this package wrote, where a
// byte that is not UTF-8 (which encoding/json lets through) means damage.
// Fields it does not know are left alone: a later thingpress may add some.
func decodeStrict(v []byte, x any) error {
	if !utf8.Valid(v) {
		return errors.New("not UTF-8")
	}
	return json.Unmarshal(v, x)
}

// compareMeta returns an ErrMismatch error naming every identifying field
// that differs, with the file's and the new value.
func compareMeta(file, now Meta) error {
	var diffs []string
	check := func(field, a, b string, equal func(a, b string) bool) {
		if !equal(a, b) {
			diffs = append(diffs, fmt.Sprintf("%s is %q in the file but %q now", field, a, b))
		}
	}
	exact := func(a, b string) bool { return a == b }
	check("manifest SHA-256", file.ManifestSHA256, now.ManifestSHA256, strings.EqualFold)
	check("slot", file.Slot, now.Slot, exact)
	check("region", file.Region, now.Region, exact)
	check("endpoint", file.Endpoint, now.Endpoint, exact)
	if diffs == nil {
		return nil
	}
	return fmt.Errorf("was recorded for another import: %s: %w", strings.Join(diffs, "; "), ErrMismatch)
}

func cloneMeta(m Meta) Meta {
	m.Policies = slices.Clone(m.Policies)
	m.ThingGroups = slices.Clone(m.ThingGroups)
	return m
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Meta returns the meta stored by Open.
func (s *Store) Meta() Meta { return cloneMeta(s.meta) }

// Get returns the record of key and whether there is one.
func (s *Store) Get(key string) (Progress, bool, error) {
	if key == "" {
		return Progress{}, false, fmt.Errorf("get device state: %w", ErrEmptyKey)
	}
	var d Progress
	var found bool
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDevices).Get([]byte(key))
		if v == nil {
			return nil
		}
		found = true
		return s.decodeDevice(key, v, &d)
	})
	if err != nil {
		return Progress{}, false, s.wrap(err)
	}
	return d, found, nil
}

// wrap names the file in err, unless it is ErrCorrupt, which does.
func (s *Store) wrap(err error) error {
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("state file %s: %w", s.path, err)
}

// Update reads the record of key (the zero Progress if there is none), lets
// fn change it, stores it with Updated set to the current time, and returns
// once the change is committed and synced to disk. Concurrent Updates share
// a transaction and an fsync.
//
// If fn returns an error, nothing is stored and Update returns that error
// unchanged. fn may be called more than once for one Update (when a shared
// transaction has to be retried), each time with a fresh copy of the
// record, so it must not have effects outside the Progress it is given.
func (s *Store) Update(key string, fn func(*Progress) error) (err error) {
	if key == "" {
		return fmt.Errorf("update device state: %w", ErrEmptyKey)
	}
	// bbolt runs a batch in whichever goroutine fills it or in a timer's;
	// it recovers a panic of this function there and runs it again alone
	// in this goroutine, where contain catches it.
	defer s.contain(&err, debug.SetPanicOnFault(true))
	k := []byte(key)
	var fnErr error
	err = s.db.Batch(func(tx *bolt.Tx) error {
		fnErr = nil
		b := tx.Bucket(bucketDevices)
		var d Progress
		if v := b.Get(k); v != nil {
			if err := s.decodeDevice(key, v, &d); err != nil {
				return err
			}
		}
		if err := fn(&d); err != nil {
			// Not an error of the batch: the other updates in it go on.
			fnErr = err
			return nil
		}
		d.Updated = time.Now().UTC()
		v, err := json.Marshal(&d)
		if err != nil {
			return fmt.Errorf("encode state of device %s: %w", key, err)
		}
		return b.Put(k, v)
	})
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	if err != nil {
		return fmt.Errorf("state file %s: update device %s: %w", s.path, key, err)
	}
	return fnErr
}

// ForEach calls fn for every record in key order until fn returns an
// error, which ForEach returns. It reads records in chunks, each in its own
// read transaction, and calls fn outside them, so fn may call Update; a
// record added or changed during the walk is seen if its key comes after
// the current one.
func (s *Store) ForEach(fn func(key string, d Progress) error) error {
	type entry struct {
		key string
		d   Progress
	}
	var after []byte
	chunk := make([]entry, 0, forEachChunk)
	for {
		chunk = chunk[:0]
		err := s.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketDevices).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && len(chunk) < forEachChunk; k, v = c.Next() {
				e := entry{key: string(k)}
				if err := s.decodeDevice(e.key, v, &e.d); err != nil {
					return err
				}
				chunk = append(chunk, e)
			}
			return nil
		})
		if err != nil {
			return s.wrap(err)
		}
		for _, e := range chunk {
			if err := fn(e.key, e.d); err != nil {
				return err
			}
		}
		if len(chunk) < forEachChunk {
			return nil
		}
		after = []byte(chunk[len(chunk)-1].key)
	}
}

// Counts returns the number of records by Status, read in one transaction.
func (s *Store) Counts() (map[string]int, error) {
	counts := make(map[string]int)
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
			var d struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal(v, &d); err != nil || !utf8.Valid(v) {
				return s.corrupt(fmt.Sprintf("record of device %q does not decode", k))
			}
			counts[d.Status]++
			return nil
		})
	})
	if err != nil {
		return nil, s.wrap(err)
	}
	return counts, nil
}

// Close closes the file and releases its lock. Updates must have returned
// before Close is called.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state file %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) decodeDevice(key string, v []byte, d *Progress) error {
	if err := decodeStrict(v, d); err != nil {
		return s.corrupt(fmt.Sprintf("record of device %q: %v", key, err))
	}
	return nil
}
