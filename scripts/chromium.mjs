/**
 * How Chromium is launched for every Playwright run in the repository: the webrtc browser suite and benchmark,
 * the e2e suite and e2e/screenshot.mjs (one source, so their flags cannot drift apart).
 *
 * @module
 */
import { existsSync } from 'node:fs'

/** `CHROMIUM_PATH`, else the system Chromium if present, else Playwright's own browser. */
export function chromiumExecutablePath() {
  const fromEnv = process.env.CHROMIUM_PATH
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  return existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined
}

/** Launch options: loopback ICE candidates allowed (WebRTC between contexts of one machine). */
export function launchOptions() {
  const executablePath = chromiumExecutablePath()
  return {
    ...(executablePath === undefined ? {} : { executablePath }),
    args: [
      '--allow-loopback-in-peer-connection',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  }
}

/** Context options: headless Chromium only gathers host candidates with media permissions granted. */
export const contextOptions = { permissions: ['camera', 'microphone'] }
