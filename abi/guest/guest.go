// Package guest is the kit a plugin author imports to write a flyte store or
// injector in plain Go, compiled with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugin.wasm .
//
// A plugin is a main package whose init function registers its
// implementation; main itself never runs in a reactor module:
//
//	func init() { guest.ServeStore(info, mystore.New(guest.HostFS())) }
//	func main() {}
//
// The kit exports the ABI v1 entry points (see abi/SPEC.md), decodes each
// request, calls the implementation, encodes the answer, and yields to the
// Go scheduler after every call so that the guest's garbage collector keeps
// up. Errors become status codes through abi.StatusOf: return an
// *abi.StatusError (abi.Errorf) to choose the code; anything else is
// reported as Internal.
//
// What a plugin can reach is what the user granted it: HostFS (capability
// "fs", a directory) and HostHTTP (capability "http", since ABI 1.2: the
// origins of the grant). List the ones it uses in Info.Capabilities. An
// injector gets no capability and never sees a value; implementing
// Renderer as well lets it render whole files or variables from several
// secrets. TimeLeft tells a plugin how long its call may still run.
//
// The dispatch code is portable, so the same plugin code can be linked
// natively (tests, benchmark baselines, Dispatch in the examples); the wasm
// glue lives in files built only for wasip1. plugins/examples in the flyte
// repository holds complete plugins with READMEs: a template injector, a
// read-only directory store, and an injector written in C.
package guest

import "github.com/flytesecrets/flyte/abi"

// Store is what a secret-store backend implements. Every method receives
// host-validated names; sealed values are opaque bytes.
type Store interface {
	// Create stores a new record with Version 1 and returns it; it fails
	// with abi.AlreadyExists when the scope already holds the key.
	Create(r *abi.Record) (*abi.Record, error)
	// Update replaces the value, kind and Updated time of an existing
	// record, keeps its Created time, bumps its version and returns it. A
	// non-zero expected version that differs from the stored one fails
	// with abi.Conflict; a missing record with abi.NotFound.
	Update(r *abi.Record, expected uint64) (*abi.Record, error)
	// Get returns one record or abi.NotFound.
	Get(s abi.Scope, key string) (*abi.Record, error)
	// List returns one page of the records matching the request, ordered
	// by project, domain and key. Unreadable records go to Damaged.
	List(req *abi.ListRequest) (*abi.ListResponse, error)
	// Delete removes one record, with the same version rule as Update.
	Delete(s abi.Scope, key string, expected uint64) error
	// MetaGet returns a store-wide value or abi.NotFound.
	MetaGet(name string) ([]byte, error)
	// MetaPut stores a store-wide value and returns what is now stored;
	// with createOnly an existing value is kept and returned.
	MetaPut(name string, value []byte, createOnly bool) ([]byte, error)
}

// Fenced is what a Store also implements to speak ABI 1.3
// (abi.MinorFence): writes fenced by a meta value, compare-and-set and
// deletion of meta values, and (in its List) listings of every
// organization, abi.ListRequest.AllOrgs. A Store without it declares minor 2, so the host
// sends it none of these; with it, the store must honour every guard, since
// the host relies on them to keep values from being sealed under a retired
// data key.
//
// The kit calls CreateIf and UpdateIf, not Create and Update, for a
// guarded write: a Store that embeds a Fenced one (as tests embed the
// filestore) and overrides Create or Update must override CreateIf or
// UpdateIf too, or its override is skipped for every write the host
// guards.
type Fenced interface {
	// CreateIf and UpdateIf are Create and Update applied only while the
	// meta value g.Name holds exactly g.Value, checked atomically with the
	// write: abi.Conflict otherwise, also when it is absent.
	CreateIf(r *abi.Record, g abi.Guard) (*abi.Record, error)
	UpdateIf(r *abi.Record, expected uint64, g abi.Guard) (*abi.Record, error)
	// MetaSwap replaces a meta value only while it holds exactly expected
	// (abi.NotFound when absent, abi.Conflict when different) and returns
	// what is now stored.
	MetaSwap(name string, value, expected []byte) ([]byte, error)
	// MetaDelete removes a meta value (abi.NotFound when absent); with
	// hasExpected, only while it holds exactly expected (abi.Conflict).
	MetaDelete(name string, expected []byte, hasExpected bool) error
}

// Compacter is what a Fenced store that keeps a history of earlier values
// (as etcd keeps revisions) implements, so that `flyte store recipients
// remove` can drop values sealed under a retired key. Without it the kit
// answers abi.OpCompact with abi.Unimplemented: there is no history.
type Compacter interface {
	Compact() error
}

