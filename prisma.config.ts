import { defineConfig } from 'prisma/config'

// The CLI needs a URL only for commands that talk to the database (never for
// `prisma generate`), so fall back to the same local default as the service.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/gatehouse',
  },
})
