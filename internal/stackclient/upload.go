package stackclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
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
	// Vendor is the bucket's vendor, whose key suffixes the key must end
	// in; empty means Infineon.
	Vendor stack.Vendor
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

// CheckKey tells whether the stack processes an object at key in its
// Infineon bucket.
func CheckKey(key, summaryPrefix string) error {
	return CheckVendorKey(stack.VendorInfineon, key, summaryPrefix)
}

// CheckVendorKey tells whether the stack processes an object at key in
// vendor v's bucket.
func CheckVendorKey(v stack.Vendor, key, summaryPrefix string) error {
	if summaryPrefix == "" {
		summaryPrefix = stack.DefaultSummaryPrefix
	}
	b, ok := stack.BucketOf(v)
	if !ok {
		return fmt.Errorf("%w: vendor %q has no bucket", ErrNotManifestKey, v)
	}
	// S3's suffix filters, which start the provider, match case.
	matches := slices.ContainsFunc(b.KeySuffixes, func(s string) bool { return strings.HasSuffix(key, s) })
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrNotManifestKey)
	case strings.HasPrefix(key, summaryPrefix):
		return fmt.Errorf("%w: %q is under the summary prefix %q, which the stack ignores", ErrNotManifestKey, key, summaryPrefix)
	case strings.HasPrefix(key, stack.TrustPrefix):
		return fmt.Errorf("%w: %q is under %q, where the stack keeps trust anchors", ErrNotManifestKey, key, stack.TrustPrefix)
	case !matches:
		return fmt.Errorf("%w: %q: the stack processes only keys ending in %s (lower case) in its %s bucket",
			ErrNotManifestKey, key, strings.Join(b.KeySuffixes, " or "), v)
	}
	return nil
}

// VendorOfKey is the vendor whose bucket processes keys ending as key does.
func VendorOfKey(key string) (stack.Vendor, bool) {
	for _, b := range stack.Buckets {
		for _, s := range b.KeySuffixes {
			if strings.HasSuffix(key, s) {
				return b.Vendor, true
			}
		}
	}
	return "", false
}

// contentTypes are the Content-Type of the manifests, by key suffix.
var contentTypes = map[string]string{
	stack.ManifestSuffix7z:  "application/x-7z-compressed",
	stack.ManifestSuffixXML: "application/xml",
	".json":                 "application/json",
	".csv":                  "text/csv",
	".txt":                  "text/plain",
}

// Upload puts the file at in.Path into the bucket with S3's transfer
// manager: in parts, several at once, when it is larger than one part.
func (c *Client) Upload(ctx context.Context, in UploadInput) (*UploadResult, error) {
	if in.Vendor == "" {
		in.Vendor = stack.VendorInfineon
	}
	if err := CheckVendorKey(in.Vendor, in.Key, in.SummaryPrefix); err != nil {
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
	contentType := contentTypes[path.Ext(in.Key)]
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
