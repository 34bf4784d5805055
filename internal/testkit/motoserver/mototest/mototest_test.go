package mototest_test

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

var firstURL string

func things(t *testing.T, url string) int {
	t.Helper()
	out, err := iot.NewFromConfig(mototest.AWSConfig(t, url)).ListThings(t.Context(), &iot.ListThingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Things)
}

// TestSharedFirst leaves a Thing in the shared server for TestSharedSecond,
// which must find the same server empty; a second server asked for in the
// same test is another one.
func TestSharedFirst(t *testing.T) {
	s := mototest.StartT(t)
	firstURL = s.URL
	c := iot.NewFromConfig(mototest.AWSConfig(t, s.URL))
	if _, err := c.CreateThing(t.Context(), &iot.CreateThingInput{ThingName: aws.String("left-behind")}); err != nil {
		t.Fatal(err)
	}
	if other := mototest.StartT(t); other.URL == s.URL || things(t, other.URL) != 0 {
		t.Errorf("a second server in one test is %s, the shared one %s", other.URL, s.URL)
	}
}

func TestSharedSecond(t *testing.T) {
	if firstURL == "" {
		t.Skip("runs after TestSharedFirst")
	}
	s := mototest.StartT(t)
	if s.URL != firstURL {
		t.Errorf("server %s, want the shared %s", s.URL, firstURL)
	}
	if n := things(t, s.URL); n != 0 {
		t.Errorf("%d things left from the test before, want a reset server", n)
	}
}
