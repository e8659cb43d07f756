/**
 * Fixtures of the consumer suite over what `global-setup.ts` made: the packed tarballs and the installed
 * throw-away app, and the app's own `skipmesh-signal` serving a build.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test as base } from '@playwright/test'
import type { Manifest, Tarball } from '../global-setup.js'
import { cleanEnv, type RunResult, run } from '../run.js'

export type { RunResult, Tarball }
export { run }

/** The installed throw-away app. */
export interface ConsumerApp {
  dir: string
  /** Runs a binary of the app's `node_modules/.bin` in the app directory. */
  bin(name: string, args: readonly string[]): Promise<RunResult>
}

function manifest(): Manifest {
  const file = process.env.SKIPMESH_CONSUMER_MANIFEST
  if (file === undefined) throw new Error('SKIPMESH_CONSUMER_MANIFEST is unset: global-setup.ts did not run')
  return JSON.parse(readFileSync(file, 'utf8'))
}

/** A `skipmesh-signal` process of the app serving `staticDir`; `url` once it listens. */
export interface SignalServer {
  url: string
  stop(): Promise<void>
}

/** Starts the app's `skipmesh-signal` (the packed CLI) on a free port, serving `staticDir`. */
export function startSignal(app: ConsumerApp, staticDir: string): Promise<SignalServer> {
  const child: ChildProcess = spawn(
    join(app.dir, 'node_modules/.bin/skipmesh-signal'),
    ['--port', '0', '--static', staticDir, '--log-level', 'warn'],
    { cwd: app.dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString()
    })
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1]
      if (url !== undefined) resolve({ url, stop })
    })
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`skipmesh-signal exited ${code}\n${out}\n${err}`)))
  })
}

export const test = base.extend<{ tarballs: Tarball[]; consumerApp: ConsumerApp }>({
  // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures take a destructuring first argument
  tarballs: async ({}, use) => {
    await use(manifest().tarballs)
  },
  // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures take a destructuring first argument
  consumerApp: async ({}, use) => {
    const { appDir, installError } = manifest()
    if (installError !== undefined) throw new Error(`the app could not be installed: ${installError}`)
    await use({
      dir: appDir,
      bin: (name, args) => run(join(appDir, 'node_modules/.bin', name), args, appDir),
    })
  },
})

export { expect } from '@playwright/test'