// FS is the directory capability as a plugin sees it (HostFS in a wasm
// guest). Paths are slash-separated and relative to the granted directory.
// Every write is atomic (temporary file, fsync, rename) and durable when it
// returns; locks are exclusive, span processes, and are released when the
// current call returns.
type FS interface {
	ReadFile(path string) ([]byte, error)
	// WriteFile replaces path, or with exclusive fails with
	// abi.AlreadyExists when path exists. Parent directories are created.
	WriteFile(path string, data []byte, exclusive bool) error
	// Remove deletes a file or an empty directory; abi.NotFound if absent.
	Remove(path string) error
	// ReadDir lists a directory; abi.NotFound if absent.
	ReadDir(path string) ([]abi.DirEntry, error)
	// Lock takes an exclusive lock named by path until the call returns.
	Lock(path string) error
}

// RangeFS is an FS with the calls of ABI 1.4 (abi.MinorRange), with which
// a store reads and appends to a log: HostRangeFS in a wasm guest. A
// plugin that calls HostRangeFS imports them (flyte_fs_v1.read_at,
// write_at, rename, remove_all), and so loads only on a 1.4 host.
type RangeFS interface {
	FS
	// ReadAt reads up to len(buf) bytes of path from offset off into buf
	// and returns how many: fewer only at the end of the file, none at or
	// past it. buf may be reused: nothing is allocated for the data.
	ReadAt(path string, off int64, buf []byte) (int, error)
	// WriteAt writes data at offset off and cuts the file after it. off
	// may not lie past the end, and a missing file is created only at
	// offset 0. Durable when it returns.
	WriteAt(path string, off int64, data []byte) error
	// Rename gives path the name to, replacing a file there. Durable when
	// it returns.
	Rename(path, to string) error
	// RemoveAll removes path and everything under it; an absent path is
	// no error.
	RemoveAll(path string) error
}

// Info describes a plugin to the host.
type Info struct {
	Name    string
	Version string
	Summary string
	// Capabilities names the capabilities the plugin uses ("fs" for
	// HostFS, "http" for HostHTTP; see abi.Capabilities). They go into
	// Describe, which `flyte plugin inspect` shows; what the host grants
	// and binds follows the module's imports, so list exactly what the
	// plugin calls.
	Capabilities []string
}

var (
	storeOps       = []abi.Op{abi.OpCreate, abi.OpUpdate, abi.OpGet, abi.OpList, abi.OpDelete, abi.OpMetaGet, abi.OpMetaPut}
	fencedStoreOps = append(storeOps[:len(storeOps):len(storeOps)], abi.OpMetaDelete, abi.OpCompact)
)

// Handler serves one plugin: Describe says what it is, Handle serves one
// operation.
type Handler interface {
	Describe() *abi.Describe
	Handle(op abi.Op, in []byte) ([]byte, error)
}

// StoreHandler adapts a Store to a Handler.
func StoreHandler(info Info, s Store) Handler { return storeHandler{info, s} }

type storeHandler struct {
	info  Info
	store Store
}

// describe is what a plugin of this kind with these ops says of itself.
func (i Info) describe(kind abi.PluginKind, ops []abi.Op) *abi.Describe {
	return &abi.Describe{
		Minor: abi.Minor, Kind: kind, Name: i.Name, Version: i.Version, Summary: i.Summary,
		Ops: ops, Capabilities: i.Capabilities,
	}
}

// Describe declares minor 3 and its ops for a Fenced store; minor 2 for
// any other, which the host then never sends a guard.
func (h storeHandler) Describe() *abi.Describe {
	if _, ok := h.store.(Fenced); ok {
		d := h.info.describe(abi.KindStore, fencedStoreOps)
		if _, ok := h.store.(Compacter); !ok {
			d.Ops = d.Ops[:len(d.Ops)-1]
		}
		return d
	}
	d := h.info.describe(abi.KindStore, storeOps)
	d.Minor = abi.MinorFence - 1
	return d
}

