package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// idFile holds a replica's id in its storage directory.
const idFile = "cluster-replica-id"

// NewID returns a random replica id.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// StableID returns the replica id kept in dir, creating it on first use,
// and a Closer that gives it up. A process restarted after a crash on the
// same directory (a container restarted in its pod) comes back as the same
// replica and takes its slots back at once, instead of waiting for their
// lease to run out. The file is locked while the process lives, so that a
// second process on the same directory gets an id of its own: two
// processes with one id would both believe they hold its slots.
func StableID(dir string) (string, io.Closer, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", nil, fmt.Errorf("replica id: %w", err)
	}
	path := filepath.Join(dir, idFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", nil, fmt.Errorf("replica id: %w", err)
	}
	if !lockFile(f) {
		f.Close()
		return NewID(), io.NopCloser(nil), nil
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return "", nil, fmt.Errorf("replica id %s: %w", path, err)
	}
	id := strings.TrimSpace(string(b))
	if len(id) != 16 {
		id = NewID()
		err := f.Truncate(0)
		if err == nil {
			_, err = f.WriteAt([]byte(id+"\n"), 0)
		}
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return "", nil, fmt.Errorf("replica id %s: %w", path, err)
		}
	}
	return id, f, nil
}
