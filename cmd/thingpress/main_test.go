package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

// TestMain lets tests run the real command in a child process (for the
// kill -9 test): with THINGPRESS_TEST_ARGS set, the test binary is
// thingpress. The tests share one moto server.
func TestMain(m *testing.M) {
	if args := os.Getenv("THINGPRESS_TEST_ARGS"); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			panic(err)
		}
		os.Exit(runMain(argv))
	}
	os.Exit(mototest.Main(m))
}

// runCLI runs thingpress in-process and returns its output and status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// usageCase is a command line that must fail with exit status 2 (bad
// arguments, or AWS or the input unusable) and say want on standard error.
type usageCase struct {
	name string
	args []string
	want string
}

// runUsageCases runs each case as a subtest, with extra after its
// arguments.
func runUsageCases(t *testing.T, cases []usageCase, extra ...string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, append(tc.args, extra...)...)
			if code != exitFatal || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitFatal, tc.want)
			}
		})
	}
}

// startChild starts thingpress with args in a child process (see
// TestMain), env added to its environment. out collects its standard
// output and error; exited gets what its Wait returns.
func startChild(t *testing.T, args []string, env ...string) (cmd *exec.Cmd, out *strings.Builder, exited <-chan error) {
	t.Helper()
	argv, _ := json.Marshal(args)
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), "THINGPRESS_TEST_ARGS="+string(argv)), env...)
	out = &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, out, done
}

// isolateAWS points the AWS configuration chain and the state directory
// at t's own empty places.
func isolateAWS(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IOT"} {
		unsetenv(t, k)
	}
}

// unsetenv removes k from the environment for the rest of t.
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "") // registers the restore
	os.Unsetenv(k)
}

// sharedFixture returns a file of ../shared/fixtures, skipping the test
// when it is missing outside CI.
func sharedFixture(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "fixtures", rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs %s: %v", p, err)
		}
		t.Skipf("%s not present: %v", p, err)
	}
	return p
}
