package trust

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/flytesecrets/flyte/host/scope"
)

// Record is the user's trust in one configuration file, as it was when trusted.
type Record struct {
	// Path is the file's real path: absolute, clean, symbolic links resolved.
	Path string `json:"path"`
	// SHA256 is the digest of its content, lower-case hex.
	SHA256 string `json:"sha256"`
	// Plugins are the plugins the file names in [plugins.*], sorted by name.
	Plugins []Plugin `json:"plugins,omitempty"`
}

// Plugin is one plugin of a trusted file.
type Plugin struct {
	Name   string `json:"name"`
	Path   string `json:"path"` // absolute, as the file resolves it
	SHA256 string `json:"sha256"`
}

// recordsVersion is the format of the records file; another is refused rather than misread.
const recordsVersion = 1

// Limits of the records file, well beyond use and far below state.MaxFile.
const (
	maxRecords = 10000
	maxPlugins = 256
	maxPath    = 4096
)

type recordsFile struct {
	Version int      `json:"version"`
	Files   []Record `json:"files"`
}

// Parse decodes the records file; nil or empty data is no records. Every field is checked: a path must
// be absolute and clean, a digest 64 lower-case hexadecimal digits, a plugin name a valid name, and a
// path may be trusted only once. Errors say what is wrong without quoting the file.
func Parse(data []byte) ([]Record, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var f recordsFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, errors.New("trust records are not valid: " + jsonProblem(err))
	}
	if dec.More() {
		return nil, errors.New("trust records are not valid: data after the end")
	}
	if f.Version != recordsVersion {
		return nil, fmt.Errorf("trust records have version %d; this flyte reads version %d", f.Version, recordsVersion)
	}
	if len(f.Files) > maxRecords {
		return nil, fmt.Errorf("trust records hold more than %d files", maxRecords)
	}
	seen := make(map[string]bool, len(f.Files))
	for i, r := range f.Files {
		where := fmt.Sprintf("trust record %d", i+1)
		if err := checkPath(r.Path); err != nil {
			return nil, fmt.Errorf("%s: path %w", where, err)
		}
		if seen[r.Path] {
			return nil, fmt.Errorf("%s: its path is trusted twice", where)
		}
		seen[r.Path] = true
		if !validSum(r.SHA256) {
			return nil, fmt.Errorf("%s: sha256 must be 64 lower-case hexadecimal digits", where)
		}
		if len(r.Plugins) > maxPlugins {
			return nil, fmt.Errorf("%s: more than %d plugins", where, maxPlugins)
		}
		for j, p := range r.Plugins {
			pw := fmt.Sprintf("%s, plugin %d", where, j+1)
			if scope.ValidateName("plugin name", p.Name) != nil {
				return nil, fmt.Errorf("%s: invalid name", pw)
			}
			if j > 0 && r.Plugins[j-1].Name >= p.Name {
				return nil, fmt.Errorf("%s: plugins are not sorted by name, or one is listed twice", pw)
			}
			if err := checkPath(p.Path); err != nil {
				return nil, fmt.Errorf("%s: path %w", pw, err)
			}
			if !validSum(p.SHA256) {
				return nil, fmt.Errorf("%s: sha256 must be 64 lower-case hexadecimal digits", pw)
			}
		}
	}
	return f.Files, nil
}

// Marshal encodes records as Parse reads them.
func Marshal(records []Record) []byte {
	if records == nil {
		records = []Record{}
	}
	b, err := json.MarshalIndent(recordsFile{Version: recordsVersion, Files: records}, "", "  ")
	if err != nil {
		panic(err) // plain strings and slices always encode
	}
	return append(b, '\n')
}

func checkPath(p string) error {
	switch {
	case p == "" || len(p) > maxPath:
		return fmt.Errorf("must be 1 to %d bytes", maxPath)
	case !filepath.IsAbs(p) || filepath.Clean(p) != p:
		return errors.New("must be absolute and clean")
	case strings.ContainsRune(p, 0):
		return errors.New("holds a NUL byte")
	}
	return nil
}

func validSum(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// jsonProblem says what is wrong with JSON without quoting it.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("wrong type for %s at byte %d", te.Field, te.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "truncated"
	default:
		return "not the expected fields"
	}
}
