//go:build wasip1

// Command timeleft is a store whose GET fetches the URL in its
// configuration (key "url") through the http capability, if time is left.
// examples_test checks that only such a guest imports time_left and
// flyte_http_v1; internal/bench times one request through it.
package main

import (
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

type store struct{ guest.Store }

func (store) Get(s abi.Scope, key string) (*abi.Record, error) {
	if guest.TimeLeft() < 100 {
		return nil, abi.Errorf(abi.Unavailable, "no time left")
	}
	var cfg abi.PluginConfig
	if err := abi.Unmarshal(guest.Config(), &cfg); err != nil {
		return nil, abi.Errorf(abi.Internal, "malformed configuration")
	}
	resp, err := guest.HostHTTP().Do(&abi.HTTPRequest{Method: "GET", URL: cfg.Get("url")})
	if err != nil {
		return nil, err
	}
	return &abi.Record{Scope: s, Key: key, Version: 1, Sealed: resp.Body}, nil
}

func init() {
	guest.ServeStore(guest.Info{Name: "timeleft", Capabilities: []string{"http"}}, store{})
}

func main() {}
