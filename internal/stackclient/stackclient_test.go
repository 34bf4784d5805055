package stackclient_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/thingpress/thingpress/internal/outcome"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/stackclient"
	"github.com/thingpress/thingpress/internal/testkit/motoserver"
	"github.com/thingpress/thingpress/internal/testkit/stacktest"
)

func TestCheckKey(t *testing.T) {
	tests := []struct {
		name   string
		vendor stack.Vendor // default Infineon
		key    string
		prefix string
		ok     bool
	}{
		{name: "7z", key: "reel.7z", ok: true},
		{name: "xml in a folder with spaces", key: "2026/reel a+b.xml", ok: true},
		{name: "upper-case suffix", key: "REEL.7Z"},
		{name: "other suffix", key: "reel.zip"},
		{name: "summary", key: "reel.7z.json"},
		{name: "under the summary prefix", key: stack.DefaultSummaryPrefix + "x.7z"},
		{name: "under a custom summary prefix", key: "sums/x.7z", prefix: "sums/"},
		{name: "custom prefix elsewhere", key: "thingpress/summaries/x.7z", prefix: "sums/", ok: true},
		{name: "empty", key: ""},
		{name: "csv in the infineon bucket", key: "modules.csv"},
		{name: "microchip", vendor: stack.VendorMicrochip, key: "ECC608C-TNGTLSU-B.json", ok: true},
		{name: "7z in the microchip bucket", vendor: stack.VendorMicrochip, key: "reel.7z"},
		{name: "summary in the microchip bucket", vendor: stack.VendorMicrochip, key: stack.DefaultSummaryPrefix + "x.json"},
		{name: "espressif", vendor: stack.VendorEspressif, key: "in/modules 7+8.csv", ok: true},
		{name: "espressif upper-case", vendor: stack.VendorEspressif, key: "modules.CSV"},
		{name: "under the trust prefix", vendor: stack.VendorEspressif, key: "trust/modules.csv"},
		{name: "generated", vendor: stack.VendorGenerated, key: "certificates.txt", ok: true},
		{name: "generated csv", vendor: stack.VendorGenerated, key: "certificates.csv"},
		{name: "unknown vendor", vendor: "nxp", key: "x.7z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(key, prefix string) error { return stackclient.CheckVendorKey(tc.vendor, key, prefix) }
			if tc.vendor == "" {
				check = stackclient.CheckKey
			}
			err := check(tc.key, tc.prefix)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckKey(%q, %q) = %v, want ok %v", tc.key, tc.prefix, err, tc.ok)
			}
			if err != nil && !errors.Is(err, stackclient.ErrNotManifestKey) {
				t.Fatalf("error %v is not ErrNotManifestKey", err)
			}
		})
	}
}

// client aims a Client at s's moto.
func client(t *testing.T, s *stacktest.Stack) *stackclient.Client {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	c, err := stackclient.New(t.Context(), stackclient.Options{Region: motoserver.Region, EndpointURL: s.Moto.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUpload(t *testing.T) {
	s := stacktest.New(t, "tp-upload", stacktest.Options{})
	c := client(t, s)
	dir := t.TempDir()
	small := filepath.Join(dir, "small.xml")
	if err := os.WriteFile(small, []byte("<Manifest/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.7z")
	data := make([]byte, 12<<20+123)
	rand.Read(data)
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path, key string
		partSize  int64
		wantParts bool
		wantErr   bool
	}{
		{name: "one request", path: small, key: "in/small a+b.xml"},
		{name: "multipart", path: big, key: "big.7z", partSize: 5 << 20, wantParts: true},
		{name: "key the stack ignores", path: small, key: "small.txt", wantErr: true},
		{name: "missing file", path: filepath.Join(dir, "none.7z"), key: "none.7z", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Upload(t.Context(), stackclient.UploadInput{Bucket: s.Bucket, Key: tc.key, Path: tc.path, PartSize: tc.partSize})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Upload: %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if res.Parts != tc.wantParts || res.Key != tc.key || res.Bucket != s.Bucket {
				t.Errorf("result %+v", res)
			}
			want, _ := os.ReadFile(tc.path)
			out, err := s.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(tc.key)})
			if err != nil {
				t.Fatal(err)
			}
			defer out.Body.Close()
			got, _ := io.ReadAll(out.Body)
			if sha256.Sum256(got) != sha256.Sum256(want) {
				t.Errorf("object has %d bytes, not the file's %d", len(got), len(want))
			}
		})
	}
	// The upload is what starts the stack: S3 notified the events queue.
	if ev, _ := s.ObjectCreatedEvent(t, "in/small a+b.xml"); len(ev.Records) != 1 {
		t.Errorf("event %+v", ev)
	}
}

