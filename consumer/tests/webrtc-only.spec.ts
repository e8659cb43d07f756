import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, run, test } from './fixtures.js'

/** Server-side packages a browser app must never install (the signaling server and what only it needs). */
const SERVER_ONLY = [
  '@skipmesh/signaling-server',
  'socket.io',
  '@socket.io/redis-adapter',
  'redis',
  '@redis/client',
  'prom-client',
  'rate-limiter-flexible',
]

interface LsNode {
  dependencies?: Record<string, LsNode>
}

/** Every package name in an `npm ls --all --json` tree. */
function names(node: LsNode, out = new Set<string>()): Set<string> {
  for (const [name, child] of Object.entries(node.dependencies ?? {})) {
    out.add(name)
    names(child, out)
  }
  return out
}

test('an app that installs only @skipmesh/webrtc gets no server code', async ({ tarballs }) => {
  test.setTimeout(180_000)
  const dir = mkdtempSync(join(tmpdir(), 'skipmesh-webrtc-only-'))
  try {
    const file = (name: string): string => {
      const t = tarballs.find((x) => x.name === name)
      if (t === undefined) throw new Error(`${name} was not packed`)
      return `file:${t.file}`
    }
    // our own packages resolve to their tarballs, never to a registry version
    const overrides = Object.fromEntries(
      ['@skipmesh/core', '@skipmesh/signaling-protocol'].map((n) => [n, file(n)]),
    )
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'webrtc-only',
        private: true,
        type: 'module',
        dependencies: { '@skipmesh/webrtc': file('@skipmesh/webrtc') },
        overrides,
      }),
    )
    const install = await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
      dir,
    )
    expect(install.code, install.stderr).toBe(0)
    const ls = await run('npm', ['ls', '--all', '--json'], dir)
    expect(ls.code, ls.stderr).toBe(0)
    const installed = names(JSON.parse(ls.stdout) as LsNode)
    expect(installed.has('@skipmesh/webrtc')).toBe(true)
    expect(installed.has('socket.io-client')).toBe(true)
    expect(SERVER_ONLY.filter((n) => installed.has(n))).toEqual([])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
