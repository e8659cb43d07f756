/**
 * The raw baseline in Node: two `RTCPeerConnection`s of one WebRTC implementation in this process, one
 * ordered data channel, non-trickle SDP exchange.
 *
 * @module
 */
import { dataChannelPipe } from './measure.mjs'

/**
 * @typedef {{ RTCPeerConnection: typeof RTCPeerConnection }} Wrtc
 */

/** @param {RTCPeerConnection} pc @returns {Promise<RTCSessionDescriptionInit>} */
function gathered(pc) {
  return new Promise((resolve) => {
    const done = () => {
      const d = pc.localDescription
      if (d !== null) resolve({ type: d.type, sdp: d.sdp })
    }
    if (pc.iceGatheringState === 'complete') return done()
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === 'complete') done()
    }
  })
}

/** @param {RTCDataChannel} channel @returns {Promise<RTCDataChannel>} */
function opened(channel) {
  if (channel.readyState === 'open') return Promise.resolve(channel)
  return new Promise((resolve) => {
    channel.onopen = () => resolve(channel)
  })
}

/**
 * Links two peer connections of `wrtc`; resolves with a pipe per side once the channel is open on both.
 * @param {Wrtc} wrtc
 * @param {{ highWater?: number, lowWater?: number, pollMs?: number }} [pipeOptions] see `dataChannelPipe`
 */
export async function linkRaw(wrtc, pipeOptions = {}) {
  const config = { iceServers: [] }
  const a = new wrtc.RTCPeerConnection(config)
  const b = new wrtc.RTCPeerConnection(config)
  const channelB = new Promise((resolve) => {
    b.ondatachannel = (event) => resolve(opened(event.channel))
  })
  const channelA = opened(a.createDataChannel('raw', { ordered: true }))
  await a.setLocalDescription(await a.createOffer())
  await b.setRemoteDescription(await gathered(a))
  await b.setLocalDescription(await b.createAnswer())
  await a.setRemoteDescription(await gathered(b))
  const [ca, cb] = await Promise.all([channelA, channelB])
  return {
    driver: dataChannelPipe(ca, pipeOptions),
    sink: dataChannelPipe(/** @type {RTCDataChannel} */ (cb), pipeOptions),
    close() {
      a.close()
      b.close()
    },
  }
}
