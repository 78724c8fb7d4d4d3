import { execFileSync } from 'node:child_process'

/**
 * The interpreter `python3` on PATH stands for, by its own path, looked up once. The contract tests
 * run the kit over a hundred times, and a version manager's `python3` (pyenv's shim) is a shell
 * script that starts several processes before Python itself: four times the wall time per run
 * here. Same interpreter, same kit, same environment; only the shim is left out.
 */
export const PYTHON = ((): string => {
  try {
    return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', timeout: 20_000 }).trim() || 'python3'
  } catch {
    return 'python3' // none there: each run then fails as it would have, with its own message
  }
})()
