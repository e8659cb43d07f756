import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const pkg = fileURLToPath(new URL('..', import.meta.url))

function newest(dir: string): number {
  let t = 0
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const s = statSync(p)
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs)
  }
  return t
}

/**
 * The scale-out test runs a server instance in a child process (so it can be SIGKILLed), from the built
 * `dist`; build it when it is missing or older than `src`.
 */
export default function setup(): void {
  let built = 0
  try {
    built = statSync(join(pkg, 'dist', '.tsbuildinfo')).mtimeMs
  } catch {
    built = 0
  }
  if (built >= newest(join(pkg, 'src'))) return
  try {
    execFileSync('npx', ['tsc', '-b'], { cwd: pkg, stdio: 'inherit' })
  } catch (err) {
    // type errors elsewhere (a dependency being edited) still emit our files; only a missing build is fatal
    statSync(join(pkg, 'dist', 'index.js'))
    console.warn(`tsc -b reported errors; testing the emitted dist anyway: ${String(err)}`)
  }
}
