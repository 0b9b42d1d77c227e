package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
)

// User private groups. Fedora, Debian and Ubuntu give each user a group of their own and a umask of 002,
// so a clone of a repository has group-writable files and directories. Group write is harmless when the
// group holds nobody but the owner: Debian's OpenSSH accepts such files under StrictModes for the same
// reason (its user-group-modes patch), and flyte follows the same rule. A group is the owner's private
// group when it is the owner's primary group in /etc/passwd, /etc/group lists no members for it, and no
// other account has it as its primary group. Anything flyte cannot establish (no such group, unreadable
// files, a directory service the files do not show) counts as shared.

var (
	groupFile  = "/etc/group"
	passwdFile = "/etc/passwd"
)

type privateKey struct{ gid, uid uint32 }

var privateCache sync.Map // privateKey -> bool

// privateGroup reports whether gid is the private group of the account uid.
func privateGroup(gid, uid uint32) bool {
	k := privateKey{gid, uid}
	if v, ok := privateCache.Load(k); ok {
		return v.(bool)
	}
	group, err1 := readAccounts(groupFile)
	passwd, err2 := readAccounts(passwdFile)
	ok := err1 == nil && err2 == nil && isPrivateGroup(group, passwd, gid, uid)
	privateCache.Store(k, ok)
	return ok
}

// readAccounts reads an account database; one over 16 MiB is refused.
func readAccounts(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const max = 16 << 20
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && len(data) > max {
		err = errors.New("too large")
	}
	return data, err
}

// isPrivateGroup decides from the contents of /etc/group and /etc/passwd. Lines whose id field does not
// parse are skipped; gid listed twice, or on a line with members or of the wrong shape, is shared.
func isPrivateGroup(group, passwd []byte, gid, uid uint32) bool {
	found := false
	for line := range bytes.SplitSeq(group, []byte{'\n'}) {
		f := bytes.Split(line, []byte{':'})
		if len(f) < 3 || !isID(f[2], gid) {
			continue
		}
		if found || len(f) != 4 || len(bytes.TrimSpace(f[3])) != 0 {
			return false // listed twice, malformed, or with members
		}
		found = true
	}
	if !found {
		return false
	}
	primary := false
	for line := range bytes.SplitSeq(passwd, []byte{'\n'}) {
		f := bytes.Split(line, []byte{':'})
		if len(f) < 4 || !isID(f[3], gid) {
			continue
		}
		if !isID(f[2], uid) {
			return false // another account's primary group
		}
		primary = true
	}
	return primary
}

// isID reports whether field is the decimal id.
func isID(field []byte, id uint32) bool {
	n, err := strconv.ParseUint(string(field), 10, 32)
	return err == nil && uint32(n) == id
}
