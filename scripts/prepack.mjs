#!/usr/bin/env node
// `prepack` of every published package (run by `npm pack` and `npm publish` in the package's directory, after
// `tsc -b`): copies the repository's LICENSE beside the package.json so the tarball carries it. The copy is
// git-ignored (`packages/*/LICENSE`); the root LICENSE is the one to edit.
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'

copyFileSync(new URL('../LICENSE', import.meta.url), join(process.cwd(), 'LICENSE'))
