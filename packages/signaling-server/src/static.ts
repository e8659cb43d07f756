/**
 * A small static file handler for the demo: files under one directory, `index.html` for directories and as the
 * fallback for extension-less paths, content types by extension, no path traversal (symlinks included).
 *
 * @module
 */
import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, resolve, sep } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
}

/** Content type of a file name, by extension. */
export function contentType(file: string): string {
  return TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream'
}

/** A request handler serving `dir`; resolves false when the request is not a GET/HEAD it can answer. */
export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>

async function fileUnder(root: string, candidate: string): Promise<string | undefined> {
  try {
    let real = await realpath(candidate)
    if (real !== root && !real.startsWith(root + sep)) return undefined
    let info = await stat(real)
    if (info.isDirectory()) {
      real = await realpath(join(real, 'index.html'))
      if (!real.startsWith(root + sep)) return undefined
      info = await stat(real)
    }
    return info.isFile() ? real : undefined
  } catch {
    return undefined
  }
}

/** Creates the handler for `dir` (resolved once; it must exist when requests arrive). */
export function createStaticHandler(dir: string): StaticHandler {
  const base = resolve(dir)
  let rootPromise: Promise<string> | undefined
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    rootPromise ??= realpath(base)
    let root: string
    try {
      root = await rootPromise
    } catch {
      rootPromise = undefined
      return false
    }
    let pathname: string
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    } catch {
      return false
    }
    if (pathname.includes('\0')) return false
    const candidate = resolve(root, `.${pathname}`)
    if (candidate !== root && !candidate.startsWith(root + sep)) return false
    let file = await fileUnder(root, candidate)
    if (file === undefined && extname(pathname) === '') file = await fileUnder(root, join(root, 'index.html'))
    if (file === undefined) return false
    const info = await stat(file)
    res.writeHead(200, {
      'content-type': contentType(file),
      'content-length': info.size,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    })
    if (req.method === 'HEAD') {
      res.end()
      return true
    }
    const stream = createReadStream(file)
    stream.on('error', () => res.destroy())
    stream.pipe(res)
    return true
  }
}
