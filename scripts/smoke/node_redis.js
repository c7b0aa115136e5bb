// Smoke test of node-redis (Debian's node-redis 4.x, run with
// NODE_PATH=/usr/share/nodejs) against one node: strings, counters, a
// MULTI/EXEC transaction, a pipeline of independent commands, CLIENT ID and
// INFO, and pub/sub (a subscriber on a second connection).
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
  await pubsub(client, prefix);
  await client.quit();
  console.log(`node-redis against ${process.argv[2]}: OK`);
}

// A subscriber on a second connection receives what the first publishes.
async function pubsub(client, prefix) {
  const sub = client.duplicate();
  sub.on("error", (e) => { throw e; });
  await sub.connect();
  const channel = `${prefix}:news`;
  const received = [];
  let arrived;
  const first = new Promise((resolve) => { arrived = resolve; });
  await sub.subscribe(channel, (message) => { received.push(message); arrived(); });
  assert.strictEqual(await client.publish(channel, "hello"), 1);
  await Promise.race([first, new Promise((_, no) => setTimeout(() => no(new Error("no message")), 5000))]);
  assert.deepStrictEqual(received, ["hello"]);
  await sub.unsubscribe(channel);
  assert.strictEqual(await client.publish(channel, "nobody"), 0);
  await sub.quit();
}

main().catch((e) => { console.error(e); process.exit(1); });
