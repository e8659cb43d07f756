#!/usr/bin/env node
// `prepack` of every published package (run by `npm pack` and `npm publish` in the package's directory, after
// `tsc -b`): removes build outputs whose source file is gone (tsc never deletes them, and they would be
// published), then copies the repository's LICENSE beside the package.json so the tarball carries it. The copy
// is git-ignored (`packages/*/LICENSE`); the root LICENSE is the one to edit.
import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'

const pkg = process.cwd()
const dist = join(pkg, 'dist')
const outputSuffixes = ['.d.ts.map', '.d.ts', '.js.map', '.js']

/** Every file under `dir`, recursively. */
function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* files(path)
    else yield path
  }
}

for (const file of files(dist)) {
  const suffix = outputSuffixes.find((s) => file.endsWith(s))
  if (suffix === undefined) continue
  const source = join(pkg, 'src', relative(dist, file).slice(0, -suffix.length))
  if (!existsSync(`${source}.ts`)) {
    console.error(`prepack: removing ${relative(pkg, file)} (its source is gone)`)
    rmSync(file)
  }
}
copyFileSync(new URL('../LICENSE', import.meta.url), join(pkg, 'LICENSE'))
