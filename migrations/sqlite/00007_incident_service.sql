-- The service an incident is about, from incidents.service_template when
-- it opens (package incidents); incidents are listed by it.

-- +goose Up
ALTER TABLE incidents ADD COLUMN service TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE incidents DROP COLUMN service;
