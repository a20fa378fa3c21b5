package hub_test

import (
	"os"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestMain lets this test binary serve as a hub of its own (hubtest.StartProcess), for tests
// that kill a hub as a crash would.
func TestMain(m *testing.M) {
	hubtest.ServeIfChild()
	os.Exit(m.Run())
}
