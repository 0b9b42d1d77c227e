//go:build !(linux && (amd64 || arm64))

package plugin

import "time"

// uncheckedBuiltins: without the kernel timer, built-ins keep wazero's
// checks (watchdog.go).
const uncheckedBuiltins = false

func armKill(time.Duration) (disarm func()) { return func() {} }
