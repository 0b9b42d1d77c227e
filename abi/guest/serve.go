package guest

// The entry points a plugin calls. They are declared here, for every
// platform, so that `go doc` shows the whole kit on any machine; they do
// their work only in a wasip1 build (wasm.go, fs_wasm.go, http_wasm.go).
// Built natively (tests, benchmark baselines), Serve does nothing (call
// Dispatch), Config returns nil, Log discards, TimeLeft returns 0, and the
// methods of HostFS and HostHTTP fail with Unavailable: give native code
// its own FS or HTTP instead.

// Serve registers h as this module's plugin. Call it from an init function.
func Serve(h Handler) { serve(h) }

// ServeStore registers a store plugin. Call it from an init function.
func ServeStore(info Info, s Store) { Serve(StoreHandler(info, s)) }

// ServeInjector registers an injector plugin. Call it from an init function.
func ServeInjector(info Info, inj Injector) { Serve(InjectorHandler(info, inj)) }

// HostFS returns the directory capability granted by the host. A plugin
// that calls it imports the flyte_fs_v1 module, and the host refuses to
// load it unless its configuration grants a directory.
func HostFS() FS { return hostDir() }

// HostRangeFS is HostFS with the calls of ABI 1.4 (RangeFS: read_at,
// write_at, rename, remove_all). Only a plugin that calls it imports them,
// so a plugin that calls HostFS alone still loads on a 1.3 host.
func HostRangeFS() RangeFS { return hostRangeDir() }

// Config returns the plugin's configuration as the host encoded it (the
// [plugins.NAME] config table of flyte.toml), or nil.
func Config() []byte { return config() }

// Log levels for Log.
const (
	LevelDebug = 0
	LevelInfo  = 1
	LevelWarn  = 2
	LevelError = 3
)

// Log sends a message to the host's log. The host shows it only in verbose
// mode, prefixed with the plugin's name. Never log secret values.
func Log(level uint32, msg string) { hostLogString(level, msg) }
