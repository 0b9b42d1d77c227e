package seal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/flytesecrets/flyte/host/safefile"
)

// MaxIdentitySize bounds how much of an identity (a file, a variable, a
// command's output) flyte reads: a real one is a few hundred bytes, and a
// huge one is not worth parsing.
const MaxIdentitySize = 64 << 10

// LoadOrCreateIdentity loads the age X25519 identity at path, creating it
// (mode 0600, missing parent directories 0700) if it does not exist yet.
// created reports whether this call created it.
//
// Creation is safe against concurrent flyte processes: the new identity is
// written to a 0600 temp file in the same directory, fsynced, then hard-linked
// to path. Link fails if path already exists, so exactly one writer wins and
// every loser loads the winner's identity; readers never see a partial file.
// The directory is fsynced too, since a data key wrapped to an identity that
// is lost in a crash could never be recovered.
//
// For safety, loading refuses (with an error saying why and how to fix it):
//   - a file with any group or other permission bits (fix: chmod 600 PATH),
//     because anyone who can read it can unwrap every data key;
//   - a symlink or other non-regular file, because a link can be redirected
//     to a file an attacker controls; point flyte at the real file instead;
//   - a file owned by another user, who could replace it with an identity
//     of their own;
//   - a malformed file. The error names the path and line but never echoes
//     file contents, which may be secret.
//
// Existing parent directories are left as they are. Permission checks assume
// Unix file modes.
func LoadOrCreateIdentity(path string) (id *age.X25519Identity, created bool, err error) {
	id, err = loadIdentity(path)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create identity directory: %w", err)
	}
	newID, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, false, fmt.Errorf("generate identity: %w", err)
	}
	content := fmt.Sprintf("# flyte identity: keep it secret; losing it loses every secret sealed with it\n"+
		"# created: %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), newID.Recipient(), newID)

	// os.CreateTemp creates the file with mode 0600 and a unique name, so
	// concurrent creators never share a temp file.
	tmp, err := os.CreateTemp(dir, ".flyte-identity-*.tmp")
	if err != nil {
		return nil, false, fmt.Errorf("create identity: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after Link, this only removes the temp name
	if err := writeSynced(tmp, content); err != nil {
		return nil, false, fmt.Errorf("write identity %s: %w", tmpName, err)
	}

	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process won the race; use its identity.
			id, err := loadIdentity(path)
			return id, false, err
		}
		return nil, false, fmt.Errorf("install identity: %w", err)
	}
	if err := safefile.SyncDir(dir); err != nil {
		return nil, false, fmt.Errorf("sync identity directory %s: %w", dir, err)
	}
	return newID, true, nil
}

// writeSynced writes content, forces mode 0600 (CreateTemp already uses it;
// this documents and guarantees it), fsyncs and closes f.
func writeSynced(f *os.File, content string) error {
	_, err := f.WriteString(content)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// loadIdentity reads and checks an existing identity file. A missing file
// yields an error matching fs.ErrNotExist.
func loadIdentity(path string) (*age.X25519Identity, error) {
	// Lstat, not Stat, so a symlink is seen rather than followed.
	lfi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("identity file: %w", err)
	}
	if lfi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("identity file %s is a symlink; refusing to follow it (point flyte at the real file, or replace the link with it)", path)
	}
	if !lfi.Mode().IsRegular() {
		return nil, fmt.Errorf("identity file %s is not a regular file", path)
	}

	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	defer f.Close()
	// Check the file we actually opened: the path may have been swapped
	// (e.g. for a symlink) between Lstat and Open.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	if !os.SameFile(lfi, fi) {
		return nil, fmt.Errorf("identity file %s changed while being opened; try again", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("identity file %s is owned by uid %d, not by you (uid %d): its owner could replace it with an identity of their own; use a copy you own (mode 0600)", path, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("identity file %s has mode %04o: it is readable or writable by group or others, which would let them unwrap your data keys; fix with: chmod 600 %s", path, perm, path)
	}

	data, err := io.ReadAll(io.LimitReader(f, MaxIdentitySize+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("read identity file %s: %w", path, err)
	}
	return parseIdentity(path, data)
}

// parseIdentity parses the bytes of an identity file.
func parseIdentity(path string, data []byte) (*age.X25519Identity, error) {
	return ParseIdentity("identity file "+path, data)
}

// ParseIdentity accepts the age-keygen format: comment and blank lines plus
// exactly one AGE-SECRET-KEY-1 line, at most 64 KiB. what names the source
// in errors ("identity file PATH", "FLYTE_IDENTITY"). Errors name it and
// the line only; age's own parse errors are dropped because they can quote
// key material.
func ParseIdentity(what string, data []byte) (*age.X25519Identity, error) {
	if len(data) > MaxIdentitySize {
		return nil, fmt.Errorf("%s is malformed: larger than %d bytes", what, MaxIdentitySize)
	}
	var (
		id     *age.X25519Identity
		lineNo int
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxIdentitySize)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if id != nil {
			return nil, fmt.Errorf("%s is malformed: more than one key (line %d); expected exactly one AGE-SECRET-KEY-1 line", what, lineNo)
		}
		parsed, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("%s is malformed at line %d: not an age X25519 secret key (AGE-SECRET-KEY-1...)", what, lineNo)
		}
		id = parsed
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s is malformed: line too long", what)
	}
	if id == nil {
		return nil, fmt.Errorf("%s is malformed: no AGE-SECRET-KEY-1 line found", what)
	}
	return id, nil
}

// LoadIdentity reads an existing identity file with the same checks as
// LoadOrCreateIdentity, without creating one: read-only commands use it so
// that they change nothing on disk.
func LoadIdentity(path string) (*age.X25519Identity, error) {
	return loadIdentity(path)
}
