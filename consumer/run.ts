/**
 * Child processes for the consumer suite, run outside the `npm test` that started us.
 *
 * @module
 */
import { spawn } from 'node:child_process'

/** What a finished command printed, and how it ended. */
export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Variables the `npm test` that runs us sets for its scripts and a child npm should still see. */
const keptNpmVariables = new Set(['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig'])

/**
 * The environment without the lower-case `npm_*` variables that npm sets for the script running us (workspace,
 * package and lifecycle settings would steer child npms), except the registry and cache settings.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') || keptNpmVariables.has(k)),
  )
}

/** Runs `cmd` to completion and collects its output. */
export function run(cmd: string, args: readonly string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Throws with the command's output unless it exited 0. */
export function check(what: string, res: RunResult): RunResult {
  if (res.code !== 0) throw new Error(`${what} exited ${res.code}\n${res.stdout}\n${res.stderr}`)
  return res
}