// countListings counts the DescribeStackResources calls c makes.
func countListings(t *testing.T, c *stackclient.Client) *int {
	t.Helper()
	n := new(int)
	c.CFN = cloudformation.New(c.CFN.Options(), func(o *cloudformation.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("countListings",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if _, ok := in.Parameters.(*cloudformation.DescribeStackResourcesInput); ok {
						*n++
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	return n
}

func TestStatus(t *testing.T) {
	s := stacktest.New(t, "tp-status", stacktest.Options{})
	c := client(t, s)
	listings := countListings(t, c)
	ctx := t.Context()
	putSummary := func(key string, sum stack.Summary) {
		t.Helper()
		b, _ := json.Marshal(sum)
		if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.Bucket), Key: aws.String(stack.SummaryKey(stack.DefaultSummaryPrefix, key)), Body: bytes.NewReader(b),
		}); err != nil {
			t.Fatal(err)
		}
	}
	putSummary("old/reel 1.7z", stack.Summary{Manifest: "s3://b/old/reel 1.7z", Started: "2026-01-01T00:00:00Z", Finished: "2026-01-01T00:01:00Z",
		Counts: outcome.Counts{Total: 12, Valid: 10, Invalid: 2, Reasons: map[string]int{"expired": 2}}, Messages: 1})
	time.Sleep(1100 * time.Millisecond) // S3's LastModified counts seconds
	putSummary("bad.7z", stack.Summary{Manifest: "s3://b/bad.7z", Started: "2026-01-02T00:00:00Z", Finished: "2026-01-02T00:00:01Z",
		Error: "bad.7z: malformed manifest:\nnot a 7z archive"})
	time.Sleep(1100 * time.Millisecond)
	putSummary("new.xml", stack.Summary{Manifest: "s3://b/new.xml", Started: "2026-01-03T00:00:00Z"})
	for i := range 3 {
		if _, err := s.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.ImportQueue), MessageBody: aws.String("m"), DelaySeconds: int32(i % 2 * 60)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.ImportDLQ), MessageBody: aws.String("dead")}); err != nil {
		t.Fatal(err)
	}

	st, err := c.Status(ctx, stackclient.StatusInput{Stack: s.Name, Last: 2})
	if err != nil {
		t.Fatal(err)
	}
	if *listings != 1 || st.ResultsTable != s.Table {
		t.Fatalf("status listed the stack's resources %d times, want once; results table %q, want %q", *listings, st.ResultsTable, s.Table)
	}
	if st.Bucket != s.Bucket || len(st.Queues) != 3 {
		t.Fatalf("status %+v", st)
	}
	want := []stackclient.QueueStatus{
		{Name: stack.LogicalImportQueue, URL: s.ImportQueue, Visible: 2, Delayed: 1},
		{Name: stack.LogicalImportDeadLetterQueue, URL: s.ImportDLQ, Visible: 1},
		{Name: stack.LogicalProviderDeadLetterQueue, URL: s.ProviderDLQ},
	}
	for i, q := range st.Queues {
		if q != want[i] {
			t.Errorf("queue %d: %+v, want %+v", i, q, want[i])
		}
	}
	if st.SummariesTotal != 3 || len(st.Summaries) != 2 {
		t.Fatalf("summaries %d of %d, want 2 of 3", len(st.Summaries), st.SummariesTotal)
	}
	if st.Summaries[0].Key != "new.xml" || st.Summaries[0].State() != "reading" ||
		st.Summaries[1].Key != "bad.7z" || st.Summaries[1].State() != "failed" {
		t.Errorf("summaries %+v", st.Summaries)
	}

	var text strings.Builder
	if err := st.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Bucket: tp-status-infineon", "ImportQueue", "new.xml", "reading", "bad.7z: bad.7z: malformed manifest: not a 7z archive",
		"Importing: 3 messages", "Attention: 1 messages in ImportDeadLetterQueue"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}

	t.Run("not a thingpress stack", func(t *testing.T) {
		if _, err := c.Status(ctx, stackclient.StatusInput{Stack: "no-such-stack"}); !errors.Is(err, stackclient.ErrStack) {
			t.Fatalf("Status of a missing stack: %v, want ErrStack", err)
		}
	})
}
