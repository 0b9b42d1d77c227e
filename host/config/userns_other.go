//go:build !linux

package config

// unmappedOwner is false where there are no user namespaces.
func unmappedOwner(uint32) bool { return false }
