import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { joinAs, startServer } from './helpers.js'

const staticDir = fileURLToPath(new URL('./fixtures/static', import.meta.url))

/** A GET with the raw path (fetch would normalise `..` away). */
function rawGet(
  url: string,
  path: string,
): Promise<{ status: number; type: string | undefined; body: string }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('operations endpoints', () => {
  it('answers GET /healthz with 200 JSON', async () => {
    const server = await startServer()
    const res = await fetch(`${server.url}/healthz`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toMatchObject({
      status: 'ok',
      redis: 'disabled',
      instanceId: server.instanceId,
      sockets: 0,
    })
  })

  it('exposes sockets, rooms, joins, relayed signals and rejections in Prometheus format', async () => {
    const server = await startServer()
    const a = await joinAs(server.url, 'one')
    const b = await joinAs(server.url, 'one')
    await joinAs(server.url, 'two')
    await a.socket.timeout(5000).emitWithAck('signal', { to: b.id, session: 's', data: {} })
    await a.socket.timeout(5000).emitWithAck('signal', { to: 'f'.repeat(64), session: 's', data: {} })
    const res = await fetch(`${server.url}/metrics`)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await res.text()
    expect(text).toMatch(/^skipmesh_signal_connected_sockets 3$/m)
    expect(text).toMatch(/^skipmesh_signal_peers 3$/m)
    expect(text).toMatch(/^skipmesh_signal_rooms 2$/m)
    expect(text).toMatch(/^skipmesh_signal_joins_total 3$/m)
    expect(text).toMatch(/^skipmesh_signal_signals_relayed_total 1$/m)
    expect(text).toMatch(/^skipmesh_signal_signals_relayed_remote_total 0$/m)
    expect(text).toMatch(/^skipmesh_signal_rejections_total\{reason="unknown-peer"\} 1$/m)
  })

  it('keeps the metrics of two servers in one process apart', async () => {
    const s1 = await startServer()
    const s2 = await startServer()
    await joinAs(s1.url, 'x')
    expect(await s1.metrics()).toMatch(/^skipmesh_signal_joins_total 1$/m)
    expect(await s2.metrics()).toMatch(/^skipmesh_signal_joins_total 0$/m)
  })

  it('answers 404 for unknown paths without a static directory', async () => {
    const server = await startServer()
    expect((await fetch(`${server.url}/index.html`)).status).toBe(404)
  })
})

describe('static files', () => {
  it('serves files with their content type and index.html for / and extension-less paths', async () => {
    const server = await startServer({ staticDir })
    const root = await rawGet(server.url, '/')
    expect(root).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' })
    expect(root.body).toContain('<title>demo</title>')
    expect(await rawGet(server.url, '/app.js')).toMatchObject({
      status: 200,
      type: 'text/javascript; charset=utf-8',
    })
    expect(await rawGet(server.url, '/sub/style.css')).toMatchObject({
      status: 200,
      type: 'text/css; charset=utf-8',
    })
    expect((await rawGet(server.url, '/some/route')).body).toContain('<title>demo</title>')
    expect((await rawGet(server.url, '/missing.js')).status).toBe(404)
    expect((await rawGet(server.url, '/healthz')).type).toBe('application/json')
  })

  it('never serves files outside the directory', async () => {
    const server = await startServer({ staticDir })
    for (const path of [
      '/../outside/secret.txt',
      '/%2e%2e/outside/secret.txt',
      '/sub/..%2f..%2foutside%2fsecret.txt',
      '/..%5coutside%5csecret.txt',
      '/%00',
    ]) {
      const res = await rawGet(server.url, path)
      expect({ path, secret: res.body.includes('secret') }).toEqual({ path, secret: false })
    }
  })

  it('does not follow symlinks out of the directory', async () => {
    const base = mkdtempSync(join(tmpdir(), 'skipmesh-static-'))
    const outside = mkdtempSync(join(tmpdir(), 'skipmesh-outside-'))
    writeFileSync(join(base, 'index.html'), '<title>root</title>')
    writeFileSync(join(outside, 'secret.txt'), 'secret')
    symlinkSync(join(outside, 'secret.txt'), join(base, 'link.txt'))
    symlinkSync(outside, join(base, 'dir'))
    const server = await startServer({ staticDir: base })
    expect((await rawGet(server.url, '/link.txt')).status).toBe(404)
    expect((await rawGet(server.url, '/dir/secret.txt')).status).toBe(404)
    expect((await rawGet(server.url, '/')).body).toContain('root')
  })
})
