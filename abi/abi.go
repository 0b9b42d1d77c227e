// Package abi is version 1 of the contract between the flyte host and its
// WebAssembly plugins: the status codes, operation numbers, import and export
// names, and the messages they exchange. SPEC.md in this directory is the
// normative description; this package is its executable form, shared by the
// host and by guests (through the guest kit in abi/guest).
//
// The package is deliberately small and reflection-free: guests compiled to
// wasip1 import it, and every dependency here is paid for in every plugin's
// size and cold-compile time. It must not import fmt, encoding/json, reflect
// or anything in the host.
package abi

import "strconv"

// Version is the ABI major version implemented by this package. A guest
// declares it by exporting the marker function named by MarkerExport.
const Version = 1

// Minor is the ABI minor version: additions (new ops, new optional imports,
// new message fields, new enum values) that older peers can ignore or are
// never sent. 1.1 added record kind 3, SecretImagePull; 1.2 added the http
// capability, the time_left import and the render op; 1.3 fenced writes,
// compare-and-set and deletion of meta values, and compaction; 1.4 the fs
// capability's read_at, write_at, rename and remove_all (SPEC.md, section
// 8).
const Minor = 4

// MinorImagePull is the first minor version whose stores may be sent
// records of kind SecretImagePull.
const MinorImagePull = 1

// MinorHTTP is the minor version that brought the http capability
// (HTTPModule) and flyte_v1.time_left.
const MinorHTTP = 2

// MinorRender is the first minor version whose injectors may be sent
// OpRender.
const MinorRender = 2

// MinorFence is the first minor version whose stores honour
// WriteRequest.Guard and MetaRequest.HasExpected, and serve OpMetaDelete
// (and OpCompact, or answer it Unimplemented). The host sends none of these
// to an older store.
const MinorFence = 3

// MinorRange is the minor version that brought the fs capability's
// ranged calls, read_at and write_at, with rename and remove_all.
const MinorRange = 4

// Names of the exports a guest provides and of the host modules it imports.
const (
	// MarkerExport is a function that is never called; its presence says
	// the guest speaks ABI v1 (proxy-wasm style).
	MarkerExport = "flyte_abi_v1"
	// DescribeExport returns a status; on OK the output holds a Describe.
	DescribeExport = "flyte_describe"
	// HandleExport is handle(op i32, in_len i32) -> status.
	HandleExport = "flyte_handle"
	// InitExport is the reactor initialiser Go's -buildmode=c-shared emits.
	InitExport = "_initialize"

	// HostModule holds the imports every guest may use.
	HostModule = "flyte_v1"
	// FSModule holds the directory capability, bound only when granted.
	FSModule = "flyte_fs_v1"
	// HTTPModule holds the http capability (since 1.2), bound only when
	// granted.
	HTTPModule = "flyte_http_v1"

	// DescribeSection names the optional custom section whose payload is
	// the plugin's Describe message, so that a host can tell what a plugin
	// is without running it (since 1.2).
	DescribeSection = "flyte.describe"
)

// CapabilityInfo names a capability of ABI v1: the word a grant uses in
// flyte.toml, its import module, and the minor version that brought it. The
// table lists every capability of the ABI, so a host built without one can
// still name it in a message.
type CapabilityInfo struct {
	Name   string
	Module string
	Minor  uint32
}

// Capabilities is every capability of ABI v1.
var Capabilities = []CapabilityInfo{
	{Name: "fs", Module: FSModule, Minor: 0},
	{Name: "http", Module: HTTPModule, Minor: MinorHTTP},
}

// Status is the result of every export call and every capability import.
type Status uint32

// Status codes. Their numeric values are part of the ABI.
const (
	OK               Status = 0
	NotFound         Status = 1
	InvalidArgument  Status = 2
	AlreadyExists    Status = 3
	PermissionDenied Status = 4
	CapabilityDenied Status = 5
	Unavailable      Status = 6 // retryable
	Unimplemented    Status = 7
	Internal         Status = 8
	Conflict         Status = 9 // compare-and-set failed
	TooLarge         Status = 10
)

var statusNames = [...]string{
	OK:               "ok",
	NotFound:         "not found",
	InvalidArgument:  "invalid argument",
	AlreadyExists:    "already exists",
	PermissionDenied: "permission denied",
	CapabilityDenied: "capability denied",
	Unavailable:      "unavailable",
	Unimplemented:    "unimplemented",
	Internal:         "internal error",
	Conflict:         "conflict",
	TooLarge:         "too large",
}

