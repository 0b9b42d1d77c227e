//go:build !wasip1

package guest

import (
	"errors"
	"testing"

	"github.com/flytesecrets/flyte/abi"
)

// The kit links natively (go doc, tests, benchmark baselines), and says
// plainly that the host's directory is not there.
func TestHostFSNative(t *testing.T) {
	_, err := HostFS().ReadFile("x")
	var se *abi.StatusError
	if !errors.As(err, &se) || se.Code != abi.Unavailable {
		t.Fatalf("ReadFile = %v; want an Unavailable status error", err)
	}
	if Config() != nil {
		t.Error("Config() != nil outside a wasip1 build")
	}
	Log(LevelInfo, "discarded")
}
