//go:build !wasip1

package guest

import (
	"errors"
	"testing"

	"github.com/flytesecrets/flyte/abi"
)

// The kit links natively (go doc, tests, benchmark baselines), and says
// plainly that the host's directory and network are not there.
func TestHostFSNative(t *testing.T) {
	_, err := HostFS().ReadFile("x")
	var se *abi.StatusError
	if !errors.As(err, &se) || se.Code != abi.Unavailable {
		t.Fatalf("ReadFile = %v; want an Unavailable status error", err)
	}
	if _, err := HostHTTP().Do(&abi.HTTPRequest{Method: "GET", URL: "https://h:1/"}); abi.StatusOf(err) != abi.Unavailable {
		t.Fatalf("HostHTTP().Do = %v; want an Unavailable status error", err)
	}
	if _, err := HostHTTP().Credential("c"); abi.StatusOf(err) != abi.Unavailable {
		t.Fatalf("HostHTTP().Credential = %v; want an Unavailable status error", err)
	}
	if TimeLeft() != 0 {
		t.Error("TimeLeft() != 0 outside a wasip1 build")
	}
	if Config() != nil {
		t.Error("Config() != nil outside a wasip1 build")
	}
	Log(LevelInfo, "discarded")
}
