/** Counters of one channel (or of all channels together). */
export interface ChannelMetrics {
  messagesSent: number
  bytesSent: number
  messagesReceived: number
  bytesReceived: number
  /** Sends that rejected. */
  sendFailures: number
  /** Processor calls that threw or rejected. */
  processorErrors: number
}

/** A snapshot of a network's statistics. Byte counts are encoded envelope sizes. */
export interface NetworkMetrics {
  /** Per registered (or once registered) channel. */
  channels: Record<string, ChannelMetrics>
  /** Sum over all channels. */
  total: ChannelMetrics
  /** Arriving byte arrays that did not decode into a valid envelope. */
  decodeFailures: number
  /** Envelopes whose `sender` or `channel` disagreed with the connection they arrived on. */
  spoofedEnvelopes: number
  /** Envelopes for a channel with no registered processor. */
  droppedUnregistered: number
  connections: { opened: number; closed: number; active: number }
}

/** A zeroed {@link ChannelMetrics}. */
export function emptyChannelMetrics(): ChannelMetrics {
  return {
    messagesSent: 0,
    bytesSent: 0,
    messagesReceived: 0,
    bytesReceived: 0,
    sendFailures: 0,
    processorErrors: 0,
  }
}
