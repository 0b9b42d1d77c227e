//go:build !wasip1

package filestore_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLogLayout runs the tests of the store's behaviour on a store of
// format 2 (logs): what a store answers does not depend on its layout.
func TestLogLayout(t *testing.T) {
	logLayout = true
	defer func() { logLayout = false }()
	for _, c := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"CreateUpdateDelete", TestCreateUpdateDelete},
		{"RejectsBadNames", TestRejectsBadNames},
		{"ListOrderFiltersAndPages", TestListOrderFiltersAndPages},
		{"Meta", TestMeta},
		{"ListPagesBySize", TestListPagesBySize},
		{"GuardedWrites", TestGuardedWrites},
		{"MetaSwapAndDelete", TestMetaSwapAndDelete},
		{"ListAllOrgs", TestListAllOrgs},
		{"GuardedWritesRaceMetaSwap", TestGuardedWritesRaceMetaSwap},
		{"ListAnyPageToken", TestListAnyPageToken},
	} {
		t.Run(c.name, c.f)
	}
	// And the store really is of format 2.
	s, dir, end := newStore(t)
	defer end()
	if _, err := s.Create(rec("", "", "K")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "secrets")); err != nil || string(b) != "flyte store format 2\n" {
		t.Fatalf("marker: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "log", "acme")); err != nil {
		t.Fatal(err)
	}
}
