//go:build wasip1

package guest

import (
	"runtime"
	"unsafe"

	"github.com/flytesecrets/flyte/abi"
)

//go:wasmimport flyte_v1 input_read
func inputRead(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport flyte_v1 output_write
func outputWrite(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport flyte_v1 result_read
func resultRead(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport flyte_v1 config_read
func configRead(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport flyte_v1 log
func hostLog(level uint32, ptr unsafe.Pointer, n uint32)

var handler Handler

func serve(h Handler) { handler = h }

// answer holds the answer of the call under way: handle hands it to the host,
// which copies it, before the call returns, and an instance serves one
// call at a time. Kept between calls, it is grown once, not allocated
// per call: a page of a listing is megabytes, and in a Go guest that
// garbage is what makes its collector run (the collector walks every
// object, a store's index of 100,000 entries included, for each cycle).
var answer []byte

func marshalOut(m abi.Message) []byte {
	answer = abi.AppendMarshal(answer[:0], m)
	return answer
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func strptr(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

//lint:ignore U1000 called by the host through go:wasmexport
//go:wasmexport flyte_abi_v1
func abiV1() {}

//lint:ignore U1000 called by the host through go:wasmexport
//go:wasmexport flyte_describe
func describe() uint32 {
	if handler == nil {
		return uint32(abi.Unimplemented)
	}
	out := abi.Marshal(handler.Describe())
	return outputWrite(ptr(out), uint32(len(out)))
}

//lint:ignore U1000 called by the host through go:wasmexport
//go:wasmexport flyte_handle
func handle(op, inLen uint32) uint32 {
	// Yield after every call: a Go guest's collector only makes progress
	// when the guest yields, and without it memory grows without bound.
	defer runtime.Gosched()
	if handler == nil {
		return uint32(abi.Unimplemented)
	}
	in := make([]byte, inLen)
	if n := inputRead(ptr(in), inLen); n != inLen {
		return uint32(abi.Internal)
	}
	st, out := Dispatch(handler, abi.Op(op), in)
	if len(out) > 0 {
		if ws := outputWrite(ptr(out), uint32(len(out))); ws != 0 {
			return ws
		}
	}
	return uint32(st)
}

// result fetches the data the last capability call left in the host's
// result slot.
func result() []byte {
	n := resultRead(nil, 0)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	resultRead(ptr(b), n)
	return b
}

// capErr turns a capability call's status into an error carrying the
// host's message.
func capErr(st uint32) error {
	if st == 0 {
		return nil
	}
	var m abi.ErrorMessage
	_ = abi.Unmarshal(result(), &m)
	return &abi.StatusError{Code: abi.Status(st), Message: m.Message}
}

func config() []byte {
	n := configRead(nil, 0)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	configRead(ptr(b), n)
	return b
}

func hostLogString(level uint32, msg string) { hostLog(level, strptr(msg), uint32(len(msg))) }
