//go:build wasip1

// Command liarstore is a test store that keeps secrets like the built-in
// filestore but lies in its listings, as its configuration says
// ([plugins.NAME] config, key "list"):
//
//	duplicate  lists the first record of each page twice
//	reverse    lists each page backwards
//	endless    after the real records, sends pages of made-up ones forever
//	           ("per_page" of them, each with "sealed" bytes of value)
//	slow       sends one made-up record a page, forever, each page after
//	           waiting for the lock "slow" (which the test holds) until the
//	           host gives up on it: each page comes just before the call's
//	           deadline
//	names      adds to the real records made-up ones whose keys, projects and
//	           domains hold control characters and shell syntax (hostileNames),
//	           and a damaged entry for each, for shell completion to refuse
//
// The host must refuse every lie in one line and change nothing. See
// cmd/flyte/testdata/script/hostile_plugins.txt.
package main

import (
	"strconv"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

type liar struct {
	*filestore.Store
	mode           string
	perPage, bytes int
}

// fake returns made-up record number i, in listing order after every real
// key of the organization scope that tests use.
func (l *liar) fake(org string, i int) abi.Record {
	n := strconv.Itoa(i)
	for len(n) < 9 {
		n = "0" + n
	}
	return abi.Record{Scope: abi.Scope{Org: org, Project: "zzz"}, Key: "K" + n, Kind: abi.SecretString, Version: 1, Sealed: make([]byte, l.bytes)}
}

// fakePage continues a made-up listing from token "fake/N".
func (l *liar) fakePage(req *abi.ListRequest, from, count int) *abi.ListResponse {
	resp := &abi.ListResponse{NextPageToken: "fake/" + strconv.Itoa(from+count)}
	for i := from; i < from+count; i++ {
		resp.Records = append(resp.Records, l.fake(req.Org, i))
	}
	return resp
}

func (l *liar) List(req *abi.ListRequest) (*abi.ListResponse, error) {
	from := -1
	if len(req.PageToken) > 5 && req.PageToken[:5] == "fake/" {
		from, _ = strconv.Atoi(req.PageToken[5:])
	}
	switch l.mode {
	case "endless", "slow":
		count := l.perPage
		if l.mode == "slow" {
			_ = guest.HostFS().Lock("slow") // waits until the host gives up
			count = 1
		}
		if from >= 0 {
			return l.fakePage(req, from, count), nil
		}
		resp, err := l.Store.List(req)
		if err == nil && resp.NextPageToken == "" {
			resp.NextPageToken = "fake/0"
		}
		return resp, err
	}
	resp, err := l.Store.List(req)
	if err != nil {
		return nil, err
	}
	if l.mode == "names" && req.PageToken == "" {
		for _, h := range hostileNames {
			for _, sc := range []abi.Scope{{Org: req.Org}, {Org: req.Org, Project: h}, {Org: req.Org, Domain: h}} {
				key := h
				if sc.Project != "" || sc.Domain != "" {
					key = "BESIDE_A_HOSTILE_SCOPE"
				}
				resp.Records = append(resp.Records, abi.Record{Scope: sc, Key: key, Kind: abi.SecretString, Version: 1, Sealed: make([]byte, l.bytes)})
				resp.Damaged = append(resp.Damaged, abi.Damaged{Scope: sc, Key: key, Reason: "made up"})
			}
		}
	}
	switch rs := resp.Records; {
	case l.mode == "duplicate" && len(rs) > 0:
		resp.Records = append([]abi.Record{rs[0]}, rs...)
	case l.mode == "reverse":
		for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
			rs[i], rs[j] = rs[j], rs[i]
		}
	}
	return resp, nil
}

// hostileNames are names no flyte validator accepts: terminal escapes,
// newlines, shell syntax, look-alikes.
var hostileNames = []string{"EVIL\x1b]0;owned\x07", "EVIL\nLINE", "$(touch pwned)", "`touch pwned`", "EVIL;touch pwned",
	"EVIL SPACE", "EVIL|cat", "EVIL&", "EVIL>out", "EVIL'", "EVIL\"", "EVIL\\", "EVIL*", "~root", "EVIL\u202eRTL", "ÉVIL",
	"EVIL\t", "EVIL=1", "", "evil-project-name-longer-than-sixty-three-characters-is-refused-too-yes"}

var info = guest.Info{Name: "liarstore", Version: "0.0.1", Summary: "a store that lies in its listings", Capabilities: []string{"fs"}}

func init() {
	l := &liar{Store: filestore.New(guest.HostFS()), perPage: 1000, bytes: 16}
	var cfg abi.PluginConfig
	_ = abi.Unmarshal(guest.Config(), &cfg)
	for _, kv := range cfg.Entries {
		n, _ := strconv.Atoi(kv.Value)
		switch kv.Key {
		case "list":
			l.mode = kv.Value
		case "per_page":
			l.perPage = n
		case "sealed":
			l.bytes = n
		}
	}
	guest.ServeStore(info, l)
}

func main() {}
