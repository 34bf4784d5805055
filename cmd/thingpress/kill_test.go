package main

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/generate"
	"github.com/thingpress/thingpress/internal/state"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

// TestImportKillResume kills thingpress with SIGKILL after a random number
// of IoT calls (at most 30 of the 200 the import needs, so every kill
// lands mid-run), runs it again each time, and checks that in the end
// every device is complete, nothing exists twice, no step that the state
// file recorded as done was ever sent again, and every device is reported
// imported: none was there before, so a certificate a killed run
// registered without recording it must not come back as "exists".
func TestImportKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test runs for several seconds")
	}
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{Latency: 30 * time.Millisecond, Jitter: 40 * time.Millisecond})
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, 40, false)
	devs := devicesOf(t, path, trustFile)
	thingOf := map[string]string{} // certificate ID -> thing name
	out, _, _ := runCLI(t, "inspect", "--trust", trustFile, "--output", "json", path)
	for _, r := range readJSONL(t, out) {
		thingOf[r.CertificateID] = r.ThingName
	}
	statePath := filepath.Join(t.TempDir(), "kill.state")
	reportPath := filepath.Join(t.TempDir(), "kill.jsonl")
	args := importArgs(e, "--trust", trustFile, "--rate", "50", "--state", statePath, "--report", reportPath, path)

	doneKeys := stateDoneKeys(t, statePath, thingOf, func(certID, step string) (string, bool) {
		return "RegisterCertificateWithoutCA " + certID, step == state.StepRegister
	})

	kills := killRounds(t, e, args, 1, 5, doneKeys)
	if kills == 0 {
		t.Fatalf("no run was killed: the import finished too fast to test")
	}
	t.Logf("%d kills, %d registrations told apart by DescribeCertificate", kills, e.Proxy.Counts()["DescribeCertificate"])
	e.AssertComplete(t, devs)
	if got := len(doneKeys()); got != 5*len(devs) {
		t.Errorf("state records %d steps, want %d", got, 5*len(devs))
	}
	lines, sum := readReport(t, reportPath)
	if sum.Imported != len(devs) || len(lines) != len(devs) {
		t.Errorf("final report: %d lines, summary %+v, want all %d imported", len(lines), sum, len(devs))
	}
	withStatus(t, lines, "imported")
}

// TestImportCtrlC stops an import with SIGINT, as Ctrl-C does, once two
// devices are complete: it must stop cleanly with exit status 1 and say
// how to resume, and the same command must then finish the rest.
func TestImportCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	isolateAWS(t)
	e := iottest.New(t, iotproxy.Config{Latency: 30 * time.Millisecond})
	path, trustFile, _ := writeTestManifest(t, generate.FormatXML, 20, false) // at 20 a second, a second of import left to interrupt
	devs := devicesOf(t, path, trustFile)
	statePath := filepath.Join(t.TempDir(), "ctrlc.state")
	args := importArgs(e, "--trust", trustFile, "--rate", "20", "--state", statePath, path)
	interruptAfter(t, e, args, "AddThingToThingGroup", 2)
	if n := e.Proxy.Counts()["AddThingToThingGroup"]; n >= int64(len(devs)) {
		t.Fatalf("all %d devices complete before the interrupt took effect: nothing left to resume", n)
	}
	t.Logf("interrupted with %d of %d devices complete", e.Proxy.Counts()["AddThingToThingGroup"], len(devs))
	if _, stderr, code := runCLI(t, args...); code != exitOK {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	e.AssertComplete(t, devs)
}

