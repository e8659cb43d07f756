import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

function run(args: string[]) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => {
    stdout += c
  })
  child.stderr.on('data', (c: Buffer) => {
    stderr += c
  })
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, exit, out: () => stdout, err: () => stderr }
}

describe('skipmesh-signal CLI', () => {
  it('prints its usage with --help', async () => {
    const p = run(['--help'])
    expect(await p.exit).toBe(0)
    expect(p.out()).toContain('--redis <url>')
    expect(p.out()).toContain('--origin <url>')
  })

  it('exits with status 2 on an unknown option', async () => {
    const p = run(['--no-such-flag'])
    expect(await p.exit).toBe(2)
    expect(p.err()).toContain('Usage')
  })

  it('documents the TURN flags and refuses --turn-url without a secret', async () => {
    const help = run(['--help'])
    expect(await help.exit).toBe(0)
    expect(help.out()).toContain('--turn-url <url>')
    const p = run(['--port', '0', '--turn-url', 'turn:t.example:3478'])
    expect(await p.exit).toBe(2)
    expect(p.err()).toContain('--turn-secret')
  })

  it('prints its URL, serves /healthz and shuts down gracefully on SIGTERM', async () => {
    const p = run(['--port', '0', '--log-level', 'warn'])
    const url = await new Promise<string>((resolve, reject) => {
      p.child.stdout.on('data', () => {
        const m = /listening on (http:\/\/\S+)/.exec(p.out())
        if (m?.[1] !== undefined) resolve(m[1])
      })
      p.exit.then((code) => reject(new Error(`exited with ${code}: ${p.err()}`)))
    })
    const res = await fetch(`${url}/healthz`)
    expect(res.status).toBe(200)
    p.child.kill('SIGTERM')
    expect(await p.exit).toBe(0)
  })
})
