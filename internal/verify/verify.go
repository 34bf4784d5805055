package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/ratelimit"
)

// Status of a device in AWS.
type Status string

// The statuses a device can have.
const (
	Complete   Status = "complete"   // everything there
	Incomplete Status = "incomplete" // something there, something not
	Missing    Status = "missing"    // neither the certificate nor the Thing
)

// pageSize is the largest page the IoT list calls return.
const pageSize = 250

// maxNamed bounds how many other Things one problem names.
const maxNamed = 3

// Device is what verify needs of one valid device.
type Device struct {
	ChipID    string
	ThingName string
	// CertificateID is the hex SHA-256 of the certificate's DER, which
	// AWS IoT uses as its ID.
	CertificateID string
}

// Result is the verdict on one device.
type Result struct {
	ChipID        string   `json:"chip_id"`
	ThingName     string   `json:"thing_name"`
	CertificateID string   `json:"certificate_id"`
	Status        Status   `json:"status"`
	Problems      []string `json:"problems"`
}

// Index is what the listing calls found: the Things in each group, the
// targets of each policy and the Things of the thing type.
type Index struct {
	InGroup map[string]map[string]bool // group -> thing name
	Targets map[string]map[string]bool // policy -> target ARN
	OfType  map[string]bool            // thing name; nil without a thing type
	Pages   int                        // listing calls made
}

// Verifier checks devices against a target. Its methods are safe for
// concurrent use.
type Verifier struct {
	api    awsiot.ReadAPI
	target awsiot.Target
	calls  *awsiot.Caller
}

// New returns a Verifier that calls api through c.
func New(api awsiot.ReadAPI, t awsiot.Target, c *awsiot.Caller) *Verifier {
	return &Verifier{api: api, target: t, calls: c}
}

// Load makes the listing calls of the target.
func (v *Verifier) Load(ctx context.Context) (*Index, error) {
	idx := &Index{InGroup: map[string]map[string]bool{}, Targets: map[string]map[string]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(v.target.ThingGroups)+len(v.target.Policies)+1)
	add := func(set map[string]bool, names []string) {
		mu.Lock()
		defer mu.Unlock()
		idx.Pages++
		for _, n := range names {
			set[n] = true
		}
	}
	for i, g := range v.target.ThingGroups {
		set := map[string]bool{}
		idx.InGroup[g] = set
		wg.Go(func() {
			errs[i] = v.pages(ctx, ratelimit.OpListThingsInThingGroup, func(ctx context.Context, next *string) (*string, error) {
				out, err := v.api.ListThingsInThingGroup(ctx, &iot.ListThingsInThingGroupInput{ThingGroupName: aws.String(g), MaxResults: aws.Int32(pageSize), NextToken: next})
				if err != nil {
					return nil, err
				}
				add(set, out.Things)
				return out.NextToken, nil
			})
		})
	}
	for i, p := range v.target.Policies {
		set := map[string]bool{}
		idx.Targets[p] = set
		wg.Go(func() {
			errs[len(v.target.ThingGroups)+i] = v.pages(ctx, ratelimit.OpListTargetsForPolicy, func(ctx context.Context, next *string) (*string, error) {
				out, err := v.api.ListTargetsForPolicy(ctx, &iot.ListTargetsForPolicyInput{PolicyName: aws.String(p), PageSize: aws.Int32(pageSize), Marker: next})
				if err != nil {
					return nil, err
				}
				add(set, out.Targets)
				return out.NextMarker, nil
			})
		})
	}
	if t := v.target.ThingType; t != "" {
		idx.OfType = map[string]bool{}
		wg.Go(func() {
			errs[len(errs)-1] = v.pages(ctx, ratelimit.OpListThings, func(ctx context.Context, next *string) (*string, error) {
				out, err := v.api.ListThings(ctx, &iot.ListThingsInput{ThingTypeName: aws.String(t), MaxResults: aws.Int32(pageSize), NextToken: next})
				if err != nil {
					return nil, err
				}
				names := make([]string, 0, len(out.Things))
				for _, th := range out.Things {
					// The filter is AWS's; the check is cheap.
					if aws.ToString(th.ThingTypeName) == t {
						names = append(names, aws.ToString(th.ThingName))
					}
				}
				add(idx.OfType, names)
				return out.NextToken, nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return idx, nil
}

// pages calls page until it returns no next token (Caller.Pages).
func (v *Verifier) pages(ctx context.Context, op string, page func(ctx context.Context, next *string) (*string, error)) error {
	if err := v.calls.Pages(ctx, op, page); err != nil {
		return fmt.Errorf("list: %w", awsiot.Reason(err))
	}
	return nil
}

// Facts are what the per-device calls found.
type Facts struct {
	CertFound  bool
	CertStatus string
	CertARN    string
	// Attached are the Things the certificate is attached to.
	Attached []string
	// Described is set when DescribeThing was called; ThingFound and
	// ThingType are its answer.
	Described  bool
	ThingFound bool
	ThingType  string
}

// NeedDescribe reports whether the facts so far leave the Thing's
// existence or type open: its certificate is not attached to it, or it is
// not among the Things of the type.
func NeedDescribe(f Facts, thing string, t awsiot.Target, idx *Index) bool {
	if !slices.Contains(f.Attached, thing) {
		return true
	}
	return t.ThingType != "" && !idx.OfType[thing]
}

// Check makes the per-device calls for d and judges it.
func (v *Verifier) Check(ctx context.Context, idx *Index, d Device) (Result, error) {
	var f Facts
	err := v.calls.Do(ctx, ratelimit.OpDescribeCertificate, func(ctx context.Context) error {
		out, err := v.api.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(d.CertificateID)})
		if err != nil {
			return err
		}
		if c := out.CertificateDescription; c != nil {
			f.CertFound, f.CertStatus, f.CertARN = true, string(c.Status), aws.ToString(c.CertificateArn)
		}
		return nil
	})
	if err != nil && !awsiot.NotFound(err) {
		return Result{}, fmt.Errorf("device %s: %w", d.ChipID, awsiot.Reason(err))
	}
	if f.CertFound {
		if f.Attached, err = v.principalThings(ctx, f.CertARN); err != nil {
			return Result{}, fmt.Errorf("device %s: %w", d.ChipID, awsiot.Reason(err))
		}
	}
	if NeedDescribe(f, d.ThingName, v.target, idx) {
		f.Described = true
		err := v.calls.Do(ctx, ratelimit.OpDescribeThing, func(ctx context.Context) error {
			out, err := v.api.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(d.ThingName)})
			if err == nil {
				f.ThingFound, f.ThingType = true, aws.ToString(out.ThingTypeName)
			}
			return err
		})
		if err != nil && !awsiot.NotFound(err) {
			return Result{}, fmt.Errorf("device %s: %w", d.ChipID, awsiot.Reason(err))
		}
	}
	return Judge(d, f, v.target, idx), nil
}

// principalThings pages ListPrincipalThings for arn.
func (v *Verifier) principalThings(ctx context.Context, arn string) ([]string, error) {
	var things []string
	err := v.calls.Pages(ctx, ratelimit.OpListPrincipalThings, func(ctx context.Context, next *string) (*string, error) {
		out, err := v.api.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: aws.String(arn), MaxResults: aws.Int32(pageSize), NextToken: next})
		if err != nil {
			return nil, err
		}
		things = append(things, out.Things...)
		return out.NextToken, nil
	})
	return things, err
}

