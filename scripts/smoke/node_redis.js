// Smoke test of node-redis (Debian's node-redis 4.x, run with
// NODE_PATH=/usr/share/nodejs) against one node: strings, counters, a
// MULTI/EXEC transaction, a pipeline of independent commands, CLIENT ID and
// INFO.
//
//     NODE_PATH=/usr/share/nodejs node scripts/smoke/node_redis.js 127.0.0.1:6001 [prefix]
const assert = require("assert");
const { createClient } = require("redis");

async function main() {
  const [host, port] = process.argv[2].split(":");
  const prefix = process.argv[3] || "smoke";
  const client = createClient({ socket: { host, port: Number(port) } });
  client.on("error", (e) => { throw e; });
  await client.connect();
  const [a, n, t] = [`${prefix}:a`, `${prefix}:n`, `${prefix}:t`];
  assert.strictEqual(await client.ping(), "PONG");
  assert.strictEqual(await client.set(a, "1"), "OK");
  assert.strictEqual(await client.get(a), "1");
  assert.strictEqual(await client.incr(n), 1);
  const tx = await client.multi().set(t, "x").incr(n).get(t).exec();
  assert.deepStrictEqual(tx, ["OK", 2, "x"], "MULTI/EXEC");
  const batch = await client.multi().incr(n).mGet([a, t]).execAsPipeline();
  assert.deepStrictEqual(batch, [3, ["1", "x"]]);
  assert.strictEqual(await client.del(a), 1);
  assert.strictEqual(await client.exists(a), 0);
  assert.strictEqual(typeof (await client.clientId()), "number");
  assert.match(await client.info(), /redis_version:/);
  await client.quit();
  console.log(`node-redis against ${process.argv[2]}: OK`);
}

main().catch((e) => { console.error(e); process.exit(1); });
