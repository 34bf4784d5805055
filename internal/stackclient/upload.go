package stackclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"

	"github.com/thingpress/thingpress/internal/stack"
)

// ErrNotManifestKey means an object key the stack would not process.
var ErrNotManifestKey = errors.New("not a manifest key")

// DefaultPartSize is the part size of multipart uploads: 5,000 parts
// cover 80 GB, S3 allows 10,000.
const DefaultPartSize = 16 << 20

// minPartSize is S3's smallest part of a multipart upload.
const minPartSize = 5 << 20

// UploadInput says what to upload where.
type UploadInput struct {
	Bucket string
	Key    string
	Path   string
	// SummaryPrefix is the stack's summary prefix; a key under it is
	// refused (the stack ignores it). Empty means the default.
	SummaryPrefix string
	// PartSize of a multipart upload (files larger than one part are
	// uploaded in parts); 0 means DefaultPartSize, at least S3's 5 MiB.
	PartSize int64
	// Concurrency is the number of parts uploaded at once (default 4).
	Concurrency int
}

// UploadResult describes the uploaded object.
type UploadResult struct {
	Bucket    string
	Key       string
	Size      int64
	ETag      string
	VersionID string
	Parts     bool // uploaded as a multipart upload
}

// CheckKey tells whether the stack processes an object at key.
func CheckKey(key, summaryPrefix string) error {
	if summaryPrefix == "" {
		summaryPrefix = stack.DefaultSummaryPrefix
	}
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrNotManifestKey)
	case strings.HasPrefix(key, summaryPrefix):
		return fmt.Errorf("%w: %q is under the summary prefix %q, which the stack ignores", ErrNotManifestKey, key, summaryPrefix)
	case !strings.HasSuffix(key, stack.ManifestSuffix7z) && !strings.HasSuffix(key, stack.ManifestSuffixXML):
		// S3's suffix filters, which start the provider, match case.
		return fmt.Errorf("%w: %q: the stack processes only keys ending in .7z or .xml (lower case)", ErrNotManifestKey, key)
	}
	return nil
}

// Upload puts the file at in.Path into the bucket with S3's transfer
// manager: in parts, several at once, when it is larger than one part.
func (c *Client) Upload(ctx context.Context, in UploadInput) (*UploadResult, error) {
	if err := CheckKey(in.Key, in.SummaryPrefix); err != nil {
		return nil, err
	}
	f, err := os.Open(in.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", in.Path)
	}
	partSize := max(in.PartSize, minPartSize)
	if in.PartSize == 0 {
		partSize = DefaultPartSize
	}
	tm := transfermanager.New(c.S3, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		// A file larger than one part goes in parts.
		o.MultipartUploadThreshold = partSize
		o.Concurrency = 4
		if in.Concurrency > 0 {
			o.Concurrency = in.Concurrency
		}
	})
	contentType := "application/x-7z-compressed"
	if strings.HasSuffix(in.Key, stack.ManifestSuffixXML) {
		contentType = "application/xml"
	}
	out, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      aws.String(in.Bucket),
		Key:         aws.String(in.Key),
		Body:        f,
		ContentType: aws.String(contentType),
	})
	if err != nil {
		return nil, c.explain(ctx, fmt.Sprintf("upload to s3://%s/%s", in.Bucket, in.Key), err)
	}
	return &UploadResult{
		Bucket:    in.Bucket,
		Key:       in.Key,
		Size:      fi.Size(),
		ETag:      strings.Trim(aws.ToString(out.ETag), `"`),
		VersionID: aws.ToString(out.VersionID),
		Parts:     aws.ToString(out.UploadID) != "",
	}, nil
}
