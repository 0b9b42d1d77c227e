package main

import (
	"errors"
	"os"
	"strconv"

	"github.com/flytesecrets/flyte/host/secrets"
)

// A test-only hook (the flyte binary has none): a script interrupts a
// re-seal after N secrets, as a crash or a lost connection would, with
// FLYTE_TEST_RESEAL_STOP_AFTER=N.
func init() {
	n, err := strconv.Atoi(os.Getenv("FLYTE_TEST_RESEAL_STOP_AFTER"))
	if err != nil {
		return
	}
	secrets.TestHookReseal = func(done int) error {
		if done >= n {
			return errors.New("interrupted by the test")
		}
		return nil
	}
}
