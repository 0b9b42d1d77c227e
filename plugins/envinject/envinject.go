// Package envinject is the built-in env injector: each secret routed to it
// becomes the environment variable it was requested as. It is a pure
// function with no capabilities; the host validates and applies its plan.
package envinject

import (
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// Info describes the plugin.
var Info = guest.Info{Name: "envinject", Version: "1.0.0", Summary: "secrets as environment variables"}

// Injector implements guest.Injector.
type Injector struct{}

// Plan implements guest.Injector.
func (Injector) Plan(req *abi.PlanRequest) (*abi.Plan, error) {
	plan := new(abi.Plan)
	for _, s := range req.Secrets {
		if s.AsEnvVar == "" {
			return nil, abi.Errorf(abi.InvalidArgument, "secret ", s.Key, " was not requested as an environment variable")
		}
		plan.Env = append(plan.Env, abi.EnvEntry{Name: s.AsEnvVar, Ref: s.Ref})
	}
	return plan, nil
}
