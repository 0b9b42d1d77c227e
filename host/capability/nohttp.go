//go:build flytenohttp

package capability

import "github.com/flytesecrets/flyte/host/httpgrant"

// HTTPGrant is nil in a flyte built without http: the plugin host names
// the capability when a plugin needs it.
func HTTPGrant(*httpgrant.Grant) Grant { return nil }
