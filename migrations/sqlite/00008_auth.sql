-- Access control (package auth): local users, browser sessions, API tokens
-- and login failures for rate limiting. Times are integer milliseconds
-- since the Unix epoch (0 = unset). No secret is stored in the clear:
-- passwords are bcrypt hashes, session ids and token secrets SHA-256
-- hashes.

-- +goose Up
CREATE TABLE auth_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- A session is found by the SHA-256 of its cookie value, so a copy of the
-- table does not log anyone in. It ends when idle past the idle timeout
-- (last_seen_at) or at expires_at, whichever comes first.
CREATE TABLE auth_sessions (
    id_hash      TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES auth_users (name) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_name);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);

-- API tokens: the secret is shown once; only its SHA-256 is kept. A name
-- is unique among tokens not revoked.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    expires_at   BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at = 0;

-- Failed logins per key ("ip:…" or "user:…"): the count of failures in a
-- row and until when the key is locked out.
CREATE TABLE auth_login_failures (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_failure BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE auth_login_failures;
DROP TABLE api_tokens;
DROP TABLE auth_sessions;
DROP TABLE auth_users;
