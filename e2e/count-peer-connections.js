// An init script (Playwright `addInitScript({ path })`), run in every page before any of its own scripts:
// wraps `RTCPeerConnection` so that the page counts every one it ever constructs, whoever constructs it, in
// `window.__peerConnections.constructed`. Used by tests/scale.spec.ts and bench/chromium-mesh.mjs.
;(() => {
  const Native = window.RTCPeerConnection
  const counter = { constructed: 0 }
  Object.defineProperty(window, '__peerConnections', { value: counter })
  window.RTCPeerConnection = new Proxy(Native, {
    construct(target, args, newTarget) {
      counter.constructed++
      return Reflect.construct(target, args, newTarget)
    },
  })
})()
