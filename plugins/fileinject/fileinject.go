// Package fileinject is the built-in file injector: each secret routed to it
// becomes the file /etc/flyte/secrets/KEY, mode 0400. It is a pure function
// with no capabilities; the host validates its plan and writes the files on
// a tmpfs private to the task.
package fileinject

import (
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// Info describes the plugin.
var Info = guest.Info{Name: "fileinject", Version: "1.0.0", Summary: "secrets as files under /etc/flyte/secrets"}

// Mode is the mode of each file: readable by the task's user only.
const Mode = 0o400

// Injector implements guest.Injector.
type Injector struct{}

// Plan implements guest.Injector.
func (Injector) Plan(req *abi.PlanRequest) (*abi.Plan, error) {
	plan := new(abi.Plan)
	for _, s := range req.Secrets {
		if s.Mount == "" {
			return nil, abi.Errorf(abi.InvalidArgument, "secret ", s.Key, " was not requested as a file")
		}
		plan.Files = append(plan.Files, abi.FileEntry{Path: s.Mount + "/" + s.Key, Mode: Mode, Ref: s.Ref})
	}
	return plan, nil
}
