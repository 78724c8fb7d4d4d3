-- The admin's user list and search (GET /admin/users, src/users/user-list.ts). Plain CREATE INDEX,
-- not CONCURRENTLY: each migration runs in one transaction (src/db/migrate.ts). It holds off
-- sign-ups and other writes to users while the indexes build, about 25 s at 1,000,000 users on a
-- small machine (docs/performance.md). IF NOT EXISTS: on a large table, ops may build them first
-- with CREATE INDEX CONCURRENTLY, under these names and definitions (docs/ops.md, "Migrations").

-- CreateExtension
-- Trusted since PostgreSQL 13: the database's owner may create it, no superuser needed (docs/ops.md).
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- CreateIndex
-- "Contains" search, `email LIKE '%bob%'`, for queries of 3 characters or more (a trigram's length).
CREATE INDEX IF NOT EXISTS "users_email_trgm_idx" ON "users" USING GIN ("email" gin_trgm_ops);

-- CreateIndex
-- Prefix search, `email LIKE 'bo%'`, for queries of 1 or 2 characters, which make no whole trigram.
-- Emails are stored lower-cased, so the column itself is the lower-cased email. text_pattern_ops
-- because under a collation other than C (en_US.UTF-8; C.UTF-8 on PostgreSQL 15 too, checked) the
-- unique index on email cannot serve LIKE at all. The trigram index alone was measured instead: it
-- finds `co%` only among every email with a word starting so (each `.com`), 220 ms at 1,000,000
-- users against 0.03 ms with this one (docs/performance.md, "User search at 1,000,000 users").
CREATE INDEX IF NOT EXISTS "users_email_prefix_idx" ON "users"("email" text_pattern_ops);

-- CreateIndex
-- The list, newest first, a page at a time from a (created_at, id) cursor: both columns, so that
-- users created in the same millisecond still page without gaps or repeats.
CREATE INDEX IF NOT EXISTS "users_created_at_id_idx" ON "users"("created_at" DESC, "id" DESC);
