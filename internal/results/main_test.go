package results_test

import (
	"os"
	"testing"

	"github.com/thingpress/thingpress/internal/testkit/motoserver/mototest"
)

// TestMain gives the tests one moto server, reset for each.
func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }
