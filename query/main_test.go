package query

import (
	"testing"

	"go.uber.org/goleak"
)

// Run's readers are goroutines; none may outlive it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
