//go:build wasip1

package guest

import (
	"unsafe"

	"github.com/flytesecrets/flyte/abi"
)

// These imports are referenced only from HostHTTP's methods and TimeLeft,
// so the linker keeps them (and the module needs them from its host) only
// in a plugin that uses them.

//go:wasmimport flyte_v1 time_left
func hostTimeLeft() uint32

//go:wasmimport flyte_http_v1 request
func httpRequest(req unsafe.Pointer, n uint32) uint32

//go:wasmimport flyte_http_v1 credential
func httpCredential(name unsafe.Pointer, n uint32) uint32

func timeLeft() uint32 { return hostTimeLeft() }

func hostNet() HTTP { return hostHTTP{} }

type hostHTTP struct{}

func (hostHTTP) Do(req *abi.HTTPRequest) (*abi.HTTPResponse, error) {
	in := abi.Marshal(req)
	if err := capErr(httpRequest(ptr(in), uint32(len(in)))); err != nil {
		return nil, err
	}
	resp := new(abi.HTTPResponse)
	if err := abi.Unmarshal(result(), resp); err != nil {
		return nil, abi.Errorf(abi.Internal, "host sent a malformed http response")
	}
	return resp, nil
}

func (hostHTTP) Credential(name string) ([]byte, error) {
	if err := capErr(httpCredential(strptr(name), uint32(len(name)))); err != nil {
		return nil, err
	}
	return result(), nil
}
