import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const SOURCES = ['src', 'prisma', 'console/src', 'console/index.html', 'console/tsconfig.json', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'prisma.config.ts',
  'packages/session-reader/src', 'packages/session-reader/package.json', 'packages/session-reader/tsconfig.json']
/** What scripts/build.sh makes, each with its stamp (npm test builds before the tests run). */
const BUILT = ['dist', 'console/dist', 'packages/session-reader/dist', 'src/generated']

/**
 * A copy of the project to build and change without touching the real one (other tests run from
 * it): its sources, and its build too unless `fresh` (a fresh clone); node_modules is shared.
 */
export function projectCopy (t: Test, { fresh }: { fresh: boolean }): string {
  const copy = mkdtempSync(join(tmpdir(), 'gh-project-'))
  t.teardown(() => rmSync(copy, { recursive: true, force: true }))
  for (const path of SOURCES) cpSync(join(ROOT, path), join(copy, path), { recursive: true, filter: (from) => !from.includes('/src/generated') })
  if (!fresh) for (const path of BUILT) if (existsSync(join(ROOT, path))) cpSync(join(ROOT, path), join(copy, path), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'))
  return copy
}

/** PATH as npm run gives it to the scripts: the project's binaries (tsc, prisma) first. */
export const npmPath = () => `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}`
