//go:build linux

package stacktest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/thingpress/thingpress/internal/results"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/testkit/motoserver"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

// rieName is the AWS Lambda Runtime Interface Emulator's command, built
// from github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie.
const rieName = "aws-lambda-rie"

// lookRIE finds the emulator, skipping the test without it (failing it
// under CI=true, where .ci/run installs it).
func lookRIE(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath(rieName)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true: %v", rieName, err)
		}
		t.Skipf("%s not on PATH: go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d", rieName)
	}
	return p
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// emulated is a function's bootstrap running under the emulator.
type emulated struct {
	invokeURL string
	output    *syncBuffer // the emulator's and the function's output
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRIE runs bootstrap under the emulator with env only (no variable
// of the test's own environment leaks in) and waits until it accepts
// invocations.
// sqsHandler hands SQS batches to the emulated importer function.
func (e *emulated) sqsHandler() stacktest.ImportHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		body, err := json.Marshal(ev)
		if err != nil {
			return events.SQSEventResponse{}, err
		}
		out, err := e.invoke(ctx, body)
		if err != nil {
			return events.SQSEventResponse{}, err
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			return resp, fmt.Errorf("importer answer %q: %w", out, err)
		}
		return resp, nil
	}
}

func startRIE(t *testing.T, rie, bootstrap string, env map[string]string) *emulated {
	t.Helper()
	api, invoke := freeAddr(t), freeAddr(t)
	cmd := exec.Command(rie, "--runtime-api-address", api, "--runtime-interface-emulator-address", invoke, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the emulator and the function
		_ = cmd.Wait()                                      // "signal: killed"
		if t.Failed() {
			t.Logf("%s under the emulator:\n%s", filepath.Base(filepath.Dir(bootstrap)), out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", invoke, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator does not listen on %s:\n%s", invoke, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &emulated{invokeURL: "http://" + invoke + "/2015-03-31/functions/function/invocations", output: out}
}

// invoke posts an event and returns the function's answer.
func (e *emulated) invoke(ctx context.Context, event []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.invokeURL, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"errorMessage"`)) {
		return body, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

// TestLambdaBinariesUnderRIE runs the real bootstrap binaries (built for
// Linux on this machine's architecture) under the Lambda Runtime
// Interface Emulator, configured only by the environment template.yaml
// sets plus an endpoint aimed at moto: the provider on the S3 event of an
// upload, then the importer on the queue's messages in batches.
func TestLambdaBinariesUnderRIE(t *testing.T) {
	rie := lookRIE(t)
	if testing.Short() {
		t.Skip("builds and runs the functions")
	}
	const good = 20
	res, devices := bundle(t, good)
	bin := t.TempDir()
	built := buildLambdas(t, runtime.GOARCH, bin)
	provider, importer := built["provider"], built["importer"]

	s := stacktest.New(t, "tp-rie", stacktest.Options{VisibilityTimeout: 5})
	const key = "uploads/reel a+b.7z"
	s.Put(t, key, res.Path)
	_, event := s.ObjectCreatedEvent(t, key)

	env := map[string]string{
		"PATH":                        os.Getenv("PATH"),
		"TMPDIR":                      t.TempDir(), // the function's /tmp
		"AWS_REGION":                  motoserver.Region,
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_ENDPOINT_URL":            s.Moto.URL,
		"AWS_CONFIG_FILE":             filepath.Join(bin, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(bin, "no-credentials"),
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "120",
		stack.EnvTrustAnchorsPEM:      string(res.PKI.PEM()),
		stack.EnvDevicesPerMessage:    "3",
		stack.EnvImporterConcurrency:  "1",
		stack.EnvQuotaRegister:        "100",
		stack.EnvQuotaAttachPolicy:    "100",
	}
	for k, v := range s.Env() {
		env[k] = v
	}
	topic, notified := notices(t, s)
	env[stack.EnvResultsTopicARN] = topic

	prov := startRIE(t, rie, provider, env)
	ctx := t.Context()
	if out, err := prov.invoke(ctx, event); err != nil || strings.TrimSpace(string(out)) != "null" {
		t.Fatalf("provider: %s, %v", out, err)
	}
	sum := s.Summary(t, key)
	wantMessages := (good + 2) / 3
	if sum.Valid != good || sum.Messages != wantMessages || sum.Error != "" {
		t.Fatalf("summary %+v", sum)
	}
	var metrics stacktest.Metrics
	for _, line := range strings.Split(prov.output.String(), "\n") {
		if strings.HasPrefix(line, `{"`) && strings.Contains(line, `"_aws"`) {
			if _, err := metrics.Write([]byte(line + "\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := metrics.Sum(stack.MetricDevicesValid, key); got != good {
		t.Errorf("the provider's EMF output says %v valid devices, want %d:\n%s", got, good, prov.output.String())
	}

	imp := startRIE(t, rie, importer, env)
	handle := imp.sqsHandler()
	stats := s.Deliver(t, stacktest.DeliverOptions{Handlers: []stacktest.ImportHandler{handle}, BatchSize: 4, Timeout: 60 * time.Second})
	if stats.Messages != wantMessages || len(stats.Failures) != 0 {
		t.Errorf("delivery %+v, want %d messages and no failure", stats, wantMessages)
	}
	s.IoT.AssertComplete(t, devices)
	// The binaries found the results table from RESULTS_TABLE alone.
	m, err := s.Results().Get(ctx, results.ID("s3://"+s.Bucket+"/"+key, sum.Version()))
	if err != nil || m.State != results.StateDone || m.Valid != good || m.Imported != good || m.Exists != 0 || m.Failed != 0 {
		t.Errorf("results table: %+v %v, want done with %d imported", m, err, good)
	}
	if f := finalSummary(t, s, key); f.Imported != good || f.State != results.StateDone {
		t.Errorf("final summary %+v", f)
	}
	if got := notified(); len(got) != 1 || !strings.Contains(got[0], `"state": "done"`) {
		t.Errorf("notifications %q, want one", got)
	}
	if !strings.Contains(imp.output.String(), `"msg":"batch done"`) {
		t.Errorf("no JSON log line from the importer:\n%s", imp.output.String())
	}
}