// interruptAfter runs the command of args in a child process and sends it
// SIGINT, as Ctrl-C does, once the proxy has counted n calls of op. The
// child must not end before, and must then stop with exit status 1 and
// say how to resume.
func interruptAfter(t *testing.T, e *iottest.Env, args []string, op string, n int64) {
	t.Helper()
	cmd, out, exited := startChild(t, args)
	for e.Proxy.Counts()[op] < n {
		select {
		case err := <-exited:
			t.Fatalf("%s ended before the interrupt: %v\n%s", args[0], err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	_ = cmd.Process.Signal(os.Interrupt)
	err := <-exited
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitSomeDevices {
		t.Fatalf("after SIGINT: %v, want exit status 1\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Interrupted") || !strings.Contains(out.String(), "Run the same command again") {
		t.Errorf("output does not say how to resume:\n%s", out.String())
	}
}

// stateDoneKeys returns a doneKeys for killRounds: the keys, as the
// proxy's recorder names them, of the calls of every step the state file
// at statePath records as done. thingOf names each record's Thing by the
// record's key; other gives the call of any other step ("" for one whose
// calls are not counted), ok false for a step it does not know, which
// fails the test.
func stateDoneKeys(t *testing.T, statePath string, thingOf map[string]string, other func(key, step string) (call string, ok bool)) func() map[string]bool {
	return func() map[string]bool {
		t.Helper()
		keys := map[string]bool{}
		if _, err := os.Stat(statePath); err != nil {
			return keys
		}
		st, err := state.OpenReadOnly(statePath)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		err = st.ForEach(func(key string, d state.Progress) error {
			thing := thingOf[key]
			for _, step := range d.Done {
				switch step {
				case state.StepThing:
					keys["CreateThing /things/"+thing] = true
				case state.StepPrincipal:
					keys["AttachThingPrincipal /things/"+thing+"/principals "+d.CertificateARN] = true
				case state.PolicyStep(iottest.Policy):
					keys["AttachPolicy /target-policies/"+iottest.Policy+" "+d.CertificateARN] = true
				case state.GroupStep(iottest.Group):
					keys["AddThingToThingGroup "+iottest.Group+" "+thing] = true
				default:
					switch call, ok := other(key, step); {
					case !ok:
						t.Errorf("unknown step %q", step)
					case call != "":
						keys[call] = true
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
}

// killRounds runs the command of args in a child process rounds times,
// each killed with SIGKILL after a random count of IoT calls (so every
// kill lands mid-run: a round that ends first fails the test), then once
// more to the end, which must succeed. With doneKeys (the proxy
// recorder's keys of the steps the state file has as done), a round that
// repeats a step done before it fails the test. It returns the kills.
func killRounds(t *testing.T, e *iottest.Env, args []string, seed uint64, rounds int, doneKeys func() map[string]bool) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), seed))
	kills := 0
	for round := 0; round <= rounds; round++ {
		var before map[string]bool
		if doneKeys != nil {
			before = doneKeys()
		}
		e.Calls.Reset()
		base := e.Proxy.Total().Calls
		cmd, out, exited := startChild(t, args)
		final := round == rounds
		var err error
		if final {
			err = <-exited
		} else {
			var killed bool
			if killed, err = killAfterCalls(e.Proxy, cmd, exited, base, 1+rng.Int64N(30), time.Duration(rng.IntN(80))*time.Millisecond); killed {
				kills++
			} else {
				t.Errorf("round %d ended before the kill: %v\n%s", round, err, out.String())
			}
		}
		for key, n := range e.Calls.Counts() {
			if before[key] {
				t.Errorf("round %d repeated a completed step: %s (%d calls)", round, key, n)
			}
		}
		if final && err != nil {
			t.Fatalf("final run: %v\n%s", err, out.String())
		}
	}
	return kills
}

// killAfterCalls waits until the proxy has counted k IoT calls more than
// base, then for delay (so the kill lands anywhere in a call's latency,
// before or after it reached moto), and kills cmd with SIGKILL. killed is
// false if cmd exited before the kill; err is what cmd's Wait returned.
func killAfterCalls(p *iotproxy.Proxy, cmd *exec.Cmd, exited <-chan error, base, k int64, delay time.Duration) (killed bool, err error) {
	for p.Total().Calls < base+k {
		select {
		case err := <-exited:
			return false, err
		case <-time.After(2 * time.Millisecond):
		}
	}
	select {
	case err := <-exited:
		return false, err
	case <-time.After(delay):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err = <-exited
	return err != nil, err
}
