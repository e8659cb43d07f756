/**
 * Once per run, before any test: `npm pack` of every published workspace, then a throw-away app outside the
 * repository that installs the tarballs (and Vite and esbuild from the registry) as a new user would. What it
 * made is described in a manifest whose path goes to the tests in `SKIPMESH_CONSUMER_MANIFEST`; the returned
 * teardown removes it all. Done here rather than in worker fixtures so that a failing test, which restarts the
 * worker, does not pack and install again.
 *
 * @module
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { check, run } from './run.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const template = fileURLToPath(new URL('./app', import.meta.url))

/** One packed package. */
export interface Tarball {
  name: string
  /** Absolute path of the `.tgz`. */
  file: string
  /** Paths inside the tarball, without the leading `package/`. */
  entries: string[]
}

/** What the global setup made. */
export interface Manifest {
  tarballs: Tarball[]
  /** The installed app's directory. */
  appDir: string
  /** Why the app could not be installed (the tarball checks still run). */
  installError?: string
}

/** The workspaces under `packages/` that are published (not private), as the root package.json lists them. */
export function publishedWorkspaces(): Array<{ path: string; name: string }> {
  const workspaces: string[] = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces
  return workspaces.flatMap((path) => {
    if (!path.startsWith('packages/')) return []
    const pkg = JSON.parse(readFileSync(join(root, path, 'package.json'), 'utf8'))
    return pkg.private === true ? [] : [{ path, name: pkg.name as string }]
  })
}

/** `npm pack` of every published workspace (its `prepack` builds it and copies the LICENSE) into `dest`. */
async function packAll(dest: string): Promise<Tarball[]> {
  const workspaces = publishedWorkspaces()
  const args = [
    'pack',
    '--json',
    '--pack-destination',
    dest,
    ...workspaces.map((ws) => `--workspace=${ws.path}`),
  ]
  const res = check('npm pack', await run('npm', args, root))
  // lifecycle output may precede the JSON array
  const packed: Array<{ name: string; filename: string }> = JSON.parse(
    res.stdout.slice(res.stdout.search(/^\[/m)),
  )
  return Promise.all(
    packed.map(async ({ name, filename }) => {
      const file = join(dest, filename)
      const list = check(`tar -tzf ${filename}`, await run('tar', ['-tzf', file], dest))
      const entries = list.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.replace(/^package\//, ''))
      return { name, file, entries }
    }),
  )
}

/** A fresh app in `dir`: the template's files, the tarballs as dependencies (and overrides), `npm install`. */
async function installApp(dir: string, tarballs: readonly Tarball[]): Promise<void> {
  mkdirSync(dir)
  for (const f of ['index.html', 'main.js']) copyFileSync(join(template, f), join(dir, f))
  const pkg = JSON.parse(readFileSync(join(template, 'package.json'), 'utf8'))
  const deps = Object.fromEntries(tarballs.map((t) => [t.name, `file:${t.file}`]))
  // overrides: a dependency between our packages must resolve to its tarball, never to a registry version
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ ...pkg, dependencies: deps, overrides: deps }, null, 2),
  )
  check(
    'npm install',
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], dir),
  )
}

export default async function globalSetup(): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'skipmesh-consumer-'))
  const teardown = (): void => rmSync(dir, { recursive: true, force: true })
  try {
    const packs = join(dir, 'packs')
    mkdirSync(packs)
    const manifest: Manifest = { tarballs: await packAll(packs), appDir: join(dir, 'app') }
    try {
      await installApp(manifest.appDir, manifest.tarballs)
    } catch (err) {
      manifest.installError = err instanceof Error ? err.message : String(err)
    }
    const file = join(dir, 'manifest.json')
    writeFileSync(file, JSON.stringify(manifest))
    process.env.SKIPMESH_CONSUMER_MANIFEST = file
    return teardown
  } catch (err) {
    teardown()
    throw err
  }
}
