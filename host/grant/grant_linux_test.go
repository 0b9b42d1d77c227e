package grant

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A bind mount of a protected directory is recognised by device and inode.
// The mount is made in a mount namespace of this test's own thread, which
// ends with the test.
func TestCheckBindMount(t *testing.T) {
	e := newEnv(t)
	mnt := e.path("mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	own := e.own(t)
	skip := make(chan string, 1)
	go func() {
		defer close(skip)
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			skip <- "no mount namespace here: " + err.Error()
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			skip <- "cannot make mounts private: " + err.Error()
			return
		}
		if err := unix.Mount(e.path(".config"), mnt, "", unix.MS_BIND, ""); err != nil {
			skip <- "cannot bind-mount: " + err.Error()
			return
		}
		err := Check("store.path", "the store plugin", filepath.Join(mnt, "flyte", "store"), own)
		want := "store.path " + mnt + "/flyte/store would give the store plugin flyte's configuration directory (" + e.path(".config/flyte") + "); choose a directory outside it"
		if err == nil || err.Error() != want {
			t.Errorf("a store inside a bind mount of ~/.config/flyte: %v", err)
		}
		err = Check("store.path", "the store plugin", mnt, own)
		if err == nil || !strings.Contains(err.Error(), "would give the store plugin the identity file") {
			t.Errorf("a bind mount of ~/.config: %v", err)
		}
	}()
	if why, ok := <-skip; ok {
		t.Skip(why)
	}
}