// Judge turns the facts about d into its verdict.
func Judge(d Device, f Facts, t awsiot.Target, idx *Index) Result {
	r := Result{ChipID: d.ChipID, ThingName: d.ThingName, CertificateID: d.CertificateID, Problems: []string{}}
	attached := slices.Contains(f.Attached, d.ThingName)
	exists := attached
	if f.Described {
		exists = f.ThingFound
	}
	switch {
	case !f.CertFound:
		r.Problems = append(r.Problems, "certificate not registered")
	case f.CertStatus != string(types.CertificateStatusActive):
		r.Problems = append(r.Problems, "certificate is "+f.CertStatus)
	}
	if !exists {
		r.Problems = append(r.Problems, "thing does not exist")
	}
	if f.CertFound && exists && !attached {
		r.Problems = append(r.Problems, "certificate not attached to the thing")
	}
	var others []string
	for _, n := range f.Attached {
		if n != d.ThingName {
			others = append(others, n)
		}
	}
	if len(others) > 0 {
		slices.Sort(others)
		named := strings.Join(others[:min(len(others), maxNamed)], ", ")
		if len(others) > maxNamed {
			named += fmt.Sprintf(" and %d more", len(others)-maxNamed)
		}
		if attached || len(others) > 1 {
			r.Problems = append(r.Problems, fmt.Sprintf("certificate attached to %d things, also to %s", len(f.Attached), named))
		} else {
			r.Problems = append(r.Problems, "certificate attached to another thing, "+named)
		}
	}
	if t.ThingType != "" && exists {
		typ := t.ThingType
		if f.Described {
			typ = f.ThingType
		}
		switch {
		case typ == "":
			r.Problems = append(r.Problems, "thing has no thing type, want "+t.ThingType)
		case typ != t.ThingType:
			r.Problems = append(r.Problems, fmt.Sprintf("thing type is %s, want %s", typ, t.ThingType))
		}
	}
	if f.CertFound {
		for _, p := range t.Policies {
			if !idx.Targets[p][f.CertARN] {
				r.Problems = append(r.Problems, "policy "+p+" not attached")
			}
		}
	}
	if exists {
		for _, g := range t.ThingGroups {
			if !idx.InGroup[g][d.ThingName] {
				r.Problems = append(r.Problems, "thing not in group "+g)
			}
		}
	}
	switch {
	case !f.CertFound && !exists:
		r.Status = Missing
	case len(r.Problems) == 0:
		r.Status = Complete
	default:
		r.Status = Incomplete
	}
	return r
}

// CheckAll checks every device src emits with workers goroutines and
// hands each result to onResult, one call at a time, in the order src
// emitted the devices. It stops at the first error: an AWS call that
// failed for good, or src's.
func (v *Verifier) CheckAll(ctx context.Context, idx *Index, workers int, src func(emit func(Device) error) error, onResult func(Result)) error {
	if workers <= 0 {
		workers = 16
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type job struct {
		seq int
		d   Device
	}
	work := make(chan job)
	// A device is emitted only while fewer than window results wait for
	// an earlier one, so a slow device holds back at most window others.
	window := make(chan struct{}, max(reorderWindow, 4*workers))
	var mu sync.Mutex
	waiting := map[int]Result{}
	next := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range work {
				r, err := v.Check(ctx, idx, j.d)
				if err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				waiting[j.seq] = r
				for r, ok := waiting[next]; ok; r, ok = waiting[next] {
					delete(waiting, next)
					next++
					onResult(r)
					<-window
				}
				mu.Unlock()
			}
		})
	}
	seq := 0
	serr := src(func(d Device) error {
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		select {
		case work <- job{seq, d}:
			seq++
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return serr
}

// reorderWindow is the least number of results CheckAll holds back
// behind a slow device.
const reorderWindow = 1024
