package fsgrant

import "os"

// readDirFile lists the open directory f. (On Linux, getdents64 gives each
// entry's type without the lstat that os.File.ReadDir makes per name in an
// os.Root; macOS keeps the portable path.)
func readDirFile(f *os.File) ([]rawEntry, error) {
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := make([]rawEntry, 0, len(ents))
	for _, e := range ents {
		k := kindOther
		switch t := e.Type(); {
		case t.IsDir():
			k = kindDir
		case t.IsRegular():
			k = kindFile
		}
		out = append(out, rawEntry{name: e.Name(), kind: k})
	}
	return out, nil
}