// String returns the status in words, as used in error messages.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status " + strconv.FormatUint(uint64(s), 10)
}

// Op numbers the operations a guest's handle export serves.
type Op uint32

// Store operations.
const (
	OpCreate  Op = 1 // WriteRequest -> Record
	OpUpdate  Op = 2 // WriteRequest -> Record
	OpGet     Op = 3 // KeyRequest -> Record
	OpList    Op = 4 // ListRequest -> ListResponse
	OpDelete  Op = 5 // KeyRequest -> (empty)
	OpMetaGet Op = 6 // MetaRequest -> MetaResponse
	OpMetaPut Op = 7 // MetaRequest -> MetaResponse
	// OpMetaDelete removes a meta value (since 1.3).
	OpMetaDelete Op = 8 // MetaRequest -> (empty)
	// OpCompact drops the history of earlier values a store keeps, if any
	// (since 1.3; Unimplemented: it keeps none).
	OpCompact Op = 9 // (empty) -> (empty)
)

// Injector operations.
const (
	OpPlan   Op = 100 // PlanRequest -> Plan
	OpRender Op = 101 // RenderRequest -> RenderPlan (since 1.2)
)

// PluginKind says what a plugin is for.
type PluginKind uint32

// Plugin kinds.
const (
	KindStore    PluginKind = 1
	KindInjector PluginKind = 2
)

// String names the kind as the CLI shows it.
func (k PluginKind) String() string {
	switch k {
	case KindStore:
		return "store"
	case KindInjector:
		return "injector"
	}
	return "unknown"
}

// SecretKind says how a secret was created: from a literal string (a
// regular secret), from a file, or as a registry credential. It is bound
// into the sealed value's associated data.
type SecretKind uint32

// Secret kinds.
const (
	SecretString SecretKind = 1
	SecretFile   SecretKind = 2
	// SecretImagePull is a docker config JSON ({"auths": {...}}) that
	// pulls container images, flyte-sdk's "image_pull" secret. Since 1.1;
	// stores that declare minor 0 are never sent one.
	SecretImagePull SecretKind = 3
)

// String names the secret kind as the CLI shows it: "regular", "file" or
// "image_pull", flyte-sdk's words.
func (k SecretKind) String() string {
	switch k {
	case SecretString:
		return "regular"
	case SecretFile:
		return "file"
	case SecretImagePull:
		return "image_pull"
	}
	return "unknown"
}

// Delivery is the kind an injector is told in SecretRequest.kind, which
// says only how a secret may be delivered: SecretFile (as a file only) or
// SecretString (as a variable or a file). An image_pull secret is JSON text
// and is delivered like a regular one.
func (k SecretKind) Delivery() SecretKind {
	if k == SecretImagePull {
		return SecretString
	}
	return k
}

// Limits every host enforces; guests may rely on them.
const (
	// MaxMessage bounds any single input or output message.
	MaxMessage = 8 << 20
	// MaxPath bounds a capability path argument.
	MaxPath = 1024
	// MaxDepth bounds how deeply messages nest; a decoder refuses deeper
	// input as malformed, so no peer can exhaust the other's stack.
	MaxDepth = 16
)

// FSWriteExclusive is the flag of the fs capability's write import that
// makes it fail with AlreadyExists when the file exists.
const FSWriteExclusive = 1

// StatusError carries a non-OK status and the guest's or host's message.
type StatusError struct {
	Code    Status
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Message
}

// Errorf builds a *StatusError. It takes plain strings (no formatting) so
// that guests need not link fmt.
func Errorf(code Status, msg ...string) error {
	n := 0
	for _, m := range msg {
		n += len(m)
	}
	b := make([]byte, 0, n)
	for _, m := range msg {
		b = append(b, m...)
	}
	return &StatusError{Code: code, Message: string(b)}
}

// StatusOf returns the status an error maps to: the code of a *StatusError
// found by unwrapping, OK for nil, Internal otherwise.
func StatusOf(err error) Status {
	if err == nil {
		return OK
	}
	for e := err; e != nil; {
		if se, ok := e.(*StatusError); ok {
			return se.Code
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return Internal
}
