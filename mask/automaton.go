package mask

import "slices"

// automaton is an Aho-Corasick automaton over a set of byte patterns, laid
// out flat so that scanning allocates nothing. Node 0 is the root.
//
// Transitions are kept sparse (a sorted run of edges per node), because a
// secret such as a session token is hundreds of bytes long and makes a
// long chain of nodes with one child each. The root, the nodes one and two
// bytes deep (where ordinary text spends most of its time) and nodes with
// many children get a full transition table instead, with the fail links
// resolved, so that a step from them is one lookup. The tables are indexed
// by byte class: bytes that occur in no pattern share one class, which
// keeps the tables small enough to stay in the CPU cache.
//
// Memory is about 30 bytes per node, and there is a node per byte of
// pattern (every form of every secret) not shared with another pattern's
// start: a secret of 4 KiB costs about 0.5 MB, one of 1 MiB about 140 MB.
type automaton struct {
	nodes []node
	// The edges: children of node u are ebyte[u.first:u.first+u.n] and
	// enext likewise, sorted by byte.
	ebyte []byte
	enext []int32
	// cls maps a byte to its class; ncls is the number of classes.
	cls  [256]uint8
	ncls int
	// trans holds the full tables, ncls entries each.
	trans  []int32
	pats   []pattern
	plen   []int32 // len(pats[k].text)
	maxLen int     // length of the longest pattern
}

// pattern is one byte string to find and what replaces it.
type pattern struct {
	text string
	repl []byte
}

type node struct {
	fail int32 // the node of the longest proper suffix that is in the trie
	// out is the longest pattern that ends here (at this node, or at the
	// nearest node on the fail chain that ends one); -1 for none.
	out int32
	// live is the depth of the deepest node on the fail chain, this node
	// included, that has children: the length of the longest suffix of the
	// text read that can still grow into a pattern.
	live  int32
	first int32 // first edge
	n     int32 // number of edges
	table int32 // offset of the node's full table in trans, or -1
}

// Nodes get a full table when they are at most tableDepth bytes deep or
// have at least tableChildren children.
const (
	tableDepth    = 2
	tableChildren = 8
)

// buildAutomaton builds the automaton of pats. Patterns must be non-empty
// and distinct.
func buildAutomaton(pats []pattern) *automaton {
	a := &automaton{pats: pats, plen: make([]int32, len(pats))}

	// Byte classes: class 0 for the bytes in no pattern, unless every
	// byte value occurs.
	var used [256]bool
	distinct := 0
	for k, p := range pats {
		a.plen[k] = int32(len(p.text))
		a.maxLen = max(a.maxLen, len(p.text))
		for i := 0; i < len(p.text); i++ {
			if !used[p.text[i]] {
				used[p.text[i]] = true
				distinct++
			}
		}
	}
	var rep []byte // a byte of each class
	if distinct < 256 {
		rep = append(rep, 0)
		for c := range used {
			if !used[c] {
				rep[0] = byte(c)
				break
			}
		}
	}
	for c := range used {
		if used[c] {
			a.cls[c] = uint8(len(rep))
			rep = append(rep, byte(c))
		}
	}
	a.ncls = len(rep)

	// The trie, children as linked lists of siblings, in flat slices so
	// that a long secret does not cost an allocation per byte.
	// The number of nodes is at most one more than the pattern bytes.
	most := 1
	for _, p := range pats {
		most += len(p.text)
	}
	var (
		label   = append(make([]byte, 0, most), 0)   // byte on the edge into the node
		depth   = append(make([]int32, 0, most), 0)  // bytes from the root
		term    = append(make([]int32, 0, most), -1) // pattern that ends at the node, or -1
		child   = append(make([]int32, 0, most), -1) // first child
		sibling = append(make([]int32, 0, most), -1) // next sibling
		nkids   = append(make([]int32, 0, most), 0)  // number of children
		u, v    int32
	)
	for pi, p := range pats {
		u = 0
		for i := 0; i < len(p.text); i++ {
			c := p.text[i]
			for v = child[u]; v >= 0 && label[v] != c; v = sibling[v] {
			}
			if v < 0 {
				v = int32(len(label))
				label = append(label, c)
				depth = append(depth, depth[u]+1)
				term = append(term, -1)
				child = append(child, -1)
				sibling = append(sibling, child[u])
				nkids = append(nkids, 0)
				child[u] = v
				nkids[u]++
			}
			u = v
		}
		term[u] = int32(pi)
	}

	// Flatten: edges sorted by byte, tables for shallow and wide nodes.
	n := len(label)
	a.nodes = make([]node, n)
	a.ebyte = make([]byte, 0, n-1)
	a.enext = make([]int32, 0, n-1)
	var kids []int32
	for u := range n {
		kids = kids[:0]
		for v := child[u]; v >= 0; v = sibling[v] {
			kids = append(kids, v)
		}
		slices.SortFunc(kids, func(x, y int32) int { return int(label[x]) - int(label[y]) })
		nd := node{first: int32(len(a.ebyte)), n: nkids[u], out: term[u], table: -1}
		for _, v := range kids {
			a.ebyte = append(a.ebyte, label[v])
			a.enext = append(a.enext, v)
		}
		if depth[u] <= tableDepth || nkids[u] >= tableChildren {
			nd.table = int32(len(a.trans))
			for range a.ncls {
				a.trans = append(a.trans, -1)
			}
			for _, v := range kids {
				a.trans[int(nd.table)+int(a.cls[label[v]])] = v
			}
		}
		a.nodes[u] = nd
	}
	label, term, child, sibling, nkids = nil, nil, nil, nil, nil

	// Fail links, breadth first, so that every fail target is complete
	// before it is used.
	order := make([]int32, 0, n)
	order = append(order, 0)
	for k := 0; k < len(order); k++ {
		u := order[k]
		un := a.nodes[u]
		for e := un.first; e < un.first+un.n; e++ {
			v := a.enext[e]
			f := int32(0)
			if u != 0 {
				f = a.next(un.fail, a.ebyte[e])
			}
			vn := &a.nodes[v]
			vn.fail = f
			if vn.out < 0 {
				vn.out = a.nodes[f].out
			}
			if vn.n > 0 {
				vn.live = depth[v]
			} else {
				vn.live = a.nodes[f].live
			}
			order = append(order, v)
		}
	}

	// Complete the tables: a class with no child goes where the fail chain
	// leads. Shallower nodes come first in order, so whatever next reads on
	// the way is final already.
	for _, u := range order {
		nd := &a.nodes[u]
		if nd.table < 0 {
			continue
		}
		tab := a.trans[nd.table : int(nd.table)+a.ncls]
		for k := range tab {
			if tab[k] < 0 {
				if u == 0 {
					tab[k] = 0
				} else {
					tab[k] = a.next(nd.fail, rep[k])
				}
			}
		}
	}
	return a
}

// next returns the state after reading c in state u.
func (a *automaton) next(u int32, c byte) int32 {
	for {
		nd := &a.nodes[u]
		if nd.table >= 0 {
			if v := a.trans[int(nd.table)+int(a.cls[c])]; v >= 0 {
				return v
			}
			// Only while buildAutomaton completes the tables.
		} else {
			for e := nd.first; e < nd.first+nd.n; e++ {
				if b := a.ebyte[e]; b == c {
					return a.enext[e]
				} else if b > c {
					break
				}
			}
		}
		if u == 0 {
			return 0
		}
		u = nd.fail
	}
}
