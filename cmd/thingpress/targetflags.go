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

// targetFlags are --policy, --thing-type and --thing-group: what import
// and bind make of each device, and what verify and remove look for.
type targetFlags struct {
	policies    []string
	thingType   string
	thingGroups []string
}

// The help of the target flags of import and bind, which make the devices.
const (
	policyHelp    = "IoT policy to attach to each certificate (required; repeatable)"
	groupHelp     = "thing group to add each Thing to (repeatable)"
	exclusiveHelp = "attach each certificate with thingPrincipalType EXCLUSIVE_THING, so AWS refuses to attach it to another Thing"
)

// bindTarget binds the flags with the help texts given.
func (t *targetFlags) bindTarget(f *pflag.FlagSet, policy, thingType, group string) {
	f.StringArrayVar(&t.policies, "policy", nil, policy)
	f.StringVar(&t.thingType, "thing-type", "", thingType)
	f.StringArrayVar(&t.thingGroups, "thing-group", nil, group)
}

// perDevice is the policies and groups, for the default of --workers.
func (t *targetFlags) perDevice() ratelimit.PerDevice {
	return ratelimit.PerDevice{Policies: len(t.policies), Groups: len(t.thingGroups)}
}

func (t *targetFlags) target() awsiot.Target {
	return awsiot.Target{Policies: t.policies, ThingType: t.thingType, ThingGroups: t.thingGroups}
}

// check checks the values (see checkTarget).
func (t *targetFlags) check() error { return checkTarget(t.policies, t.thingType, t.thingGroups) }

// connFlags are --region, --profile and --endpoint-url, of every command
// that calls AWS IoT.
type connFlags struct {
	region      string
	profile     string
	endpointURL string
}

func (c *connFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&c.region, "region", "", "AWS region (default: from the AWS configuration chain)")
	f.StringVar(&c.profile, "profile", "", "AWS shared configuration profile")
	f.StringVar(&c.endpointURL, "endpoint-url", "", "AWS IoT endpoint URL (e.g. a local emulator); AWS_ENDPOINT_URL(_IOT) work too")
}

// connect returns the IoT client for workers devices at once, its AWS
// configuration and the endpoint it calls ("" for AWS's own), after the
// preflight has found t's policies, thing type and groups; a preflight
// error says where it looked.
func (c *connFlags) connect(ctx context.Context, workers int, t awsiot.Target) (*iot.Client, aws.Config, string, error) {
	client, cfg, err := awsiot.NewClient(ctx, awsiot.ClientOptions{
		Region: c.region, Profile: c.profile, EndpointURL: c.endpointURL, MaxConns: workers,
	})
	if err != nil {
		return nil, aws.Config{}, "", err
	}
	endpoint := c.endpointURL
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = aws.ToString(cfg.BaseEndpoint)
	}
	if err := awsiot.Preflight(ctx, client, t); err != nil {
		return nil, aws.Config{}, "", preflightIn(ctx, err, cfg, endpoint)
	}
	return client, cfg, endpoint, nil
}

// targetOptions are the flags of import, bind, verify and remove that name
// what an import makes (policies, thing type, groups), where (account,
// region, endpoint) and how fast.
type targetOptions struct {
	targetFlags
	conn connFlags
	pace paceOptions
}

// bind binds the flags of verify and remove but --rate, --quota and
// --workers; the help of each flag says what the command does with it.
func (o *targetOptions) bind(f *pflag.FlagSet, policy, thingType, group string) {
	o.bindTarget(f, "IoT policy the import attached to each certificate: "+policy+" (repeatable)",
		"thing type the import gave each Thing: "+thingType,
		"thing group the import added each Thing to: "+group+" (repeatable)")
	o.conn.bind(f)
}

func (o *targetOptions) check() error {
	if err := o.targetFlags.check(); err != nil {
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

// importedOptions are the flags verify and remove share to find what an
// import made of a manifest's devices: the manifest's flags with
// --thing-name, the target, where and how fast.
type importedOptions struct {
	manifest manifestOptions
	aws      targetOptions
}

// bind binds the flags: policy, thingType and group say what the command
// does with each (see targetOptions.bind), ceiling and what are
// paceOptions.bind's.
func (o *importedOptions) bind(f *pflag.FlagSet, policy, thingType, group, ceiling, what string) {
	o.manifest.bind(f)
	o.aws.bind(f, policy, thingType, group)
	o.aws.pace.bind(f, ceiling, what)
	o.manifest.bindThingName(f, "the --thing-name TEMPLATE the import was given, to find each Thing under the name it made (default: the manifest's name, else {cn})")
}

// check validates the flags that need no manifest.
func (o *importedOptions) check() error {
	if err := o.manifest.check(); err != nil {
		return err
	}
	return o.aws.check()
}

// workerCount is --workers or its default.
func (o *targetOptions) workerCount() int { return o.pace.workerCount(o.perDevice()) }

// connect returns the IoT client, its region and endpoint, after the
// preflight has found every policy, the thing type and every group.
func (o *targetOptions) connect(ctx context.Context) (*iot.Client, string, string, error) {
	client, cfg, endpoint, err := o.conn.connect(ctx, o.workerCount(), o.target())
	if err != nil {
		return nil, "", "", err
	}
	return client, cfg.Region, endpoint, nil
}
