// Package migrations embeds Klaxon's SQL schema migrations, one directory per
// dialect with the same version numbers, applied at start by package storage.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
