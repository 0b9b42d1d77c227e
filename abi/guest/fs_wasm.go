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

func hostDir() FS { return hostFS{} }

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
