package guest

import "github.com/flytesecrets/flyte/abi"

// HTTP is the http capability as a plugin sees it (HostHTTP in a wasm
// guest; since ABI 1.2). The host checks every request against the
// plugin's grant in flyte.toml: only granted origins are reachable,
// redirects are followed only when granted, plain http only to loopback,
// TLS is verified, responses are capped, and each request ends before the
// call's deadline (abi/SPEC.md, section 2.4).
type HTTP interface {
	// Do sends one request and returns the server's answer, whatever its
	// HTTP status (5xx included). A request the host refused or could not
	// complete fails with an *abi.StatusError carrying the host's message:
	// abi.CapabilityDenied (origin, redirect or plain http not granted),
	// abi.Unavailable (connection, TLS or timeout: try the next endpoint),
	// abi.TooLarge (response over the cap) or abi.InvalidArgument (a
	// malformed request or a forbidden header).
	Do(req *abi.HTTPRequest) (*abi.HTTPResponse, error)
	// Credential returns the content of the file the grant names under
	// name (credentials = { name = "FILE" }), for use in a header or a
	// request body; abi.NotFound if the grant names no such file. Never
	// log it or put it in an error.
	Credential(name string) ([]byte, error)
}

// HostHTTP returns the http capability granted by the host (since ABI
// 1.2). A plugin that calls it imports the flyte_http_v1 module, and the
// host refuses to load it unless its configuration grants http; list
// "http" in Info.Capabilities.
func HostHTTP() HTTP { return hostNet() }

// TimeLeft returns the milliseconds left before the current call's
// deadline, 0 when it has passed (since ABI 1.2). Guests have no real
// clock: use it to decide whether another attempt still fits (the host
// already ends each http request early enough for the guest to answer). It
// returns milliseconds, not a time.Duration, because importing package time
// would add about 250 KB to every plugin built with this kit.
//
// Only a plugin that calls TimeLeft imports flyte_v1.time_left, so plugins
// that never call it still load on 1.0 and 1.1 hosts. Built natively it
// returns 0: there is no call.
func TimeLeft() uint32 { return timeLeft() }
