package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/testbundle"
)

// TestInterruptSpooling stops thingpress with SIGINT or SIGTERM while it
// spools the inner archive of a bundle (256 MiB, a second or more of work):
// it must exit within about a second with the status of an interrupted
// run, say so, and leave nothing in its TMPDIR.
func TestInterruptSpooling(t *testing.T) {
	if testing.Short() {
		t.Skip("spools a 256 MiB archive")
	}
	testbundle.Require7z(t)
	if runtime.GOOS != "linux" {
		t.Skip("sees the spool file in /proc")
	}
	bundle := filepath.Join(t.TempDir(), "big.7z")
	if err := testbundle.WriteBigBundle(bundle, 256<<20); err != nil {
		t.Fatal(err)
	}
	signals := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}
	t.Run("inspect", func(t *testing.T) {
		for _, sig := range signals {
			t.Run(sig.String(), func(t *testing.T) {
				interruptSpool(t, []string{"inspect", "--no-verify-chain", bundle}, sig)
			})
		}
	})
	t.Run("import", func(t *testing.T) {
		isolateAWS(t)
		env := iottest.New(t, iotproxy.Config{})
		for _, sig := range signals {
			t.Run(sig.String(), func(t *testing.T) {
				interruptSpool(t, importArgs(env, "--no-verify-chain", "--state", filepath.Join(t.TempDir(), "s"), bundle), sig)
			})
		}
	})
}

func interruptSpool(t *testing.T, args []string, sig syscall.Signal) {
	t.Helper()
	tmp := t.TempDir()
	cmd, out, exited := startChild(t, args, "TMPDIR="+tmp)
	deadline := time.Now().Add(20 * time.Second)
	for testbundle.Spool(cmd.Process.Pid, tmp) == "" {
		select {
		case err := <-exited:
			t.Fatalf("exited before spooling: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no spool file in TMPDIR after 20 s\n%s", out.String())
		}
	}
	time.Sleep(100 * time.Millisecond) // into the copy
	if fi, err := os.Stat(testbundle.Spool(cmd.Process.Pid, tmp)); err == nil {
		t.Logf("%d bytes spooled when signalled", fi.Size())
	}
	sent := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("still running 5 s after %v\n%s", sig, out.String())
	}
	took := time.Since(sent)
	t.Logf("exited %v after %v: %s", err, took, strings.TrimSpace(out.String()))
	if took > 1200*time.Millisecond {
		t.Errorf("took %v to stop after %v, want about a second at most", took, sig)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitSomeDevices {
		t.Errorf("exit %v, want status %d (interrupted)", err, exitSomeDevices)
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Errorf("output does not say it was interrupted:\n%s", out.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("files left in TMPDIR: %v", left)
	}
}
