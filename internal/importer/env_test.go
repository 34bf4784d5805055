package importer_test

import (
	"testing"

	"github.com/thingpress/thingpress/internal/importer"

	"github.com/thingpress/thingpress/internal/testkit/importtest"
	"github.com/thingpress/thingpress/internal/testkit/iotproxy"
	"github.com/thingpress/thingpress/internal/testkit/iottest"
)

const (
	testPolicy = iottest.Policy
	testType   = iottest.ThingType
	testGroup  = iottest.Group
)

type env = iottest.Env

func newEnv(t testing.TB, cfg iotproxy.Config) *env { return iottest.New(t, cfg) }

// The importer and fleet helpers of internal/testkit/importtest.
var (
	target         = importtest.Target
	fastQuotas     = importtest.FastQuotas
	newImporter    = importtest.NewImporter
	newFleet       = importtest.NewFleet
	run            = importtest.Run
	assertComplete = importtest.AssertComplete
	statePath      = importtest.StatePath
)

// assertResults reports every result that wrong finds wrong, with what
// was wanted.
func assertResults(t *testing.T, results map[string]importer.Result, want string, wrong func(importer.Result) bool) {
	t.Helper()
	for chip, r := range results {
		if wrong(r) {
			t.Errorf("device %s: %+v, want %s", chip, r, want)
		}
	}
}
