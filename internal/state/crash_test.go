package state_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/state"
)

// The crash test re-runs this test binary as a child that updates the
// state file until it is killed; these variables tell it so.
const (
	crashPathEnv  = "THINGPRESS_STATE_CRASH_PATH"
	crashRoundEnv = "THINGPRESS_STATE_CRASH_ROUND"
)

// crashSteps are the steps the child records, in order, for each device.
var crashSteps = []string{state.StepRegister, state.StepThing, state.StepPrincipal, state.PolicyStep("P"), state.GroupStep("G")}

func TestMain(m *testing.M) {
	if path := os.Getenv(crashPathEnv); path != "" {
		os.Exit(crashChild(path, os.Getenv(crashRoundEnv)))
	}
	os.Exit(m.Run())
}

// crashChild updates the state file at path from several goroutines and
// prints "ack KEY STEP" once each Update has returned, until it is killed
// (or, as a safety net, for 60 s).
func crashChild(path, round string) int {
	s, err := state.Open(path, testMeta())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	var out sync.Mutex
	ack := func(key, step string) {
		out.Lock()
		defer out.Unlock()
		// One write per line: a line is in the pipe whole or not at all.
		os.Stdout.WriteString("ack " + key + " " + step + "\n")
	}
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				key := fmt.Sprintf("r%s-w%d-%06d", round, w, i)
				for _, step := range crashSteps {
					if err := s.Update(key, func(d *state.Progress) error {
						if step == state.StepRegister {
							d.CertificateID = key
						}
						d.MarkDone(step)
						d.Status = step
						return nil
					}); err != nil {
						fmt.Fprintln(os.Stderr, "child:", err)
						os.Exit(3)
					}
					ack(key, step)
				}
			}
		})
	}
	// One more writer appends to a record that all rounds share.
	wg.Go(func() {
		for i := 0; time.Now().Before(deadline); i++ {
			step := fmt.Sprintf("r%s-%d", round, i)
			if err := s.Update("shared", func(d *state.Progress) error { d.MarkDone(step); return nil }); err != nil {
				fmt.Fprintln(os.Stderr, "child:", err)
				os.Exit(3)
			}
			ack("shared", step)
		}
	})
	wg.Wait()
	return 4 // never killed
}

// runAndKill starts a child on path, lets it acknowledge a random number
// of updates, kills it with SIGKILL and returns every acknowledgement it
// printed.
func runAndKill(t *testing.T, path string, round int, rng *rand.Rand) [][2]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashPathEnv+"="+path, fmt.Sprintf("%s=%d", crashRoundEnv, round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAfter := 20 + rng.IntN(600)
	var acks [][2]string
	var n atomic.Int64
	reached := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// Each line is one write of less than PIPE_BUF bytes, so
			// the kill cannot leave half a line; parse strictly anyway.
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ack" {
				continue
			}
			acks = append(acks, [2]string{f[1], f[2]})
			if n.Add(1) == int64(killAfter) {
				close(reached)
			}
		}
	}()
	select {
	case <-reached:
	case <-done:
	case <-time.After(30 * time.Second):
	}
	// A random moment after the chosen acknowledgement, mid-commit or not.
	time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	err = cmd.Wait()
	if n.Load() < int64(killAfter) {
		t.Fatalf("child acknowledged %d updates, fewer than %d; exit %v; stderr:\n%s", n.Load(), killAfter, err, stderr.String())
	}
	if !strings.Contains(fmt.Sprint(err), "killed") {
		t.Fatalf("child ended with %v, want killed; stderr:\n%s", err, stderr.String())
	}
	return acks
}

func TestKillNineKeepsAcknowledgedUpdates(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL and flock semantics are Unix")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	path := filepath.Join(t.TempDir(), "crash.state")
	var all [][2]string
	const rounds = 4
	for round := range rounds {
		acks := runAndKill(t, path, round, rng)
		all = append(all, acks...)

		// The next round's child opens the file the killed one left;
		// before that, check it here.
		s, err := state.Open(path, testMeta())
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		if err := state.CheckFile(s); err != nil {
			t.Errorf("round %d: file inconsistent after kill: %v", round, err)
		}
		checkAcks(t, s, all)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d acknowledged updates", round, len(acks))
	}
}

// checkAcks verifies that every acknowledged step is stored and that each
// device's steps are a prefix of crashSteps: nothing lost, nothing out of
// order.
func checkAcks(t *testing.T, s *state.Store, acks [][2]string) {
	t.Helper()
	for _, a := range acks {
		d, ok, err := s.Get(a[0])
		if err != nil || !ok {
			t.Fatalf("acknowledged %s %s: record found %v, err %v", a[0], a[1], ok, err)
		}
		if !d.Has(a[1]) {
			t.Fatalf("acknowledged %s %s lost: done %v", a[0], a[1], d.Done)
		}
	}
	err := s.ForEach(func(key string, d state.Progress) error {
		if key == "shared" {
			return nil
		}
		if len(d.Done) == 0 || !slices.Equal(d.Done, crashSteps[:len(d.Done)]) {
			return fmt.Errorf("%s done %v, want a prefix of %v", key, d.Done, crashSteps)
		}
		if d.CertificateID != key || d.Status != d.Done[len(d.Done)-1] {
			return fmt.Errorf("%s: %+v", key, d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
