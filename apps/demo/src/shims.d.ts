// The `process` npm package ships no types; the demo only needs it as an opaque object (see polyfills.ts).
declare module 'process' {
  const process: object
  export default process
}
