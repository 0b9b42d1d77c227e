package secrets_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
)

const pullJSON = `{"auths":{"ghcr.io":{"auth":"dTpw"}}}`

// A store that declares ABI minor 0 is never sent an image_pull record:
// nothing reaches it, not even the data key's creation.
func TestImagePullNeedsMinor1(t *testing.T) {
	dir := t.TempDir()
	st := &nativeStore{dir: fsgrant.New(filepath.Join(dir, "store"))}
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: filepath.Join(dir, "identity.txt"), StoreMinor: 0})
	t.Cleanup(m.Close)
	_, err := m.Create(ctx, scope.Scope{}, "PULL", abi.SecretImagePull, []byte(pullJSON))
	var ku *secrets.KindUnsupportedError
	if !errors.As(err, &ku) || ku.Minor != 0 {
		t.Fatalf("Create on a minor-0 store: %v", err)
	}
	if want := "the store plugin speaks plugin ABI v1.0, which has no image_pull secrets (they need v1.1)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if len(st.inputs) != 0 {
		t.Errorf("the store received %d requests", len(st.inputs))
	}
	// A regular secret is still fine there.
	if _, err := m.Create(ctx, scope.Scope{}, "REG", abi.SecretString, []byte("value")); err != nil {
		t.Fatal(err)
	}
}

// An image_pull secret belongs to the organization, and keeps its kind.
func TestImagePullScopeAndKind(t *testing.T) {
	dir := t.TempDir()
	st := &nativeStore{dir: fsgrant.New(filepath.Join(dir, "store"))}
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: filepath.Join(dir, "identity.txt"), StoreMinor: abi.Minor})
	t.Cleanup(m.Close)
	for _, s := range []scope.Scope{{Project: "p"}, {Domain: "d"}, {Project: "p", Domain: "d"}} {
		if _, err := m.Create(ctx, s, "PULL", abi.SecretImagePull, []byte(pullJSON)); !errors.Is(err, secrets.ErrImagePullScope) {
			t.Errorf("Create in %v: %v", s, err)
		}
	}
	sec, err := m.Create(ctx, scope.Scope{}, "PULL", abi.SecretImagePull, []byte(pullJSON))
	if err != nil || sec.Kind != abi.SecretImagePull {
		t.Fatalf("Create: %v, %v", sec, err)
	}
	res, err := m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Secrets) != 1 || res.Secrets[0].Kind != abi.SecretImagePull || len(res.Damaged) != 0 {
		t.Fatalf("List: %+v, %v", res, err)
	}
	var kc *secrets.KindChangeError
	if _, err := m.Update(ctx, scope.Scope{}, "PULL", abi.SecretString, []byte("x"), 0); !errors.As(err, &kc) {
		t.Fatalf("Update to regular: %v", err)
	}
	if want := "secret PULL in organization scope has type image_pull; this update would give it type regular"; kc.Error() != want {
		t.Errorf("error %q, want %q", kc.Error(), want)
	}
	if _, err := m.Update(ctx, scope.Scope{}, "PULL", abi.SecretImagePull, []byte(pullJSON), 0); err != nil {
		t.Fatal(err)
	}
}
