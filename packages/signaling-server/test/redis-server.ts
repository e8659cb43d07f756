// The implementation is plain JavaScript so the Redis benchmark (bench/redis.mjs) can start Redis the same way.
export { freePort, type RedisProcess, startRedis } from './redis-server.mjs'
