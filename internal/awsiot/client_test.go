package awsiot

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/thingpress/thingpress/internal/awsconf"
)

// TestClientConnectTimeout checks that the IoT client's own HTTP client
// keeps awsconf's connect timeout (a dropped SYN fails in seconds, not
// the SDK's 30 s) beside its per-attempt timeout.
func TestClientConnectTimeout(t *testing.T) {
	c := FromConfig(aws.Config{Region: "us-east-1"}, ClientOptions{Timeout: 7 * time.Second})
	hc, ok := c.Options().HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		t.Fatalf("HTTP client %T, want *awshttp.BuildableClient", c.Options().HTTPClient)
	}
	if got := hc.GetDialer().Timeout; got != awsconf.ConnectTimeout {
		t.Errorf("connect timeout %v, want %v", got, awsconf.ConnectTimeout)
	}
	if got := hc.GetTimeout(); got != 7*time.Second {
		t.Errorf("attempt timeout %v, want 7s", got)
	}
}
