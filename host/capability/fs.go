package capability

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/tetratelabs/wazero/api"
)

// fs: one directory, through host/fsgrant (abi/SPEC.md, section 2.2).
func init() {
	Register(&Capability{
		Name:   "fs",
		Module: abi.FSModule,
		Minor:  0,
		Funcs: []Func{
			fsFunc("read", pathArgs, func(s *fsSession, _ api.Module, p string, _ []uint64) ([]byte, error) {
				return s.call.ReadFile(p)
			}),
			fsFunc("write", []api.ValueType{i32, i32, i32, i32, i32}, func(s *fsSession, m api.Module, p string, st []uint64) ([]byte, error) {
				ptr, n, flags := uint32(st[2]), uint32(st[3]), uint32(st[4])
				if n > abi.MaxMessage {
					return nil, abi.Errorf(abi.TooLarge, "write too large")
				}
				return nil, s.call.WriteFile(p, MustRead(m, ptr, n, "data"), flags&abi.FSWriteExclusive != 0)
			}),
			fsFunc("remove", pathArgs, func(s *fsSession, _ api.Module, p string, _ []uint64) ([]byte, error) {
				return nil, s.call.Remove(p)
			}),
			fsFunc("list", pathArgs, func(s *fsSession, _ api.Module, p string, _ []uint64) ([]byte, error) {
				ents, err := s.call.ReadDir(p)
				if err != nil {
					return nil, err
				}
				return abi.Marshal(&abi.DirList{Entries: ents}), nil
			}),
			fsFunc("lock", pathArgs, func(s *fsSession, _ api.Module, p string, _ []uint64) ([]byte, error) {
				return nil, s.call.Lock(p)
			}),
			// ABI 1.4 (abi.MinorRange): ranged reads and writes, a rename
			// and a recursive remove, for a store's log.
			fsFunc("read_at", []api.ValueType{i32, i32, i64, i32}, func(s *fsSession, _ api.Module, p string, st []uint64) ([]byte, error) {
				off, n := int64(st[2]), uint32(st[3])
				if n > abi.MaxMessage {
					return nil, abi.Errorf(abi.TooLarge, "read_at: limit over the message limit")
				}
				// Into the session's buffer: the result slot holds it
				// until the guest's next capability call, and the buffer
				// goes back to the pool when the call ends.
				if s.buf == nil {
					s.buf = readBufs.Get().(*[]byte)
				}
				b, err := s.call.ReadRangeInto(p, off, int(n), *s.buf)
				if cap(b) > cap(*s.buf) {
					*s.buf = b[:0]
				}
				return b, err
			}),
			fsFunc("write_at", []api.ValueType{i32, i32, i32, i32, i64}, func(s *fsSession, m api.Module, p string, st []uint64) ([]byte, error) {
				ptr, n, off := uint32(st[2]), uint32(st[3]), int64(st[4])
				if n > abi.MaxMessage {
					return nil, abi.Errorf(abi.TooLarge, "write_at: data over the message limit")
				}
				return nil, s.call.WriteAt(p, off, MustRead(m, ptr, n, "data"))
			}),
			fsFunc("rename", []api.ValueType{i32, i32, i32, i32}, func(s *fsSession, m api.Module, p string, st []uint64) ([]byte, error) {
				to, err := Path(m, uint32(st[2]), uint32(st[3]))
				if err != nil {
					return nil, err
				}
				return nil, s.call.Rename(p, to)
			}),
			fsFunc("remove_all", pathArgs, func(s *fsSession, _ api.Module, p string, _ []uint64) ([]byte, error) {
				return nil, s.call.RemoveAll(p)
			}),
		},
		Parse: parseFS,
		Example: func(plugin string) []string {
			return []string{"[plugins." + plugin + ".grant.fs]", `path = "/a/directory/for/` + plugin + `"`}
		},
	})
}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

var pathArgs = []api.ValueType{i32, i32}

// fsFunc makes a host function whose first two arguments are a path.
func fsFunc(name string, params []api.ValueType, f func(s *fsSession, m api.Module, p string, stack []uint64) ([]byte, error)) Func {
	return Func{Name: name, Params: params, Results: []api.ValueType{i32},
		Call: func(_ context.Context, s Session, m api.Module, stack []uint64) {
			fs := s.(*fsSession)
			p, err := Path(m, uint32(stack[0]), uint32(stack[1]))
			var data []byte
			if err == nil {
				data, err = f(fs, m, p, stack)
			}
			stack[0] = fs.out.Reply(data, err)
		}}
}

