package state_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/state"
)

const testSHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func testMeta() state.Meta {
	return state.Meta{
		ManifestSHA256: testSHA,
		Slot:           "prod",
		Region:         "eu-central-1",
		Endpoint:       "https://iot.eu-central-1.amazonaws.com",
		Policies:       []string{"DevicePolicy"},
		ThingType:      "sensor",
		ThingGroups:    []string{"fleet"},
	}
}

func openStore(t testing.TB, path string, meta state.Meta) *state.Store {
	t.Helper()
	s, err := state.Open(path, meta)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustGet(t testing.TB, s *state.Store, key string) state.Progress {
	t.Helper()
	d, ok, err := s.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !ok {
		t.Fatalf("Get(%q): no record", key)
	}
	return d
}

func mustUpdate(t testing.TB, s *state.Store, key string, fn func(*state.Progress) error) {
	t.Helper()
	if err := s.Update(key, fn); err != nil {
		t.Fatalf("Update(%q): %v", key, err)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := openStore(t, filepath.Join(t.TempDir(), "a.state"), testMeta())
	before := time.Now()
	mustUpdate(t, s, "k1", func(d *state.Progress) error {
		d.CertificateID = "abc"
		d.CertificateARN = "arn:aws:iot:eu-central-1:123456789012:cert/abc"
		d.Existed = true
		d.MarkDone(state.StepRegister)
		d.MarkDone(state.PolicyStep("DevicePolicy"))
		d.Status = "partial"
		d.Error = "AttachThingPrincipal: boom"
		return nil
	})
	got := mustGet(t, s, "k1")
	want := state.Progress{
		CertificateID:  "abc",
		CertificateARN: "arn:aws:iot:eu-central-1:123456789012:cert/abc",
		Existed:        true,
		Done:           []string{"register", "policy:DevicePolicy"},
		Status:         "partial",
		Error:          "AttachThingPrincipal: boom",
	}
	if got.Updated.Before(before.Add(-time.Second)) || got.Updated.After(time.Now().Add(time.Second)) {
		t.Errorf("Updated = %v, want about now", got.Updated)
	}
	got.Updated = time.Time{}
	if !devicesEqual(got, want) {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	if _, ok, err := s.Get("absent"); ok || err != nil {
		t.Errorf("Get(absent) = found %v, err %v; want not found, nil", ok, err)
	}
	m := s.Meta()
	if m.Slot != "prod" || m.Created.IsZero() || !slices.Equal(m.Policies, []string{"DevicePolicy"}) {
		t.Errorf("Meta() = %+v", m)
	}
}

func devicesEqual(a, b state.Progress) bool {
	return a.CertificateID == b.CertificateID && a.CertificateARN == b.CertificateARN &&
		a.Existed == b.Existed && slices.Equal(a.Done, b.Done) && a.Status == b.Status &&
		a.Error == b.Error && a.Updated.Equal(b.Updated)
}

func TestDeviceSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		done     []string
		mark     []string
		wantDone []string
		has      string
		wantHas  bool
	}{
		{name: "empty", has: "register", wantHas: false},
		{name: "marked", mark: []string{"register"}, wantDone: []string{"register"}, has: "register", wantHas: true},
		{name: "marking twice keeps one", mark: []string{"thing", "thing"}, wantDone: []string{"thing"}, has: "thing", wantHas: true},
		{name: "order kept", done: []string{"register"}, mark: []string{"thing", "principal", "register"}, wantDone: []string{"register", "thing", "principal"}, has: "principal", wantHas: true},
		{name: "named steps are distinct", mark: []string{state.PolicyStep("A")}, wantDone: []string{"policy:A"}, has: state.PolicyStep("B"), wantHas: false},
		{name: "group step", mark: []string{state.GroupStep("fleet")}, wantDone: []string{"group:fleet"}, has: "group:fleet", wantHas: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := state.Progress{Done: slices.Clone(tt.done)}
			for _, s := range tt.mark {
				d.MarkDone(s)
			}
			if !slices.Equal(d.Done, tt.wantDone) {
				t.Errorf("Done = %v, want %v", d.Done, tt.wantDone)
			}
			if got := d.Has(tt.has); got != tt.wantHas {
				t.Errorf("Has(%q) = %v, want %v", tt.has, got, tt.wantHas)
			}
		})
	}
}

