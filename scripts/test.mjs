#!/usr/bin/env node
// `npm test`: lint, typecheck, then every workspace's test task (vitest and Playwright), one at a time so
// timing-sensitive WebRTC suites do not compete for the CPU. Ends with one line aggregating every runner:
// `N passed, N failed`. Exit code 0 only when everything passed.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const workspaces = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces

function run(label, cmd, args) {
  console.log(`\n=== ${label}: ${cmd} ${args.join(' ')}`)
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env })
  return res.status === 0
}

// Stale reports from an earlier run must never be counted.
for (const ws of workspaces) rmSync(join(root, ws, 'test-results'), { recursive: true, force: true })

const steps = { passed: 0, failed: 0 }
const failures = []
for (const [label, cmd, args] of [
  ['lint', 'npx', ['biome', 'ci', '.']],
  ['typecheck', 'npx', ['turbo', 'run', 'typecheck', '--output-logs=errors-only']],
]) {
  if (run(label, cmd, args)) steps.passed++
  else {
    steps.failed++
    failures.push(label)
  }
}

const testsOk = run('tests', 'npx', [
  'turbo',
  'run',
  'test',
  '--concurrency=1',
  '--continue',
  '--output-logs=full',
])

/** Counts from one report file, or undefined when the file is not a report we know. */
function countReport(file) {
  const data = JSON.parse(readFileSync(file, 'utf8'))
  if (typeof data.numPassedTests === 'number') {
    // vitest json reporter
    return {
      passed: data.numPassedTests,
      failed: data.numFailedTests + (data.success === false && data.numFailedTests === 0 ? 1 : 0),
      skipped: data.numPendingTests + (data.numTodoTests ?? 0),
    }
  }
  if (data.stats && typeof data.stats.expected === 'number') {
    // Playwright json reporter; a flaky test (passed only on retry) counts as failed: we run without retries
    return {
      passed: data.stats.expected,
      failed: data.stats.unexpected + data.stats.flaky + (data.errors?.length ?? 0),
      skipped: data.stats.skipped,
    }
  }
  return undefined
}

const total = { passed: steps.passed, failed: steps.failed, skipped: 0 }
for (const ws of workspaces) {
  const pkg = JSON.parse(readFileSync(join(root, ws, 'package.json'), 'utf8'))
  if (!pkg.scripts?.test) continue
  const dir = join(root, ws, 'test-results')
  const reports = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : []
  if (reports.length === 0) {
    // the runner crashed before writing its report
    total.failed++
    failures.push(`${ws}: no test report`)
    continue
  }
  for (const f of reports) {
    const c = countReport(join(dir, f))
    if (c === undefined) continue
    total.passed += c.passed
    total.failed += c.failed
    total.skipped += c.skipped
    console.log(
      `${ws}/${f}: ${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''}`,
    )
    if (c.failed > 0) failures.push(`${ws}/${f}`)
  }
}
if (!testsOk && total.failed === 0) {
  total.failed++
  failures.push('turbo test task failed without a failing test in any report')
}
if (failures.length > 0) console.log(`\nFailed: ${failures.join('; ')}`)
console.log(
  `\n${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`,
)
process.exit(total.failed === 0 ? 0 : 1)
