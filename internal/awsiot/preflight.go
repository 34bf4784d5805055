package awsiot

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
)

// Target is where devices go: the policies attached to each certificate,
// the thing type and the thing groups of each Thing.
type Target struct {
	Policies    []string
	ThingType   string
	ThingGroups []string
}

// Preflight checks that every policy, the thing type and every thing group
// of t exist, with one read call each. It returns an error wrapping
// ErrPreflight that names everything missing, or the first other error.
func Preflight(ctx context.Context, api PreflightAPI, t Target) error {
	var missing []string
	check := func(kind, name string, call func() error) error {
		err := retryCall(ctx, call)
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &nf):
			missing = append(missing, fmt.Sprintf("%s %q", kind, name))
			return nil
		}
		return fmt.Errorf("%w: checking %s %q: %s", ErrPreflight, kind, name, Message(err))
	}
	for _, p := range t.Policies {
		if err := check("policy", p, func() error {
			_, err := api.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: &p})
			return err
		}); err != nil {
			return err
		}
	}
	if t.ThingType != "" {
		if err := check("thing type", t.ThingType, func() error {
			out, err := api.DescribeThingType(ctx, &iot.DescribeThingTypeInput{ThingTypeName: &t.ThingType})
			if err == nil && out.ThingTypeMetadata != nil && out.ThingTypeMetadata.Deprecated {
				missing = append(missing, fmt.Sprintf("thing type %q (deprecated)", t.ThingType))
			}
			return err
		}); err != nil {
			return err
		}
	}
	for _, g := range t.ThingGroups {
		if err := check("thing group", g, func() error {
			_, err := api.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: &g})
			return err
		}); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing in AWS IoT: %s", ErrPreflight, strings.Join(missing, ", "))
	}
	return nil
}

// preflightAttempts bounds the tries of one preflight call that AWS
// throttles or fails transiently.
const preflightAttempts = 8

// retryCall runs call until it succeeds, fails permanently, or has been
// throttled or failed transiently preflightAttempts times, with jittered
// exponential backoff from 100 ms.
func retryCall(ctx context.Context, call func() error) error {
	var err error
	for attempt := range preflightAttempts {
		if err = call(); err == nil {
			return nil
		}
		if c := Classify(err); c != Throttled && c != Transient {
			return err
		}
		d := time.Duration(rand.Int64N(int64(100*time.Millisecond) << attempt))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}
