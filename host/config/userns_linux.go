package config

import (
	"os"
	"strconv"
	"strings"
)

// unmappedOwner reports whether uid, the owner of a file as flyte sees it, stands for a user outside
// flyte's user namespace: flyte runs in a user namespace other than the initial one (a rootless
// container), and uid is the kernel's overflow uid, which that namespace does not map, so that no
// process inside it can be that owner. Any failure to tell says false.
func unmappedOwner(uid uint32) bool {
	b, err := os.ReadFile("/proc/sys/kernel/overflowuid")
	if err != nil {
		return false
	}
	overflow, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil || uint64(uid) != overflow {
		return false
	}
	if b, err = os.ReadFile("/proc/self/uid_map"); err != nil {
		return false
	}
	ranges, ok := parseIDMap(string(b))
	return ok && !initialMap(ranges) && unmapped(ranges, overflow)
}

// idRange is one line of /proc/PID/uid_map: count ids from inside map to ids from outside.
type idRange struct{ inside, outside, count uint64 }

// parseIDMap parses the text of a uid_map or gid_map file; ok is false for anything that is not one.
func parseIDMap(text string) (ranges []idRange, ok bool) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, false
		}
		var r idRange
		for i, p := range []*uint64{&r.inside, &r.outside, &r.count} {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, false
			}
			*p = n
		}
		ranges = append(ranges, r)
	}
	return ranges, len(ranges) > 0
}

// initialMap reports whether ranges are the initial user namespace's: every id maps to itself.
func initialMap(ranges []idRange) bool {
	return len(ranges) == 1 && ranges[0] == idRange{0, 0, 1<<32 - 1}
}

// unmapped reports whether ranges leave id unmapped inside the namespace.
func unmapped(ranges []idRange, id uint64) bool {
	for _, r := range ranges {
		if id >= r.inside && id-r.inside < r.count {
			return false
		}
	}
	return true
}
