/**
 * Short-lived TURN credentials, in the TURN REST API scheme that coturn implements with `use-auth-secret` /
 * `static-auth-secret` (draft-uberti-behave-turn-rest): the username is `<expiry>:<id>` (expiry in Unix
 * seconds) and the credential is base64(HMAC-SHA1(secret, username)). The TURN server recomputes the HMAC from
 * the username with the same secret and refuses the credential once the expiry has passed, so the secret
 * never leaves the servers and a leaked credential lapses by itself.
 *
 * @module
 */
import { createHmac } from 'node:crypto'
import { InvalidOptionsError } from '@skipmesh/core'
import { checkNumber } from '@skipmesh/core/internal'

/** TURN settings of the signaling server. */
export interface TurnOptions {
  /** The TURN server URLs handed to peers (`turn:` or `turns:`, e.g. `turn:turn.example.com:3478?transport=udp`). */
  readonly urls: readonly string[]
  /** The secret shared with the TURN server (coturn's `static-auth-secret`). Never sent to a client. */
  readonly secret: string
  /**
   * How long one credential is valid, in seconds.
   * @default 3600
   */
  readonly ttlSeconds?: number
}

/** {@link TurnOptions} checked, with defaults applied. */
export interface ResolvedTurnOptions {
  readonly urls: readonly string[]
  readonly secret: string
  readonly ttlSeconds: number
}

/** One time-limited ICE server entry, as `RTCIceServer` wants it, plus when it expires. */
export interface TurnCredentials {
  readonly urls: string[]
  readonly username: string
  readonly credential: string
  /** When the credential stops working, in ms since the epoch. */
  readonly expiresAt: number
}

/** Default of {@link TurnOptions.ttlSeconds}. */
export const DEFAULT_TURN_TTL_SECONDS = 3600

/** Characters the identity part of a username may not hold: `:` separates it from the expiry. */
const BAD_ID = /[:\s]/

/**
 * Checks TURN options.
 * @throws {InvalidOptionsError} when `urls` is empty or holds something that is not a `turn:`/`turns:` URL,
 *   `secret` is empty, or `ttlSeconds` is not an integer from 60 to 604800 (a week).
 */
export function resolveTurnOptions(options: TurnOptions): ResolvedTurnOptions {
  const urls = options.urls
  if (!Array.isArray(urls) || urls.length === 0) {
    throw new InvalidOptionsError('turn.urls must be a non-empty array of turn: or turns: URLs')
  }
  for (const url of urls) {
    if (typeof url !== 'string' || !/^turns?:[^\s]+$/.test(url)) {
      throw new InvalidOptionsError(`turn.urls: ${String(url).slice(0, 64)} is not a turn: or turns: URL`)
    }
  }
  if (typeof options.secret !== 'string' || options.secret.length === 0) {
    throw new InvalidOptionsError('turn.secret must be a non-empty string')
  }
  const ttlSeconds = checkNumber('turn.ttlSeconds', options.ttlSeconds ?? DEFAULT_TURN_TTL_SECONDS, {
    min: 60,
    max: 604_800,
    integer: true,
  })
  return { urls: [...urls], secret: options.secret, ttlSeconds }
}

/**
 * Issues a credential for `id`, valid from `nowMs` for the configured TTL.
 * @throws {InvalidOptionsError} when `id` is empty or holds `:` or whitespace.
 */
export function issueTurnCredentials(turn: ResolvedTurnOptions, id: string, nowMs: number): TurnCredentials {
  if (id.length === 0 || BAD_ID.test(id)) {
    throw new InvalidOptionsError('a TURN username id must be non-empty, without ":" or whitespace')
  }
  const expiry = Math.floor(nowMs / 1000) + turn.ttlSeconds
  const username = `${expiry}:${id}`
  const credential = createHmac('sha1', turn.secret).update(username).digest('base64')
  return { urls: [...turn.urls], username, credential, expiresAt: expiry * 1000 }
}
