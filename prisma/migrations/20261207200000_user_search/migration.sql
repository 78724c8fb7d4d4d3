-- The admin's user list and search (GET /admin/users, src/users/user-list.ts). Plain CREATE INDEX,
-- not CONCURRENTLY: each migration runs in one transaction (src/db/migrate.ts). It holds off
-- sign-ups and other writes to users while the indexes build: some seconds at 1,000,000 users
-- (docs/ops.md, docs/performance.md).

-- CreateExtension
-- Trusted since PostgreSQL 13: the database's owner may create it, no superuser needed (docs/ops.md).
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- CreateIndex
-- "Contains" search, `email LIKE '%bob%'`, for queries of 3 characters or more (a trigram's length).
CREATE INDEX "users_email_trgm_idx" ON "users" USING GIN ("email" gin_trgm_ops);

-- CreateIndex
-- Prefix search, `email LIKE 'bo%'`, for queries of 1 or 2 characters, which have no trigram. Emails
-- are stored lower-cased, so the column itself is the lower-cased email. text_pattern_ops because
-- under a collation other than C (en_US.UTF-8, and also C.UTF-8 before PostgreSQL 17) the unique
-- index on email cannot serve LIKE at all; the trigram index can serve a 1- or 2-character prefix
-- only by reading every row (measured in docs/performance.md, "User search at 1,000,000 users").
CREATE INDEX "users_email_prefix_idx" ON "users"("email" text_pattern_ops);

-- CreateIndex
-- The list, newest first, a page at a time from a (created_at, id) cursor: both columns, so that
-- users created in the same millisecond still page without gaps or repeats.
CREATE INDEX "users_created_at_id_idx" ON "users"("created_at" DESC, "id" DESC);
