//go:build wasip1

// Command timeleft is a guest that calls guest.TimeLeft and guest.HostHTTP,
// so that examples_test can check that only such a guest imports them.
package main

import (
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

type store struct{ guest.Store }

func (store) Get(abi.Scope, string) (*abi.Record, error) {
	if guest.TimeLeft() < 100 {
		return nil, abi.Errorf(abi.Unavailable, "no time left")
	}
	_, err := guest.HostHTTP().Do(&abi.HTTPRequest{Method: "GET", URL: "http://127.0.0.1:1/"})
	return nil, err
}

func init() {
	guest.ServeStore(guest.Info{Name: "timeleft", Capabilities: []string{"http"}}, store{})
}

func main() {}
