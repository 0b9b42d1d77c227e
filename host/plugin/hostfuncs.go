package plugin

import (
	"context"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// callState is what the host functions of one call work on. It travels in
// the call's context, so host modules are shared by every instance of a
// runtime and no instance can reach another call's data.
type callState struct {
	plugin   *Plugin
	in       []byte
	out      []byte
	overflow bool
	// result is the data left by the last capability call.
	result capability.Result
	// pastDeadline: a host function found the call past its deadline and
	// ended it (an unchecked module's, watchdog.go).
	pastDeadline bool
	// sessions are the granted capabilities during this call, by name.
	sessions map[string]capability.Session
}

type stateKey struct{}

func stateOf(ctx context.Context) *callState {
	st, _ := ctx.Value(stateKey{}).(*callState)
	return st
}

// begin starts a session of every granted capability for the call.
func (st *callState) begin(ctx context.Context) {
	for name, inst := range st.plugin.grants {
		if st.sessions == nil {
			st.sessions = make(map[string]capability.Session, len(st.plugin.grants))
		}
		st.sessions[name] = inst.Begin(ctx, &st.result)
	}
}

// release drops what the call's sessions took (locks).
func (st *callState) release() {
	for _, s := range st.sessions {
		s.End()
	}
}

const i32 = api.ValueTypeI32

// copyOut implements the (buf, limit) -> length convention: the data is
// written only when it fits, so limit 0 asks for the length.
func copyOut(m api.Module, data []byte, buf, limit uint32) uint32 {
	if len(data) > 0 && uint32(len(data)) <= limit {
		if !m.Memory().Write(buf, data) {
			panic("flyte: guest passed a buffer outside its memory")
		}
	}
	return uint32(len(data))
}

// instantiateHostModules binds flyte_v1 and the module of every capability
// this host has, granted or not: an ungranted one answers CAPABILITY_DENIED
// (a plugin loaded only to be described may import it).
func (h *Host) instantiateHostModules(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.HostModule)
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		g := func(ctx context.Context, m api.Module, s []uint64) {
			checkDeadline(ctx)
			f(ctx, m, s)
		}
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(g), params, results).Export(name)
	}
	fn("input_read", func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = uint64(copyOut(m, stateOf(ctx).in, uint32(s[0]), uint32(s[1])))
	}, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn("output_write", func(ctx context.Context, m api.Module, s []uint64) {
		st := stateOf(ctx)
		ptr, n := uint32(s[0]), uint32(s[1])
		if len(st.out)+int(n) > abi.MaxMessage {
			st.overflow = true
			s[0] = uint64(abi.TooLarge)
			return
		}
		st.out = append(st.out, capability.MustRead(m, ptr, n, "output")...)
		s[0] = uint64(abi.OK)
	}, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn("result_read", func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = uint64(copyOut(m, stateOf(ctx).result.Data, uint32(s[0]), uint32(s[1])))
	}, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn("config_read", func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = uint64(copyOut(m, stateOf(ctx).plugin.Spec.Config, uint32(s[0]), uint32(s[1])))
	}, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn("log", func(ctx context.Context, m api.Module, s []uint64) {
		st := stateOf(ctx)
		w := st.plugin.host.opts.Log
		if w == nil {
			return
		}
		b, ok := capability.Read(m, uint32(s[1]), min(uint32(s[2]), 1024))
		if !ok {
			return
		}
		_, _ = w.Write([]byte("flyte: plugin " + st.plugin.Spec.Name + ": " + st.plugin.guestText(string(b)) + "\n"))
	}, []api.ValueType{i32, i32, i32}, nil)
	// time_left (1.2): the guest has no real clock; this is how long its
	// call may still run, in milliseconds, 0 once past.
	fn("time_left", func(ctx context.Context, _ api.Module, s []uint64) {
		s[0] = 0
		if d, ok := ctx.Deadline(); ok {
			if left := time.Until(d); left > 0 {
				s[0] = uint64(uint32(min(left.Milliseconds(), 1<<31-1)))
			}
		}
	}, nil, []api.ValueType{i32})
	if _, err := b.Instantiate(ctx); err != nil {
		return err
	}
	for _, c := range h.capabilities() {
		cb := rt.NewHostModuleBuilder(c.Module)
		for _, f := range c.Funcs {
			cb.NewFunctionBuilder().WithGoModuleFunction(capFunc(c, f), f.Params, f.Results).Export(f.Name)
		}
		if _, err := cb.Instantiate(ctx); err != nil {
			return err
		}
	}
	return nil
}

// capFunc binds a capability's function to the calling plugin's session;
// without one (not granted, or not during a call) it answers
// CAPABILITY_DENIED.
func capFunc(c *capability.Capability, f capability.Func) api.GoModuleFunc {
	denied := abi.Marshal(&abi.ErrorMessage{Message: "capability " + c.Name + " is not granted"})
	return func(ctx context.Context, m api.Module, stack []uint64) {
		checkDeadline(ctx)
		st := stateOf(ctx)
		st.result.Data = nil
		s := st.sessions[c.Name]
		if s == nil {
			st.result.Data = denied
			stack[0] = uint64(abi.CapabilityDenied)
			return
		}
		f.Call(ctx, s, m, stack)
	}
}