func (h storeHandler) Handle(op abi.Op, in []byte) ([]byte, error) {
	bad := func(err error) error { return abi.Errorf(abi.InvalidArgument, "bad request: ", err.Error()) }
	switch op {
	case abi.OpCreate, abi.OpUpdate:
		var req abi.WriteRequest
		if err := abi.Unmarshal(in, &req); err != nil {
			return nil, bad(err)
		}
		var r *abi.Record
		var err error
		f, fenced := h.store.(Fenced)
		switch {
		case req.Guard != nil && !fenced:
			return nil, abi.Errorf(abi.Unimplemented, "this store does not support guarded writes (ABI 1.3)")
		case req.Guard != nil && op == abi.OpCreate:
			r, err = f.CreateIf(&req.Record, *req.Guard)
		case req.Guard != nil:
			r, err = f.UpdateIf(&req.Record, req.ExpectedVersion, *req.Guard)
		case op == abi.OpCreate:
			r, err = h.store.Create(&req.Record)
		default:
			r, err = h.store.Update(&req.Record, req.ExpectedVersion)
		}
		if err != nil {
			return nil, err
		}
		return marshalOut(r), nil
	case abi.OpGet, abi.OpDelete:
		var req abi.KeyRequest
		if err := abi.Unmarshal(in, &req); err != nil {
			return nil, bad(err)
		}
		if op == abi.OpDelete {
			return nil, h.store.Delete(req.Scope, req.Key, req.ExpectedVersion)
		}
		r, err := h.store.Get(req.Scope, req.Key)
		if err != nil {
			return nil, err
		}
		return marshalOut(r), nil
	case abi.OpList:
		var req abi.ListRequest
		if err := abi.Unmarshal(in, &req); err != nil {
			return nil, bad(err)
		}
		resp, err := h.store.List(&req)
		if err != nil {
			return nil, err
		}
		return marshalOut(resp), nil
	case abi.OpMetaGet, abi.OpMetaPut, abi.OpMetaDelete:
		var req abi.MetaRequest
		if err := abi.Unmarshal(in, &req); err != nil {
			return nil, bad(err)
		}
		f, fenced := h.store.(Fenced)
		if !fenced && (req.HasExpected || op == abi.OpMetaDelete) {
			return nil, abi.Errorf(abi.Unimplemented, "this store does not support compare-and-set or deletion of meta values (ABI 1.3)")
		}
		var v []byte
		var err error
		switch {
		case op == abi.OpMetaGet:
			v, err = h.store.MetaGet(req.Name)
		case op == abi.OpMetaDelete:
			return nil, f.MetaDelete(req.Name, req.Expected, req.HasExpected)
		case req.HasExpected && req.CreateOnly:
			return nil, abi.Errorf(abi.InvalidArgument, "bad request: create_only and expected together")
		case req.HasExpected:
			v, err = f.MetaSwap(req.Name, req.Value, req.Expected)
		default:
			v, err = h.store.MetaPut(req.Name, req.Value, req.CreateOnly)
		}
		if err != nil {
			return nil, err
		}
		return marshalOut(&abi.MetaResponse{Value: v}), nil
	case abi.OpCompact:
		if c, ok := h.store.(Compacter); ok {
			if _, fenced := h.store.(Fenced); fenced {
				return nil, c.Compact()
			}
		}
	}
	return nil, abi.Errorf(abi.Unimplemented, "unknown operation")
}

// Dispatch runs one call of h and returns its status and output, with the
// error message encoded as an abi.ErrorMessage for a non-OK status. It is
// what the wasm export calls, and what a native link of the same plugin
// calls in place of the export. In a wasip1 build the output is valid
// until the next call (one buffer is kept for every answer); a native
// link gets an output of its own each call.
func Dispatch(h Handler, op abi.Op, in []byte) (abi.Status, []byte) {
	out, err := h.Handle(op, in)
	if err != nil {
		st := abi.StatusOf(err)
		if st == abi.OK {
			st = abi.Internal
		}
		return st, marshalOut(&abi.ErrorMessage{Message: err.Error()})
	}
	return abi.OK, out
}

// Injector is what an injection strategy implements: a pure function from
// the task and the secrets routed to it to a plan. It gets no capabilities
// and no secret values.
type Injector interface {
	Plan(req *abi.PlanRequest) (*abi.Plan, error)
}

// Renderer is what an injector also implements to render outputs (since
// ABI 1.2): files or variables the user declared in flyte.toml
// ([[environments.render]]), each built from several secrets. For each
// OutputRequest it answers one abi.Output with the same ID: a template of
// literal text, references to the secrets the output may use (its Refs) and
// host-applied transforms. The host renders it, so the injector never sees a
// value, and the file name or variable and the mode stay the user's
// (abi/SPEC.md, section 7.1). An injector that implements Renderer declares
// op abi.OpRender.
type Renderer interface {
	Render(req *abi.RenderRequest) (*abi.RenderPlan, error)
}

// InjectorHandler adapts an Injector to a Handler. When inj is also a
// Renderer, the handler serves abi.OpRender too.
func InjectorHandler(info Info, inj Injector) Handler { return injectorHandler{info, inj} }

type injectorHandler struct {
	info Info
	inj  Injector
}

func (h injectorHandler) Describe() *abi.Describe {
	ops := []abi.Op{abi.OpPlan}
	if _, ok := h.inj.(Renderer); ok {
		ops = append(ops, abi.OpRender)
	}
	return h.info.describe(abi.KindInjector, ops)
}

func (h injectorHandler) Handle(op abi.Op, in []byte) ([]byte, error) {
	bad := func(err error) error { return abi.Errorf(abi.InvalidArgument, "bad request: ", err.Error()) }
	switch op {
	case abi.OpPlan:
		var req abi.PlanRequest
		if err := abi.Unmarshal(in, &req); err != nil {
			return nil, bad(err)
		}
		plan, err := h.inj.Plan(&req)
		if err != nil {
			return nil, err
		}
		return marshalOut(plan), nil
	case abi.OpRender:
		r, ok := h.inj.(Renderer)
		if !ok {
			break
		}
		var req abi.RenderRequest
		if err := abi.Unmarshal(in, &req); err != nil {
			return nil, bad(err)
		}
		plan, err := r.Render(&req)
		if err != nil {
			return nil, err
		}
		return marshalOut(plan), nil
	}
	return nil, abi.Errorf(abi.Unimplemented, "unknown operation")
}
