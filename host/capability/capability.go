// Package capability is the one place where a capability of the plugin ABI
// is defined (abi/SPEC.md, section 2): its import module, what its grant
// looks like in flyte.toml, how a grant is checked, and its host functions.
// Adding a capability is one file that calls Register, plus its tests;
// host/plugin binds every registered capability, and host/core parses and
// checks grants through ByModule or ByName.
//
// A capability's life in a host:
//
//   - Parse reads the grant's table ([plugins.NAME.grant.<Name>]) into a
//     Grant, which Check holds against what flyte protects;
//   - at load, Open turns the grant into an Instance for that plugin;
//   - every call of the plugin Begins a Session of each granted
//     capability, which the host functions (Funcs) work on, and which Ends
//     when the call returns;
//   - when the call fails, a Session's Failure is the host's own reason
//     (a lock another process holds, an origin not granted), shown instead
//     of whatever the guest made of it.
package capability

import (
	"context"
	"sort"
	"sync"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/tetratelabs/wazero/api"
)

// Capability defines one capability.
type Capability struct {
	// Name is the word grants use: [plugins.NAME.grant.<Name>].
	Name string
	// Module is the import module of its host functions (flyte_fs_v1).
	Module string
	// Minor is the ABI minor version that brought it.
	Minor uint32
	// Funcs are its host functions. Each returns one i32 status; data for
	// the guest goes to the session's Result (read with result_read).
	Funcs []Func
	// Parse reads the grant's table for the named plugin.
	Parse func(plugin string, t map[string]any) (Grant, error)
	// Example returns the flyte.toml lines that would grant it to the named
	// plugin, for the hint of a plugin refused for lack of it.
	Example func(plugin string) []string
}

// Func is a host function of a capability.
type Func struct {
	Name            string
	Params, Results []api.ValueType
	// Call runs the function. s is never nil: when the capability is not
	// granted to the calling plugin, the host answers CAPABILITY_DENIED
	// itself.
	Call func(ctx context.Context, s Session, m api.Module, stack []uint64)
}

// Grant is a parsed grant.
type Grant interface {
	// Check refuses a grant that reaches what flyte protects.
	Check(protected []grant.Protected) error
	// Open prepares the grant for one loaded plugin.
	Open() (Instance, error)
}

// Instance is a grant opened for one plugin.
type Instance interface {
	// Begin starts one call of the plugin; ctx is the call's, and out is
	// where the capability's functions leave data for result_read.
	Begin(ctx context.Context, out *Result) Session
	// Close releases what Open took.
	Close() error
}

// Session is one call's use of a capability.
type Session interface {
	// End releases what the call took (locks).
	End()
	// Failure is the host's reason for a call that failed with status
	// guest, if it has one: shown instead of the guest's own error.
	Failure(guest abi.Status) (msg string, ok bool)
}

// Causer is a Session whose Failure is also a typed error callers test
// for (fs's *BusyError); the host returns Cause instead of a plain message.
type Causer interface {
	Cause() error
}

// Revealer is an Instance holding values no message may show (http's
// credentials): a guest's text that holds one is withheld.
type Revealer interface {
	Reveals(b []byte) bool
}

// Result is what result_read returns to the guest after a capability call.
type Result struct{ Data []byte }

// Reply sets the result of a call and returns its status: on success the
// data, on error an abi.ErrorMessage with the error's text.
func (r *Result) Reply(data []byte, err error) uint64 {
	if err != nil {
		r.Data = abi.Marshal(&abi.ErrorMessage{Message: err.Error()})
		return uint64(abi.StatusOf(err))
	}
	r.Data = data
	return uint64(abi.OK)
}

var (
	mu       sync.RWMutex
	registry = map[string]*Capability{} // by module
)

// Register adds a capability. It panics on a second capability with the
// same name or module, one that abi.Capabilities does not list (the ABI
// table is what messages name), or a function that does not return one
// i32 status.
func Register(c *Capability) {
	mu.Lock()
	defer mu.Unlock()
	known := false
	for _, i := range abi.Capabilities {
		if i.Name == c.Name && i.Module == c.Module && i.Minor == c.Minor {
			known = true
		}
	}
	if !known {
		panic("capability: " + c.Name + " (" + c.Module + ") is not in abi.Capabilities")
	}
	for _, f := range c.Funcs {
		if len(f.Results) != 1 || f.Results[0] != api.ValueTypeI32 {
			panic("capability: " + c.Module + "." + f.Name + " must return one i32 status")
		}
	}
	for _, o := range registry {
		if o.Name == c.Name || o.Module == c.Module {
			panic("capability: " + c.Name + " registered twice")
		}
	}
	registry[c.Module] = c
}

// ByModule returns the capability whose import module is m.
func ByModule(m string) (*Capability, bool) {
	mu.RLock()
	defer mu.RUnlock()
	c, ok := registry[m]
	return c, ok
}

// ByName returns the capability granted as [plugins.N.grant.<name>].
func ByName(name string) (*Capability, bool) {
	mu.RLock()
	defer mu.RUnlock()
	for _, c := range registry {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// All returns the registered capabilities, by name.
func All() []*Capability {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]*Capability, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Read copies n bytes of guest memory at ptr; ok is false when the range
// is out of bounds.
func Read(m api.Module, ptr, n uint32) ([]byte, bool) {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return nil, false
	}
	// Read returns a view that a later memory.grow invalidates.
	return append([]byte(nil), b...), true
}

// MustRead is Read for arguments the guest must get right: out of bounds
// traps the guest (what panics in a host function do).
func MustRead(m api.Module, ptr, n uint32, what string) []byte {
	b, ok := Read(m, ptr, n)
	if !ok {
		panic("flyte: " + what + " outside guest memory")
	}
	return b
}

// Path reads a path argument: at most abi.MaxPath bytes.
func Path(m api.Module, ptr, n uint32) (string, error) {
	if n > abi.MaxPath {
		return "", abi.Errorf(abi.InvalidArgument, "path too long")
	}
	return string(MustRead(m, ptr, n, "path")), nil
}