var errTest = errors.New("test refusal")

func TestUpdateFnErrorStoresNothing(t *testing.T) {
	t.Parallel()
	s := openStore(t, filepath.Join(t.TempDir(), "a.state"), testMeta())
	mustUpdate(t, s, "k", func(d *state.Progress) error { d.Status = "registered"; return nil })

	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.Update(fmt.Sprint("k", i%2), func(d *state.Progress) error {
				if i%2 == 0 {
					d.Status = "changed"
					return errTest
				}
				d.MarkDone(fmt.Sprint("step", i))
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && !errors.Is(err, errTest) {
			t.Errorf("update %d: err = %v, want errTest unchanged", i, err)
		}
		if i%2 == 1 && err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	if _, ok, _ := s.Get("k0"); ok {
		t.Error("a refused update created k0")
	}
	if d := mustGet(t, s, "k1"); len(d.Done) != 8 {
		t.Errorf("k1 has %d steps, want 8: the refusals disturbed the batch", len(d.Done))
	}
	if d := mustGet(t, s, "k"); d.Status != "registered" {
		t.Errorf("k status %q, want unchanged", d.Status)
	}
}

func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	s := openStore(t, filepath.Join(t.TempDir(), "a.state"), testMeta())
	steps := []string{state.StepRegister, state.StepThing, state.StepPrincipal, state.PolicyStep("P"), state.GroupStep("G")}
	const writers, sharedPerWriter = 32, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("dev-%02d", w)
			for i, step := range steps {
				if err := s.Update(key, func(d *state.Progress) error {
					if len(d.Done) != i {
						return fmt.Errorf("%s before %s: done %v", key, step, d.Done)
					}
					d.MarkDone(step)
					d.Status = step
					return nil
				}); err != nil {
					t.Error(err)
				}
				// Every writer also appends to one shared record: no
				// update may be lost to another's.
				if i < sharedPerWriter {
					if err := s.Update("shared", func(d *state.Progress) error {
						d.MarkDone(fmt.Sprintf("w%02d-%d", w, i))
						return nil
					}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	for w := range writers {
		if d := mustGet(t, s, fmt.Sprintf("dev-%02d", w)); !slices.Equal(d.Done, steps) {
			t.Errorf("dev-%02d done %v, want %v", w, d.Done, steps)
		}
	}
	if d := mustGet(t, s, "shared"); len(d.Done) != writers*len(steps) {
		t.Errorf("shared record has %d steps, want %d", len(d.Done), writers*len(steps))
	}
	counts, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"group:G": writers, "": 1}; !mapsEqual(counts, want) {
		t.Errorf("Counts() = %v, want %v", counts, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.state")
	s, err := state.Open(path, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	created := s.Meta().Created
	mustUpdate(t, s, "k", func(d *state.Progress) error {
		d.MarkDone(state.StepRegister)
		d.Status = "registered"
		return nil
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	meta := testMeta()
	meta.Policies = []string{"Other"}
	meta.ThingType = ""
	meta.ThingGroups = nil
	meta.Created = created.Add(time.Hour)
	s = openStore(t, path, meta)
	if d := mustGet(t, s, "k"); !d.Has(state.StepRegister) || d.Status != "registered" {
		t.Errorf("after reopen: %+v", d)
	}
	m := s.Meta()
	if !slices.Equal(m.Policies, []string{"Other"}) || m.ThingType != "" || m.ThingGroups != nil {
		t.Errorf("Meta() = %+v, want the latest policies, type and groups", m)
	}
	if !m.Created.Equal(created) {
		t.Errorf("Created = %v, want the original %v", m.Created, created)
	}
	if err := state.CheckFile(s); err != nil {
		t.Errorf("check: %v", err)
	}
}

func TestOpenMetaMismatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*state.Meta)
		wantErr error
		wantIn  []string // substrings of the message
	}{
		{name: "manifest", change: func(m *state.Meta) { m.ManifestSHA256 = strings.Repeat("0", 64) }, wantErr: state.ErrMismatch, wantIn: []string{"manifest SHA-256", testSHA, strings.Repeat("0", 64)}},
		{name: "slot", change: func(m *state.Meta) { m.Slot = "staging" }, wantErr: state.ErrMismatch, wantIn: []string{`slot is "prod" in the file but "staging" now`}},
		{name: "region", change: func(m *state.Meta) { m.Region = "us-east-1" }, wantErr: state.ErrMismatch, wantIn: []string{`region is "eu-central-1" in the file but "us-east-1" now`}},
		{name: "endpoint", change: func(m *state.Meta) { m.Endpoint = "http://127.0.0.1:5000" }, wantErr: state.ErrMismatch, wantIn: []string{"endpoint", "http://127.0.0.1:5000"}},
		{name: "two fields", change: func(m *state.Meta) { m.Slot = "b"; m.Region = "r" }, wantErr: state.ErrMismatch, wantIn: []string{"slot is", "region is"}},
		{name: "manifest hash in upper case", change: func(m *state.Meta) { m.ManifestSHA256 = strings.ToUpper(testSHA) }},
		{name: "policies, type and groups may change", change: func(m *state.Meta) { m.Policies = []string{"X", "Y"}; m.ThingType = "t"; m.ThingGroups = []string{"g"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "a.state")
			s, err := state.Open(path, testMeta())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			meta := testMeta()
			tt.change(&meta)
			s, err = state.Open(path, meta)
			if err == nil {
				defer s.Close()
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Open = %v, want %v", err, tt.wantErr)
			}
			for _, sub := range append(tt.wantIn, path) {
				if err != nil && !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q lacks %q", err, sub)
				}
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.state")
	first, err := state.Open(path, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	second, err := state.Open(path, testMeta())
	if err == nil {
		second.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open failed after %v, want within 2s", d)
	}
	if !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("second Open = %v, want ErrLocked naming %s", err, path)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third := openStore(t, path, testMeta())
	if err := state.CheckFile(third); err != nil {
		t.Errorf("check: %v", err)
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	path := filepath.Join(root, "x", "y", "a.state")
	openStore(t, path, testMeta())
	for _, c := range []struct {
		path string
		perm os.FileMode
	}{
		{filepath.Join(root, "x"), 0o700},
		{filepath.Join(root, "x", "y"), 0o700},
		{path, 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^c.perm != 0 {
			t.Errorf("%s mode %v, want at most %v", c.path, got, c.perm)
		}
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.state")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a bbolt file\n", 600)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{name: "empty path", path: ""},
		{name: "not a state file", path: junk},
		{name: "parent is a file", path: filepath.Join(junk, "a.state")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := state.Open(tt.path, testMeta())
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if errors.Is(err, state.ErrLocked) || errors.Is(err, state.ErrMismatch) {
				t.Errorf("Open = %v, want a plain error", err)
			}
		})
	}
}

func TestEmptyKey(t *testing.T) {
	t.Parallel()
	s := openStore(t, filepath.Join(t.TempDir(), "a.state"), testMeta())
	if _, _, err := s.Get(""); !errors.Is(err, state.ErrEmptyKey) {
		t.Errorf("Get(\"\") = %v, want ErrEmptyKey", err)
	}
	if err := s.Update("", func(*state.Progress) error { return nil }); !errors.Is(err, state.ErrEmptyKey) {
		t.Errorf("Update(\"\") = %v, want ErrEmptyKey", err)
	}
}

func TestForEach(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    int
	}{
		{name: "empty", n: 0},
		{name: "one", n: 1},
		{name: "one chunk exactly", n: 256},
		{name: "several chunks", n: 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, filepath.Join(t.TempDir(), "a.state"), testMeta())
			var wg sync.WaitGroup
			for i := range tt.n {
				wg.Go(func() {
					mustUpdate(t, s, fmt.Sprintf("%04d", i), func(d *state.Progress) error { d.Status = "pending"; return nil })
				})
			}
			wg.Wait()
			// fn may update records during the walk.
			var seen []string
			err := s.ForEach(func(key string, d state.Progress) error {
				if d.Status != "pending" {
					return fmt.Errorf("%s status %q", key, d.Status)
				}
				seen = append(seen, key)
				return s.Update(key, func(d *state.Progress) error { d.Status = "done"; return nil })
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != tt.n || !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != tt.n {
				t.Errorf("ForEach visited %d keys (sorted %v), want %d distinct in order", len(seen), slices.IsSorted(seen), tt.n)
			}
			counts, err := s.Counts()
			if err != nil {
				t.Fatal(err)
			}
			if tt.n > 0 && (len(counts) != 1 || counts["done"] != tt.n) {
				t.Errorf("Counts() = %v, want %d done", counts, tt.n)
			}
			stop := errors.New("stop")
			calls := 0
			if err := s.ForEach(func(string, state.Progress) error { calls++; return stop }); tt.n > 0 && (!errors.Is(err, stop) || calls != 1) {
				t.Errorf("ForEach stopping at once = %v after %d calls, want stop after 1", err, calls)
			}
		})
	}
}

func TestOpenReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.state")
	s, err := state.Open(path, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, s, "k", func(d *state.Progress) error { d.MarkDone(state.StepRegister); d.Status = "partial"; return nil })

	// While an import holds the file, a dry run is refused.
	start := time.Now()
	if ro, err := state.OpenReadOnly(path); !errors.Is(err, state.ErrLocked) {
		if err == nil {
			ro.Close()
		}
		t.Errorf("OpenReadOnly during an import = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("OpenReadOnly failed after %v, want within 2s", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ro1, err := state.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	ro2, err := state.OpenReadOnly(path) // readers share the lock
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	if d := mustGet(t, ro1, "k"); !d.Has(state.StepRegister) || d.Status != "partial" {
		t.Errorf("Get = %+v", d)
	}
	if m := ro2.Meta(); m.ManifestSHA256 != testSHA || m.Slot != "prod" || m.Created.IsZero() {
		t.Errorf("Meta() = %+v", m)
	}
	if c, err := ro2.Counts(); err != nil || c["partial"] != 1 {
		t.Errorf("Counts() = %v, %v", c, err)
	}
	if err := ro1.Update("k", func(d *state.Progress) error { d.Status = "x"; return nil }); err == nil {
		t.Error("Update on a read-only store succeeded")
	}
	// An import waits for readers too.
	if w, err := state.Open(path, testMeta()); !errors.Is(err, state.ErrLocked) {
		if err == nil {
			w.Close()
		}
		t.Errorf("Open during a dry run = %v, want ErrLocked", err)
	}
	for _, ro := range []*state.Store{ro1, ro2} {
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := os.ReadFile(path); !slices.Equal(before, after) {
		t.Error("a read-only open changed the file")
	}

	tests := []struct {
		name    string
		path    string
		content []byte
		wantErr error
	}{
		{name: "missing", path: filepath.Join(dir, "missing.state"), wantErr: os.ErrNotExist},
		{name: "junk", path: filepath.Join(dir, "junk.state"), content: []byte(strings.Repeat("junk", 2000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.content != nil {
				if err := os.WriteFile(tt.path, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ro, err := state.OpenReadOnly(tt.path)
			if err == nil {
				ro.Close()
				t.Fatal("OpenReadOnly succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("OpenReadOnly = %v, want %v", err, tt.wantErr)
			}
			if _, serr := os.Stat(tt.path); tt.content == nil && serr == nil {
				t.Error("OpenReadOnly created the file")
			}
		})
	}
}
