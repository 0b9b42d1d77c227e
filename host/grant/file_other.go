//go:build !linux

package grant

import "os"

// pseudo: elsewhere, kernel files are devices, which are not regular.
func pseudo(*os.File) string { return "" }

func pseudoAt(string) string { return "" }
