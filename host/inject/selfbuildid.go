package inject

// SelfBuildID is the Go build ID of the running executable, where it can
// be read (see buildid.go): the resident agent's handshake compares it, so
// that a client never uses an agent of another build.
func SelfBuildID() (string, bool) { return selfBuildID() }
