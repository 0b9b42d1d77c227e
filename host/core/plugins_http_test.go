//go:build !flytenohttp

package core

import "testing"

// A well-formed origin is granted (a flyte built with flytenohttp has no
// http capability to grant it to).
func TestCheckGrantsOrigin(t *testing.T) {
	if err := CheckGrants(Options{}, "p", map[string]map[string]any{"http": {"origins": []any{"https://a.example:443"}}}); err != nil {
		t.Errorf("an origin: %v", err)
	}
}
