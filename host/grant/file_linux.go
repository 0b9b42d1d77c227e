package grant

import (
	"os"

	"golang.org/x/sys/unix"
)

// pseudo names the kernel file system f lies on when its files are not
// data someone stored (procfs, sysfs and the like: /proc/self/environ is a
// regular file of the user's that may hold FLYTE_IDENTITY), or "".
func pseudo(f *os.File) string {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return "an unknown file system"
	}
	return pseudoType(uint32(st.Type)) // its type differs across architectures; magics are 32 bits
}

// pseudoAt is pseudo for the existing path p; "" when p cannot be reached.
func pseudoAt(p string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return ""
	}
	return pseudoType(uint32(st.Type)) // its type differs across architectures; magics are 32 bits
}

func pseudoType(t uint32) string {
	switch t {
	case unix.PROC_SUPER_MAGIC:
		return "procfs"
	case unix.SYSFS_MAGIC:
		return "sysfs"
	case unix.DEBUGFS_MAGIC, unix.TRACEFS_MAGIC, unix.SECURITYFS_MAGIC, unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC,
		unix.BPF_FS_MAGIC, unix.EFIVARFS_MAGIC, unix.PSTOREFS_MAGIC:
		return "a kernel file system"
	}
	return ""
}
