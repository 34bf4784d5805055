package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/spf13/pflag"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/validate"
)

// targetOptions are the flags of verify and remove that name what an
// import made (policies, thing type, groups) and where (account, region,
// endpoint).
type targetOptions struct {
	policies    []string
	thingType   string
	thingGroups []string
	region      string
	profile     string
	endpointURL string
	pace        paceOptions
}

// bind binds the flags; the help of each flag says what the command does
// with it.
func (o *targetOptions) bind(f *pflag.FlagSet, policy, thingType, group string) {
	f.StringArrayVar(&o.policies, "policy", nil, "IoT policy the import attached to each certificate: "+policy+" (repeatable)")
	f.StringVar(&o.thingType, "thing-type", "", "thing type the import gave each Thing: "+thingType)
	f.StringArrayVar(&o.thingGroups, "thing-group", nil, "thing group the import added each Thing to: "+group+" (repeatable)")
	f.StringVar(&o.region, "region", "", "AWS region (default: from the AWS configuration chain)")
	f.StringVar(&o.profile, "profile", "", "AWS shared configuration profile")
	f.StringVar(&o.endpointURL, "endpoint-url", "", "AWS IoT endpoint URL (e.g. a local emulator); AWS_ENDPOINT_URL(_IOT) work too")
}

func (o *targetOptions) check() error {
	if err := checkTarget(o.policies, o.thingType, o.thingGroups); err != nil {
		return err
	}
	return o.pace.check()
}

// checkTarget checks the --policy, --thing-type and --thing-group values
// of import, bind, verify and remove against AWS IoT's limits and names.
func checkTarget(policies []string, thingType string, groups []string) error {
	if len(policies) > 10 {
		return usageError{errors.New("at most 10 policies per certificate (an AWS IoT limit)")}
	}
	if len(groups) > 10 {
		return usageError{errors.New("a thing can be in at most 10 thing groups (an AWS IoT limit)")}
	}
	for _, n := range append([]string{thingType}, groups...) {
		if n != "" && !validate.ValidThingName(n) {
			return usageError{fmt.Errorf("%q is not a valid thing type or group name", n)}
		}
	}
	return nil
}

// perDevice is the policies and groups, for the default of --workers.
func (o *targetOptions) perDevice() ratelimit.PerDevice {
	return ratelimit.PerDevice{Policies: len(o.policies), Groups: len(o.thingGroups)}
}

// workerCount is --workers or its default.
func (o *targetOptions) workerCount() int { return o.pace.workerCount(o.perDevice()) }

func (o *targetOptions) target() awsiot.Target {
	return awsiot.Target{Policies: o.policies, ThingType: o.thingType, ThingGroups: o.thingGroups}
}

// connect returns the IoT client, its region and endpoint, after the
// preflight has found every policy, the thing type and every group.
func (o *targetOptions) connect(ctx context.Context) (*iot.Client, string, string, error) {
	client, cfg, err := awsiot.NewClient(ctx, awsiot.ClientOptions{
		Region: o.region, Profile: o.profile, EndpointURL: o.endpointURL, MaxConns: o.workerCount(),
	})
	if err != nil {
		return nil, "", "", err
	}
	endpoint := o.endpointURL
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = aws.ToString(cfg.BaseEndpoint)
	}
	if err := awsiot.Preflight(ctx, client, o.target()); err != nil {
		return nil, "", "", err
	}
	return client, cfg.Region, endpoint, nil
}
