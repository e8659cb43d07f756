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
  /** Request/response counters (`Conduit.request`), over all channels. */
  requests: RequestMetrics
}

/** Counters of `Conduit.request` and of the requests this node answered. */
export interface RequestMetrics {
  /** Requests handed to the transport. */
  sent: number
  /** Requests that got their reply. */
  replied: number
  /** Requests that got no reply in time. */
  timedOut: number
  /** Requests the remote could not answer (`RemoteRequestError`). */
  failedRemotely: number
  /** Replies for no waiting request (it timed out, was aborted, or never existed): dropped. */
  lateReplies: number
  /** Replies from another peer or channel than the request went to: dropped, the request keeps waiting. */
  misdirectedReplies: number
  /** Requests from remotes that a local `processRequest` answered. */
  answered: number
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
