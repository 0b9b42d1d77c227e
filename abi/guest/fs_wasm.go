//go:build wasip1

package guest

import (
	"unsafe"

	"github.com/flytesecrets/flyte/abi"
)

//go:wasmimport flyte_fs_v1 read
func fsRead(path unsafe.Pointer, plen uint32) uint32

//go:wasmimport flyte_fs_v1 write
func fsWrite(path unsafe.Pointer, plen uint32, data unsafe.Pointer, dlen uint32, flags uint32) uint32

//go:wasmimport flyte_fs_v1 remove
func fsRemove(path unsafe.Pointer, plen uint32) uint32

//go:wasmimport flyte_fs_v1 list
func fsList(path unsafe.Pointer, plen uint32) uint32

//go:wasmimport flyte_fs_v1 lock
func fsLock(path unsafe.Pointer, plen uint32) uint32

//go:wasmimport flyte_fs_v1 read_at
func fsReadAt(path unsafe.Pointer, plen uint32, off int64, limit uint32) uint32

//go:wasmimport flyte_fs_v1 write_at
func fsWriteAt(path unsafe.Pointer, plen uint32, data unsafe.Pointer, dlen uint32, off int64) uint32

//go:wasmimport flyte_fs_v1 rename
func fsRename(path unsafe.Pointer, plen uint32, to unsafe.Pointer, tlen uint32) uint32

//go:wasmimport flyte_fs_v1 remove_all
func fsRemoveAll(path unsafe.Pointer, plen uint32) uint32

func hostDir() FS { return hostFS{} }

func hostRangeDir() RangeFS { return hostRangeFS{} }

// hostRangeFS is hostFS with the calls of ABI 1.4: a separate type, so
// that only a plugin that calls HostRangeFS imports them.
type hostRangeFS struct{ hostFS }

func (hostRangeFS) ReadAt(path string, off int64, buf []byte) (int, error) {
	if err := capErr(fsReadAt(strptr(path), uint32(len(path)), off, uint32(len(buf)))); err != nil {
		return 0, err
	}
	n := resultRead(ptr(buf), uint32(len(buf)))
	if n > uint32(len(buf)) {
		return 0, abi.Errorf(abi.Internal, "host answered read_at with more than asked")
	}
	return int(n), nil
}

func (hostRangeFS) WriteAt(path string, off int64, data []byte) error {
	return capErr(fsWriteAt(strptr(path), uint32(len(path)), ptr(data), uint32(len(data)), off))
}

func (hostRangeFS) Rename(path, to string) error {
	return capErr(fsRename(strptr(path), uint32(len(path)), strptr(to), uint32(len(to))))
}

func (hostRangeFS) RemoveAll(path string) error {
	return capErr(fsRemoveAll(strptr(path), uint32(len(path))))
}

type hostFS struct{}

func (hostFS) ReadFile(path string) ([]byte, error) {
	if err := capErr(fsRead(strptr(path), uint32(len(path)))); err != nil {
		return nil, err
	}
	return result(), nil
}

func (hostFS) WriteFile(path string, data []byte, exclusive bool) error {
	var flags uint32
	if exclusive {
		flags = abi.FSWriteExclusive
	}
	return capErr(fsWrite(strptr(path), uint32(len(path)), ptr(data), uint32(len(data)), flags))
}

func (hostFS) Remove(path string) error {
	return capErr(fsRemove(strptr(path), uint32(len(path))))
}

func (hostFS) ReadDir(path string) ([]abi.DirEntry, error) {
	if err := capErr(fsList(strptr(path), uint32(len(path)))); err != nil {
		return nil, err
	}
	var l abi.DirList
	if err := abi.Unmarshal(result(), &l); err != nil {
		return nil, abi.Errorf(abi.Internal, "host sent a malformed directory listing")
	}
	return l.Entries, nil
}

func (hostFS) Lock(path string) error {
	return capErr(fsLock(strptr(path), uint32(len(path))))
}
