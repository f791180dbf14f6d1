//go:build !unix

package cluster

import "os"

// lockFile cannot lock here: every process gets an id of its own.
func lockFile(*os.File) bool { return false }
