package plugin_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/plugin"
	"golang.org/x/sys/unix"
)

// A store lock that another process holds is reported as a busy store,
// with the holder's pid, before the call's deadline: not as a timeout.
func TestHeldLockIsBusy(t *testing.T) {
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Fatal(err)
	}
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dir := t.TempDir()
	p, err := h.Load(context.Background(), plugin.Spec{Name: "filestore", Wasm: wasm, Kind: abi.KindStore, Grants: fsGrant(dir), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	rec := abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "K", Kind: abi.SecretString, Sealed: []byte("x")}
	if _, err := p.Call(context.Background(), abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec})); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	_, err = p.Call(context.Background(), abi.OpUpdate, abi.Marshal(&abi.WriteRequest{Record: rec}))
	var busy *plugin.BusyError
	if !errors.As(err, &busy) || busy.PID != os.Getpid() {
		t.Fatalf("got %v", err)
	}
	if err.Error() != "store is busy: locked by another flyte process (pid "+strconv.Itoa(os.Getpid())+"); try again" {
		t.Fatalf("got %q", err)
	}
	// Released, the same call goes through.
	f.Close()
	if _, err := p.Call(context.Background(), abi.OpUpdate, abi.Marshal(&abi.WriteRequest{Record: rec})); err != nil {
		t.Fatal(err)
	}
}
