package cluster

import (
	"testing"
)

// TestStableID checks that a replica keeps its id across restarts on one
// storage directory, and that a second process on the directory while the
// first lives gets an id of its own.
func TestStableID(t *testing.T) {
	dir := t.TempDir()
	first, lock, err := StableID(dir)
	if err != nil || len(first) != 16 {
		t.Fatalf("first id %q: %v", first, err)
	}
	other, otherLock, err := StableID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if other == first {
		t.Fatalf("a second live process got the first one's id %s", first)
	}
	otherLock.Close()
	lock.Close() // the process ends
	again, lock, err := StableID(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if again != first {
		t.Fatalf("after a restart: id %s, want %s", again, first)
	}
}
