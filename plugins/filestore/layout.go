package filestore

// Which layout a store directory has, and its conversion from one file per
// record (format 1) to logs (format 2). See the package comment.

import (
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

const (
	// The format marker: in a store of format 2, secrets is a regular file
	// holding one of these. A filestore of format 1 opens secrets/ORG/...
	// for every record it reads or writes, which fails ("not a directory")
	// once secrets is a file: an older flyte refuses such a store.
	markerDone       = "flyte store format 2\n"
	markerConverting = "flyte store format 2, converting\n"
	// legacyPrefix names the trees of format 1 being converted: the
	// secrets directory is renamed to legacy-ID before the marker is
	// written in its place.
	legacyPrefix = "legacy-"
	// convertMore is the time (ms) a call must still have left to copy
	// another batch.
	convertMore = 2500
)

// convertBatch is how many records of a legacy tree one write copies into
// the logs at least (more while the call has time left). A variable for
// tests.
var convertBatch = 4096

// layout is what a store directory holds.
type layout struct {
	// format: 0 no record was ever written (no secrets, no legacy tree);
	// 1 one file per record under secrets/; 2 logs.
	format int
	// marked: secrets is the format 2 marker.
	marked bool
	// trees are the legacy trees still being converted (format 2 only),
	// in name order; converting is len(trees) > 0 or a converting marker.
	trees      []string
	converting bool
}

// detect reads the store's layout. It changes nothing, and costs one read
// of secrets (a directory in format 1: the read fails, as not a regular
// file, and a conversion lists it first: a link is no directory); the store
// directory is listed only while a conversion is under way, or when there
// is no secrets. It is not cached between calls: a store directory can be
// replaced (restored from a backup) under an instance that lives long.
func (st *Store) detect(fs guest.FS) (layout, error) {
	b, err := fs.ReadFile(secretsDir)
	var lay layout
	switch {
	case abi.StatusOf(err) == abi.NotFound:
		// A new store, or a crash came between the rename of secrets and
		// the marker.
	case err != nil:
		// A directory: format 1. Anything else (a link, a file with two
		// names) no flyte made: refused, never converted. Not a regular
		// file (fsgrant's INVALID_ARGUMENT) is taken for a directory
		// without listing it, which every call would pay for: prepare
		// lists it before a conversion, and a read fails in it.
		if abi.StatusOf(err) != abi.InvalidArgument {
			if _, derr := fs.ReadDir(secretsDir); derr != nil {
				return layout{}, err
			}
		}
		return layout{format: 1}, nil
	case string(b) == markerDone:
		return layout{format: 2, marked: true}, nil
	case string(b) == markerConverting:
		lay = layout{format: 2, marked: true, converting: true}
	default:
		return layout{}, abi.Errorf(abi.Internal, "the store's format marker (secrets) is not one this flyte knows; a newer flyte may have written it")
	}
	var err2 error
	if lay.trees, err2 = legacyTrees(fs); err2 != nil {
		return layout{}, err2
	}
	if !lay.marked {
		if len(lay.trees) == 0 {
			return layout{}, nil
		}
		lay.format, lay.converting = 2, true
	}
	return lay, nil
}

// legacyTrees lists the legacy trees of the store directory, in order.
func legacyTrees(fs guest.FS) ([]string, error) {
	ents, err := fs.ReadDir(".")
	if abi.StatusOf(err) == abi.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var trees []string
	for _, e := range ents {
		if e.Dir && strings.HasPrefix(e.Name, legacyPrefix) && validName(e.Name) {
			trees = append(trees, e.Name)
		}
	}
	return trees, nil
}

// prepare makes the store ready for a write in format 2 and returns its
// layout; the caller holds the writers' lock. A store of format 1 has its
// secrets directory renamed to a legacy tree and the marker written in its
// place BEFORE any record goes into a log, so an older flyte can no longer
// write into it; then every write copies a batch of the legacy records
// into the logs, until none is left.
func (st *Store) prepare(fs guest.RangeFS) (layout, error) {
	lay, err := st.detect(fs)
	if err != nil {
		return lay, err
	}
	switch {
	case lay.format == 1:
		// Only a directory is converted (see detect).
		if _, err := fs.ReadDir(secretsDir); err != nil {
			return lay, err
		}
		// Legacy trees beside secrets/ (an older flyte wrote records after
		// a crash between the rename and the marker) are converted too.
		trees, err := legacyTrees(fs)
		if err != nil {
			return lay, err
		}
		tree := legacyPrefix + strings.ToLower(newListingID()[:12])
		if err := fs.Rename(secretsDir, tree); err != nil {
			return lay, err
		}
		lay = layout{format: 2, trees: insertSorted(trees, tree), converting: true}
		fallthrough
	case lay.format == 2 && !lay.marked:
		if err := fs.WriteFile(secretsDir, []byte(markerConverting), true); err != nil {
			return lay, err
		}
		lay.marked = true
	case lay.format == 0:
		if err := fs.WriteFile(secretsDir, []byte(markerDone), true); err != nil {
			return lay, err
		}
		return layout{format: 2, marked: true}, nil
	}
	if lay.converting {
		if err := st.convert(fs, &lay, convertBatch); err != nil {
			return lay, err
		}
	}
	return lay, nil
}

func insertSorted(s []string, v string) []string {
	for i, x := range s {
		if v < x {
			return append(s[:i:i], append([]string{v}, s[i:]...)...)
		}
	}
	return append(s, v)
}

// convert copies records of the legacy trees into the logs, at least
// budget of them (more while the call has time left), removes each tree
// whose every record is in a log, and writes the final marker when none
// is left. Every step is safe to interrupt: a legacy file is removed only
// with its tree, after its record is durable in its log, and readers take
// a key from the log first, from the trees only when the log lacks it.
func (st *Store) convert(fs guest.RangeFS, lay *layout, budget int) error {
	copied := 0
	for len(lay.trees) > 0 {
		complete, err := st.convertTree(fs, lay.trees[0], &copied, budget)
		if err != nil {
			return err
		}
		if !complete {
			if guest.TimeLeft() < convertMore {
				return nil
			}
			budget += convertBatch
			continue
		}
		if err := fs.RemoveAll(lay.trees[0]); err != nil {
			return err
		}
		lay.trees = lay.trees[1:]
	}
	if err := fs.WriteFile(secretsDir, []byte(markerDone), false); err != nil {
		return err
	}
	lay.converting = false
	return nil
}

// convertTree copies the records of tree that no log holds yet into their
// organization's log, verbatim (op legacy), while *copied < budget. It
// reports whether every record of the tree is now in a log.
func (st *Store) convertTree(fs guest.RangeFS, tree string, copied *int, budget int) (bool, error) {
	orgs, err := st.names(nil, tree, true)
	if err != nil {
		return false, err
	}
	for _, o := range orgs {
		if o == "" {
			continue
		}
		idx, err := st.index(fs, o)
		if err != nil {
			return false, err
		}
		if idx.lost != 0 {
			// The damage may hold a later version of a key the tree holds:
			// its tree record must not be copied after it.
			return false, idx.lostErr()
		}
		var b batch
		flush := func() error {
			if len(b.frames) == 0 {
				return nil
			}
			err := appendLog(fs, idx, b.frames, b.news)
			b = batch{gen: idx.gen}
			return err
		}
		complete, err := st.walkTree(tree+"/"+o, func(p, d, key, file string) (bool, error) {
			if _, ok := idx.entry(entKey(p, d, key)); ok {
				return true, nil
			}
			if *copied >= budget {
				return false, nil
			}
			raw, err := fs.ReadFile(file)
			switch {
			case abi.StatusOf(err) == abi.NotFound:
				return true, nil
			case abi.StatusOf(err) == abi.Unavailable:
				return false, err
			case err != nil || len(raw) > maxFrame-1024:
				// Not readable as a record (a planted link, a FIFO, a file
				// too large): copied as an empty one, which reads as
				// damaged, as the file did.
				raw = nil
			}
			if idx.end < headerSize {
				if err := newLog(fs, logPath(idx.org), idx); err != nil {
					return false, err
				}
			}
			if b.gen != idx.gen {
				b = batch{gen: idx.gen}
			}
			b.add(opLegacy, &abi.Record{Scope: abi.Scope{Org: o, Project: p, Domain: d}, Key: key, Sealed: raw})
			*copied++
			if len(b.frames) >= writeChunk {
				return true, flush()
			}
			return true, nil
		})
		if ferr := flush(); err == nil {
			err = ferr
		}
		if err != nil || !complete {
			return false, err
		}
	}
	return true, nil
}

// walkTree calls fn for every record file of an organization's directory
// of format 1, in listing order, until fn returns false.
func (st *Store) walkTree(base string, fn func(project, domain, key, file string) (bool, error)) (bool, error) {
	projects, err := st.names(nil, base, true)
	if err != nil {
		return false, err
	}
	for _, p := range projects {
		domains, err := st.names(nil, base+"/"+part(p), true)
		if err != nil {
			return false, err
		}
		for _, d := range domains {
			dir := base + "/" + part(p) + "/" + part(d)
			keys, err := st.names(nil, dir, false)
			if err != nil {
				return false, err
			}
			for _, k := range keys {
				if ok, err := fn(p, d, k, dir+"/"+k); err != nil || !ok {
					return false, err
				}
			}
		}
	}
	return true, nil
}
