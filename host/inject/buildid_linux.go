package inject

import (
	"os"
	"sync"
)

// selfBuildID is the Go build ID of the running executable, read once.
var selfBuildID = sync.OnceValues(func() (string, bool) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return "", false
	}
	defer f.Close()
	return parseGoBuildID(f)
})
