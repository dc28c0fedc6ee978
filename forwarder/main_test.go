package forwarder

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// goroutine the forwarder starts must end with Run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
