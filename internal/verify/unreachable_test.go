package verify

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/testkit/closedport"
	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

// TestVerifyCheckUnreachable checks that a device whose calls never reach
// the endpoint fails with an error that names the device and the address
// and keeps the chain (it Is awsiot.ErrUnreachable).
func TestVerifyCheckUnreachable(t *testing.T) {
	addr := closedport.Addr(t)
	client := iot.NewFromConfig(mototest.AWSConfig(t, "http://"+addr), func(o *iot.Options) { o.Retryer = aws.NopRetryer{} })
	c, err := awsiot.NewCaller(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.MaxAttempts, c.BackoffBase, c.BackoffMax = 2, time.Microsecond, time.Millisecond
	_, err = New(client, target, c).Check(t.Context(), &Index{}, Device{ChipID: "chip", ThingName: "t", CertificateID: "abc"})
	if !errors.Is(err, awsiot.ErrUnreachable) || !strings.HasPrefix(err.Error(), "device chip: endpoint unreachable: cannot connect to "+addr) {
		t.Errorf("Check = %v, want the device's error naming %s that Is awsiot.ErrUnreachable", err, addr)
	}
}
