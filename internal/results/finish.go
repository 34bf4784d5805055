package results

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/thingpress/thingpress/internal/stack"
)

// S3API is the S3 call of a Finisher; *s3.Client satisfies it.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// SNSAPI is the SNS call of a Finisher; *sns.Client satisfies it.
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Finisher says that a manifest is done: the final summary next to the
// provider's, and a notification when a topic is set. Table.Finish runs
// it and marks the manifest told; until then, each caller CheckDone asks
// runs it again, so both are told at least once, rarely twice.
type Finisher struct {
	S3            S3API
	SNS           SNSAPI // nil when TopicARN is empty
	TopicARN      string
	SummaryPrefix string // default stack.DefaultSummaryPrefix
}

// Final is the final summary object of a manifest and the notification's
// message, as JSON.
type Final struct {
	Manifest
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"devices_per_second"`
}

// NewFinal returns the final summary of m.
func NewFinal(m Manifest) Final {
	return Final{Manifest: m, Seconds: m.Duration(time.Now()).Seconds(), Rate: m.Rate(time.Now())}
}

// errURI marks a manifest URI that names no S3 object.
var errURI = errors.New("not an s3://bucket/key URI")

// SplitURI returns the bucket and key of s3://bucket/key.
func SplitURI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%w: %q", errURI, uri)
	}
	bucket, key, ok = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("%w: %q", errURI, uri)
	}
	return bucket, key, nil
}

// Finish writes m's final summary and publishes the notification. Both
// are tried; the error joins what failed.
func (f *Finisher) Finish(ctx context.Context, m Manifest) error {
	if f == nil {
		return nil
	}
	bucket, key, err := SplitURI(m.Manifest)
	if err != nil {
		return err
	}
	prefix := f.SummaryPrefix
	if prefix == "" {
		prefix = stack.DefaultSummaryPrefix
	}
	body, err := json.MarshalIndent(NewFinal(m), "", "  ")
	if err != nil {
		return err
	}
	var errs []error
	if f.S3 != nil {
		if _, err := f.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(stack.ResultKey(prefix, key)),
			Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
		}); err != nil {
			errs = append(errs, fmt.Errorf("write final summary: %w", err))
		}
	}
	if f.TopicARN != "" && f.SNS != nil {
		subject := fmt.Sprintf("thingpress: %s done: %d imported, %d existed, %d failed", lastPart(key), m.Imported, m.Exists, m.Failed)
		if _, err := f.SNS.Publish(ctx, &sns.PublishInput{
			TopicArn: aws.String(f.TopicARN), Subject: aws.String(clip(subject, 100)), Message: aws.String(string(body)),
		}); err != nil {
			errs = append(errs, fmt.Errorf("notify %s: %w", f.TopicARN, err))
		}
	}
	return errors.Join(errs...)
}

func lastPart(key string) string { return key[strings.LastIndex(key, "/")+1:] }

// clip cuts s to n bytes; SNS subjects are ASCII without control
// characters, at most 100.
func clip(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
