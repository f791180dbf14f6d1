package router

import (
	"slices"
	"unsafe"

	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/common/model"
)

// maxCachedGroupIDs bounds groupIDs; the cache is emptied when full.
const maxCachedGroupIDs = 1 << 16

// groupIDs remembers groupIdentity's results by route and the values of
// the route's group_by labels, which is all they depend on: every alert
// of a group re-sent computes the same key and hash, and the ingest path
// does that for every alert of every batch. It is used under r.mu and is
// valid for one routing tree.
type groupIDs struct {
	tree    *dispatch.Route
	entries map[string]groupIdent
	names   map[*dispatch.Route][]model.LabelName // group_by, sorted
	buf     []byte
}

type groupIdent struct {
	id, key string
	labels  model.LabelSet // shared by the callers: not to be modified
}

// identity returns groupIdentity(rt, lset) for a route of tree.
func (c *groupIDs) identity(tree, rt *dispatch.Route, lset model.LabelSet) (id, key string, labels model.LabelSet) {
	if rt.RouteOpts.GroupByAll {
		// The key holds every label: nothing to share between alerts.
		return groupIdentity(rt, lset)
	}
	if c.tree != tree || len(c.entries) >= maxCachedGroupIDs {
		if c.tree != tree {
			c.names = map[*dispatch.Route][]model.LabelName{}
		}
		c.tree = tree
		c.entries = map[string]groupIdent{}
	}
	names, ok := c.names[rt]
	if !ok {
		for ln := range rt.RouteOpts.GroupBy {
			names = append(names, ln)
		}
		slices.Sort(names)
		c.names[rt] = names
	}
	// The cache key: the route (its address, stable while tree is in use)
	// and each group_by label's presence and value.
	b := c.buf[:0]
	p := uintptr(unsafe.Pointer(rt))
	for i := range 8 {
		b = append(b, byte(p>>(8*i)))
	}
	for _, ln := range names {
		if v, ok := lset[ln]; ok {
			b = append(b, 1)
			b = append(b, v...)
		}
		b = append(b, 0xff) // never part of a valid UTF-8 value
	}
	c.buf = b
	if e, ok := c.entries[string(b)]; ok {
		return e.id, e.key, e.labels
	}
	id, key, labels = groupIdentity(rt, lset)
	c.entries[string(b)] = groupIdent{id, key, labels}
	return id, key, labels
}
