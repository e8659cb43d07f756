// Builds of the skip graph to compare in one benchmark run: the package's current source, and the same source
// with some files as they were at a git commit (the code a change replaced), each transpiled (no type check)
// into the package's .scratch/ directory (git-ignored), where @skipmesh/core and msgpackr resolve as from src.

import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The `.ts` files under `dir`, as paths relative to it. */
function sources(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return sources(path, base)
    return e.name.endsWith('.ts') ? [relative(base, path)] : []
  })
}

/**
 * Transpiles the package's `src/` into `.scratch/<name>/`, with the files named in `fromRef` (paths relative to
 * `src/`) taken from git commit `ref` instead, then `patch(path, text)` applied to each file; returns the build's
 * `index.js` and `testing/index.js`, imported.
 * @param {{ name: string, ref?: string, fromRef?: string[], patch?: (path: string, text: string) => string }} spec
 */
export async function buildVariant({ name, ref, fromRef = [], patch = (_p, text) => text }) {
  const out = join(pkg, '.scratch', name)
  rmSync(out, { recursive: true, force: true })
  const src = join(pkg, 'src')
  for (const file of sources(src)) {
    let text = fromRef.includes(file)
      ? execFileSync('git', ['show', `${ref}:packages/skipgraph/src/${file}`], { cwd: pkg, encoding: 'utf8' })
      : readFileSync(join(src, file), 'utf8')
    text = patch(file, text)
    const js = ts.transpileModule(text, {
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        verbatimModuleSyntax: true,
      },
      fileName: file,
    }).outputText
    const target = join(out, file.replace(/\.ts$/, '.js'))
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, js)
  }
  return {
    main: await import(pathToFileURL(join(out, 'index.js')).href),
    testing: await import(pathToFileURL(join(out, 'testing', 'index.js')).href),
  }
}

/** The short hash of `ref`. */
export function shortRef(ref) {
  return execFileSync('git', ['rev-parse', '--short', ref], { cwd: pkg, encoding: 'utf8' }).trim()
}
