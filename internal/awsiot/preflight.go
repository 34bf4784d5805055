package awsiot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingpress/thingpress/internal/awsconf"
)

// Target is where devices go: the policies attached to each certificate,
// the thing type and the thing groups of each Thing.
type Target struct {
	Policies    []string
	ThingType   string
	ThingGroups []string
}

// preflightAttempts bounds the attempts of one preflight call that AWS
// throttles or fails transiently.
const preflightAttempts = 8

// Preflight checks that every policy, the thing type and every thing group
// of t exist, with one read call each. It returns an error wrapping
// ErrPreflight and ErrMissing that names everything missing, or one
// wrapping ErrPreflight for the first other error.
func Preflight(ctx context.Context, api PreflightAPI, t Target) error {
	// The client's own retries may be off (see FromConfig); these reads
	// need no special care, so the SDK's standard retryer retries them.
	retryer := awsconf.Retryer(preflightAttempts)()
	retries := func(o *iot.Options) { o.Retryer = retryer }
	var missing []string
	check := func(kind, name string, call func() error) error {
		err := call()
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &nf):
			missing = append(missing, fmt.Sprintf("%s %q", kind, name))
			return nil
		}
		if hint := awsconf.Hint(err); hint != "" {
			return fmt.Errorf("%w: checking %s %q: %s: %s", ErrPreflight, kind, name, Message(err), hint)
		}
		return fmt.Errorf("%w: checking %s %q: %s", ErrPreflight, kind, name, Message(err))
	}
	for _, p := range t.Policies {
		if err := check("policy", p, func() error {
			_, err := api.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: &p}, retries)
			return err
		}); err != nil {
			return err
		}
	}
	if t.ThingType != "" {
		if err := check("thing type", t.ThingType, func() error {
			out, err := api.DescribeThingType(ctx, &iot.DescribeThingTypeInput{ThingTypeName: &t.ThingType}, retries)
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
			_, err := api.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: &g}, retries)
			return err
		}); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %w: %s", ErrPreflight, ErrMissing, strings.Join(missing, ", "))
	}
	return nil
}
