package plugin

import (
	"context"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
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
	result   []byte        // data left by the last capability call
	fs       *fsgrant.Call // the fs capability during this call, if granted
}

type stateKey struct{}

func stateOf(ctx context.Context) *callState {
	st, _ := ctx.Value(stateKey{}).(*callState)
	return st
}

// release drops the locks a call took.
func (st *callState) release() {
	if st.fs != nil {
		st.fs.End()
	}
}

const i32 = api.ValueTypeI32

// read copies guest memory; ok is false when the range is out of bounds.
func read(m api.Module, ptr, n uint32) ([]byte, bool) {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return nil, false
	}
	// Read returns a view that a later memory.grow invalidates.
	return append([]byte(nil), b...), true
}

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

func instantiateHostModules(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.HostModule)
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
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
		b, ok := read(m, ptr, n)
		if !ok {
			panic("flyte: output outside guest memory")
		}
		st.out = append(st.out, b...)
		s[0] = uint64(abi.OK)
	}, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn("result_read", func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = uint64(copyOut(m, stateOf(ctx).result, uint32(s[0]), uint32(s[1])))
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
		b, ok := read(m, uint32(s[1]), min(uint32(s[2]), 1024))
		if !ok {
			return
		}
		_, _ = w.Write([]byte("flyte: plugin " + st.plugin.Spec.Name + ": " + Sanitize(string(b)) + "\n"))
	}, []api.ValueType{i32, i32, i32}, nil)
	if _, err := b.Instantiate(ctx); err != nil {
		return err
	}

	fsb := rt.NewHostModuleBuilder(abi.FSModule)
	fsfn := func(name string, f func(m api.Module, fs *fsgrant.Call, st *callState, path string, s []uint64) error, params []api.ValueType) {
		fsb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, s []uint64) {
			st := stateOf(ctx)
			st.result = nil
			err := func() error {
				if st.fs == nil {
					return abi.Errorf(abi.CapabilityDenied, "capability fs is not granted")
				}
				if uint32(s[1]) > abi.MaxPath {
					return abi.Errorf(abi.InvalidArgument, "path too long")
				}
				p, ok := read(m, uint32(s[0]), uint32(s[1]))
				if !ok {
					panic("flyte: path outside guest memory")
				}
				return f(m, st.fs, st, string(p), s)
			}()
			s[0] = uint64(abi.StatusOf(err))
			if err != nil {
				st.result = abi.Marshal(&abi.ErrorMessage{Message: err.Error()})
			}
		}), params, []api.ValueType{i32}).Export(name)
	}
	pathArgs := []api.ValueType{i32, i32}
	fsfn("read", func(_ api.Module, fs *fsgrant.Call, st *callState, p string, _ []uint64) error {
		b, err := fs.ReadFile(p)
		st.result = b
		return err
	}, pathArgs)
	fsfn("write", func(m api.Module, fs *fsgrant.Call, _ *callState, p string, s []uint64) error {
		ptr, n, flags := uint32(s[2]), uint32(s[3]), uint32(s[4])
		if n > abi.MaxMessage {
			return abi.Errorf(abi.TooLarge, "write too large")
		}
		data, ok := read(m, ptr, n)
		if !ok {
			panic("flyte: data outside guest memory")
		}
		return fs.WriteFile(p, data, flags&abi.FSWriteExclusive != 0)
	}, []api.ValueType{i32, i32, i32, i32, i32})
	fsfn("remove", func(_ api.Module, fs *fsgrant.Call, _ *callState, p string, _ []uint64) error {
		return fs.Remove(p)
	}, pathArgs)
	fsfn("list", func(_ api.Module, fs *fsgrant.Call, st *callState, p string, _ []uint64) error {
		ents, err := fs.ReadDir(p)
		if err == nil {
			st.result = abi.Marshal(&abi.DirList{Entries: ents})
		}
		return err
	}, pathArgs)
	fsfn("lock", func(_ api.Module, fs *fsgrant.Call, _ *callState, p string, _ []uint64) error {
		return fs.Lock(p)
	}, pathArgs)
	_, err := fsb.Instantiate(ctx)
	return err
}
