package storage

import (
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says the database cannot be reached for
// now — nothing listens, the network is down, the server is starting up
// or shutting down — rather than that something is wrong with Klaxon's
// configuration (a bad URL, a wrong password, a failed migration). The
// first kind passes by itself; waiting for it is right.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}
