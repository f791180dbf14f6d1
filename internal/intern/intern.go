// Package intern shares the strings that repeat across alerts — label
// names and values, from one re-send to the next and from alert to alert —
// so that decoding an alert allocates no new strings for them and the
// alerts held in memory share one copy. Ingest and the router's store use
// the same table, so alerts loaded at start and alerts received later
// share their strings too.
package intern

import (
	"hash/maphash"
	"sync"
)

// MaxLen bounds the strings shared: long annotation texts rarely repeat.
const MaxLen = 128

// shardSize bounds each shard; a full shard is emptied, so that the table
// holds at most len(table)*shardSize strings however many distinct values
// pass through.
const shardSize = 1 << 12

// table maps strings to their shared copy. Lookups with a []byte key
// converted in the index expression do not allocate.
var table [16]struct {
	mu sync.RWMutex
	m  map[string]string
	_  [32]byte // keeps shards on separate cache lines
}

var seed = maphash.MakeSeed()

// Bytes returns b as a string shared with earlier copies of the same bytes.
// Strings longer than MaxLen are copied, not shared.
func Bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > MaxLen {
		return string(b)
	}
	sh := &table[maphash.Bytes(seed, b)%uint64(len(table))]
	sh.mu.RLock()
	v, ok := sh.m[string(b)]
	sh.mu.RUnlock()
	if ok {
		return v
	}
	v = string(b)
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= shardSize {
		sh.m = make(map[string]string, shardSize)
	}
	sh.m[v] = v
	sh.mu.Unlock()
	return v
}
