import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkPackage, createPackageFromTarballData } from '@arethetypeswrong/core'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'
import { publishedWorkspaces } from '../global-setup.js'
import { expect, run, type Tarball, test } from './fixtures.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** Why `entry` (a path in a tarball) should not be published, or undefined when it belongs there. */
function unwanted(entry: string): string | undefined {
  if (['package.json', 'README.md', 'LICENSE'].includes(entry)) return undefined
  if (!entry.startsWith('dist/')) return 'outside dist'
  if (entry.endsWith('.tsbuildinfo')) return 'build info'
  if (entry.endsWith('.map')) return 'source map (its sources are not published)'
  if (/(^|\/)(test|tests|__tests__)\/|\.(test|spec)\.[cm]?[jt]s$/.test(entry)) return 'a test'
  return undefined
}

/** The packages are ESM only: CommonJS `require` and node10 resolution are out of scope by design. */
const ignoredResolutions = new Set(['node10', 'node16-cjs'])

for (const { name, path } of publishedWorkspaces()) {
  test.describe(name, () => {
    let tarball: Tarball
    test.beforeEach(({ tarballs }) => {
      const t = tarballs.find((x) => x.name === name)
      if (t === undefined) throw new Error(`${name} was not packed`)
      tarball = t
    })

    test('its tarball holds only dist, README, LICENSE and package.json', () => {
      const bad = tarball.entries.flatMap((e) => {
        const why = unwanted(e)
        return why === undefined ? [] : [`${e}: ${why}`]
      })
      expect(bad).toEqual([])
      for (const required of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts']) {
        expect(tarball.entries).toContain(required)
      }
    })

    test('every module in its tarball is built from a source file the package still has', () => {
      // tsc -b never deletes the output of a removed source file; prepack must, or it would be published
      const orphans = tarball.entries.filter((e) => {
        const base = /^dist\/(.+?)(\.d\.ts|\.js)$/.exec(e)?.[1]
        return base !== undefined && !existsSync(join(root, path, 'src', `${base}.ts`))
      })
      expect(orphans).toEqual([])
    })

    test('its tarball carries the repository LICENSE, MIT as package.json says', async () => {
      const license = readFileSync(join(root, 'LICENSE'), 'utf8')
      expect(license).toMatch(/^MIT License\n\nCopyright \(c\) 2026 The skipmesh authors\n/)
      const packed = await run('tar', ['-xzOf', tarball.file, 'package/LICENSE'], root)
      expect(packed.code).toBe(0)
      expect(packed.stdout).toBe(license)
      const pkg = JSON.parse((await run('tar', ['-xzOf', tarball.file, 'package/package.json'], root)).stdout)
      expect(pkg.license).toBe('MIT')
    })

    test('publint reports nothing for its tarball, suggestions included', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'skipmesh-publint-'))
      try {
        expect((await run('tar', ['-xzf', tarball.file, '-C', dir], root)).code).toBe(0)
        const pkgDir = join(dir, 'package')
        const { messages, pkg } = await publint({ pkgDir, pack: false, level: 'suggestion', strict: true })
        expect(messages.map((m) => `${m.type} ${m.code}: ${formatMessage(m, pkg) ?? ''}`)).toEqual([])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })

    test('are-the-types-wrong finds typed entry points and no problem for ESM importers (node16, bundler)', async () => {
      const analysis = await checkPackage(createPackageFromTarballData(readFileSync(tarball.file)))
      if (analysis.types === false) throw new Error(`${name} ships no types`)
      const problems = analysis.problems.filter(
        (p) => !('resolutionKind' in p) || !ignoredResolutions.has(p.resolutionKind),
      )
      expect(problems).toEqual([])
      expect(Object.keys(analysis.entrypoints)).toContain('.')
    })
  })
}