// FSGrant grants the directory dir as the store's: the setting
// store.path, checked as the store plugin's.
func FSGrant(dir string) Grant {
	return &fsGrant{dir: dir, setting: "store.path", grantee: "the store plugin"}
}

// parseFS reads [plugins.NAME.grant.fs]: path = "/a/directory" (or
// "~/..." under $HOME). Errors name the setting, never a value.
func parseFS(plugin string, t map[string]any) (Grant, error) {
	table := "plugins." + plugin + ".grant.fs"
	setting := strconv.Quote(table + ".path")
	g := &fsGrant{setting: table + ".path", grantee: "plugin " + plugin}
	for k := range t {
		if k != "path" {
			msg := table + " has a setting flyte does not know"
			if isWord(k) {
				msg = "unknown setting " + strconv.Quote(table+"."+k)
			}
			return nil, &hintError{msg: msg, hint: "the fs grant has one setting: path, the directory"}
		}
	}
	v, ok := t["path"]
	if !ok {
		return nil, errors.New(table + " needs path, the directory to grant")
	}
	s, ok := v.(string)
	switch {
	case !ok:
		return nil, errors.New("setting " + setting + " must be a string")
	case s == "":
		return nil, errors.New("setting " + setting + " is empty")
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return nil, errors.New("setting " + setting + " holds a control character; it must be a directory's path")
	case s == "~" || strings.HasPrefix(s, "~/"):
		home := os.Getenv("HOME")
		if !filepath.IsAbs(home) {
			return nil, errors.New("setting " + setting + " starts with ~, but HOME is not set to an absolute path")
		}
		s = filepath.Join(home, s[1:])
	case !filepath.IsAbs(s):
		return nil, errors.New("setting " + setting + " must be an absolute path or start with ~/")
	}
	g.dir = filepath.Clean(s)
	return g, nil
}

// isWord reports whether s is short and made only of lower-case letters,
// digits, '_' and '-': a mistyped name, safe to repeat.
func isWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-')
	})
}

// hintError is an error with a line of advice, which cmd/flyte prints as
// "flyte: hint: ...".
type hintError struct{ msg, hint string }

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Hint() string  { return e.hint }

type fsGrant struct{ dir, setting, grantee string }

// Dir returns the granted directory.
func (g *fsGrant) Dir() string { return g.dir }

func (g *fsGrant) Check(protected []grant.Protected) error {
	return grant.Check(g.setting, g.grantee, g.dir, protected)
}

func (g *fsGrant) Open() (Instance, error) { return &fsInstance{dir: fsgrant.New(g.dir)}, nil }

type fsInstance struct{ dir *fsgrant.Dir }

func (i *fsInstance) Begin(ctx context.Context, out *Result) Session {
	return &fsSession{call: i.dir.Begin(ctx), out: out}
}

func (i *fsInstance) Close() error { return i.dir.Close() }

type fsSession struct {
	call *fsgrant.Call
	out  *Result
	// buf is what read_at reads into, from readBufs.
	buf *[]byte
}

// readBufs are read_at's buffers, reused across calls: a listing's pages
// each read megabytes of a log, which as new slices the collector had to
// zero and sweep for every page.
var readBufs = sync.Pool{New: func() any { return new([]byte) }}

func (s *fsSession) End() {
	s.call.End()
	if s.buf != nil {
		// The call is over: nothing reads its result slot any more.
		s.out.Data = nil
		if cap(*s.buf) <= 8<<20 {
			readBufs.Put(s.buf)
		}
		s.buf = nil
	}
}

// Failure: the plugin failed after the host gave up waiting for a lock
// that another process holds: the store is busy, whatever the plugin made
// of it.
func (s *fsSession) Failure(abi.Status) (string, bool) {
	if err := s.Cause(); err != nil {
		return err.Error(), true
	}
	return "", false
}

func (s *fsSession) Cause() error {
	if busy, pid := s.call.Busy(); busy {
		return &BusyError{PID: pid}
	}
	return nil
}

// BusyError says a call failed because another process holds a lock the
// plugin needed: the store is in use, not broken.
type BusyError struct {
	Plugin string
	PID    int // the holder as the kernel reports it; 0 when unknown
}

func (e *BusyError) Error() string {
	by := "another flyte process"
	if e.PID > 0 {
		by += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return "store is busy: locked by " + by + "; try again"
}
