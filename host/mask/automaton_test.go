package mask

// The Aho-Corasick automaton the matcher replaced, kept as the baseline of
// BenchmarkBuild and BenchmarkScan.

// automaton is an Aho–Corasick matcher over a set of byte patterns.
//
// The root has a dense transition table; every other state keeps only its
// trie edges, sorted by byte, and falls back along failure links. Feeding a
// byte is O(1) amortised: it deepens the state by at most one, and every
// failure step makes it shallower. Memory is a few words per pattern byte,
// so long values (PEM keys and their encodings) stay cheap.
type automaton struct {
	root   [256]int32 // full transition table of state 0
	depth  []int32    // length of the state's string
	fail   []int32    // longest proper suffix that is also a state
	out    []int32    // length of the longest pattern that is a suffix; 0 if none
	edge   []int32    // edges of state s are edgeB/edgeTo[edge[s]:edge[s+1]]
	edgeB  []byte
	edgeTo []int32
	maxLen int
}

// newAutomaton builds the matcher; empty patterns are ignored.
func newAutomaton(patterns [][]byte) *automaton {
	// Build the trie with per-state child lists, then flatten it.
	type child struct {
		b  byte
		to int32
	}
	kids := [][]child{nil}
	depth := []int32{0}
	term := []int32{0}
	maxLen := 0
	for _, p := range patterns {
		s := int32(0)
		for _, b := range p {
			next := int32(-1)
			for _, c := range kids[s] {
				if c.b == b {
					next = c.to
					break
				}
			}
			if next < 0 {
				next = int32(len(kids))
				kids = append(kids, nil)
				depth = append(depth, depth[s]+1)
				term = append(term, 0)
				kids[s] = append(kids[s], child{b, next})
			}
			s = next
		}
		if len(p) > 0 {
			term[s] = int32(len(p))
			maxLen = max(maxLen, len(p))
		}
	}

	n := len(kids)
	a := &automaton{
		depth:  depth,
		fail:   make([]int32, n),
		out:    make([]int32, n),
		edge:   make([]int32, n+1),
		maxLen: maxLen,
	}
	for s := range kids {
		a.edge[s] = int32(len(a.edgeB))
		ks := kids[s]
		// Insertion sort: child lists are short and mostly of length one.
		for i := 1; i < len(ks); i++ {
			for j := i; j > 0 && ks[j].b < ks[j-1].b; j-- {
				ks[j], ks[j-1] = ks[j-1], ks[j]
			}
		}
		for _, c := range ks {
			a.edgeB = append(a.edgeB, c.b)
			a.edgeTo = append(a.edgeTo, c.to)
		}
	}
	a.edge[n] = int32(len(a.edgeB))

	// Breadth-first: failure links and outputs of a state depend only on
	// shallower states.
	for _, c := range kids[0] {
		a.root[c.b] = c.to
	}
	queue := make([]int32, 0, n)
	for _, c := range kids[0] {
		a.fail[c.to] = 0
		a.out[c.to] = term[c.to]
		queue = append(queue, c.to)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, c := range kids[s] {
			f := a.next(a.fail[s], c.b)
			a.fail[c.to] = f
			a.out[c.to] = term[c.to]
			if a.out[c.to] == 0 {
				a.out[c.to] = a.out[f]
			}
			queue = append(queue, c.to)
		}
	}
	return a
}

// next is the transition function.
func (a *automaton) next(s int32, b byte) int32 {
	for s != 0 {
		lo, hi := a.edge[s], a.edge[s+1]
		if hi-lo <= 8 {
			for i := lo; i < hi; i++ {
				if a.edgeB[i] == b {
					return a.edgeTo[i]
				}
			}
		} else {
			for lo < hi {
				m := int32(uint32(lo+hi) >> 1)
				if a.edgeB[m] < b {
					lo = m + 1
				} else {
					hi = m
				}
			}
			if lo < a.edge[s+1] && a.edgeB[lo] == b {
				return a.edgeTo[lo]
			}
		}
		s = a.fail[s]
	}
	return a.root[b]
}
