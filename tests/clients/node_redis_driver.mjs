// SPDX-License-Identifier: MIT
// node-redis driver of the client matrix (issue 12): what the caches of
// Django, Rails and Spring send, through node-redis's own API. RESP2
// (RESP: 2) and, from node-redis 5 (which has `RESP`), RESP3, its default
// since 5: the connection then starts with HELLO 3.
//
//   node node_redis_driver.mjs HOST:PORT[,HOST:PORT...] [--password P]
import {
  parseArgs, load, Report, expect, expectIn, expectError, everywhere, eq, within, sleep,
} from "./matrix.mjs";

const { mod, version } = await load("redis");
const { createClient } = mod;
const NAME = "gv-matrix-node-redis";
const args = parseArgs();
const report = new Report("node-redis", version);
const major = Number(version.split(".")[0]);
const hasResp3 = major >= 5;

// SET / GETEX expiry options: { expiration: { type, value } } from 5 on
const setExp = (type, value) => (major >= 5 ? { expiration: { type, value } } : { [type]: value });
const getExp = (type, value) =>
  major >= 5 ? { type, value } : { [type]: type === "PERSIST" ? true : value };

async function connect(addr, resp, extra = {}) {
  const { url, ...rest } = extra;
  const c = createClient({
    ...(url ? { url } : {}),
    socket: { host: addr.host, port: addr.port, reconnectStrategy: false, connectTimeout: 5000 },
    database: 0, ...(hasResp3 ? { RESP: resp } : {}), ...rest,
  });
  let why = null;
  c.on("error", (e) => { why = why || e; });
  try {
    await c.connect();
  } catch (e) {
    c.destroy?.();
    throw new Error(why && why.message !== e.message ? `${e.message} (${why.message})` : e.message);
  }
  return c;
}

// a map reply: an object (RESP3), a Map, or a flat array (RESP2)
function asObject(v) {
  if (v instanceof Map) return Object.fromEntries(v);
  if (Array.isArray(v)) return Object.fromEntries(v.flatMap((e, i) => (i % 2 ? [] : [[e, v[i + 1]]])));
  return v;
}

async function scanAll(c, match) {
  const got = [];
  for await (const b of c.scanIterator({ MATCH: match, COUNT: 7 })) got.push(...[b].flat());
  return got.sort();
}

function ops(x) {
  const { r, k, all } = x;
  const ttlAll = (key, lo, hi, ms = false) =>
    all((c) => (ms ? c.pTTL(key) : c.ttl(key)), within(lo, hi), ms ? "PTTL" : "TTL");
  return {
    async connect() {
      const c = await x.named();
      expect(await c.ping(), "PONG", "PING");
      return `database: 0, name: PING${x.resp === 3 ? " (HELLO 3 SETNAME)" : ""}`;
    },
    async hello() {
      const d = asObject(await r.sendCommand(["HELLO", String(x.resp)]));
      expect(Number(d.proto), x.resp, "proto");
      if (!d.server) throw new Error(`no server field in ${JSON.stringify(d)}`);
      if (!String(d.version).startsWith("7.")) throw new Error(`version ${d.version} is not 7.x`);
      return `HELLO ${x.resp}: version ${d.version}`;
    },
    async client_name() {
      const c = await x.named();
      expect(await c.clientGetName(), NAME, "GETNAME after connect");
      expect(await c.clientSetName("renamed"), "OK", "SETNAME");
      expect(await c.clientGetName(), "renamed", "GETNAME");
      return "name option, CLIENT SETNAME/GETNAME";
    },
    async select0() {
      await r.select(0); // resolves to nothing
      expect(await r.sendCommand(["SELECT", "0"]), "OK", "SELECT 0");
      return "select(0), SELECT 0";
    },
    async set_get() {
      expect(await r.set(k("sg"), "v1"), "OK", "SET");
      await all((c) => c.get(k("sg")), eq("v1"), "GET");
      expect(await r.get(k("missing")), null, "GET missing");
      return "SET, GET at every node";
    },
    async set_ex() {
      expect(await r.set(k("sex"), "v", setExp("EX", 60)), "OK", "SET EX 60");
      await ttlAll(k("sex"), 1, 60);
      return "SET EX 60: TTL 1..60 at every node";
    },
    async setex() {
      expect(await r.setEx(k("setex"), 60, "v"), "OK", "SETEX");
      await ttlAll(k("setex"), 1, 60);
      return "SETEX: TTL at every node";
    },
    async psetex() {
      expect(await r.pSetEx(k("psetex"), 60000, "v"), "OK", "PSETEX");
      await ttlAll(k("psetex"), 1, 60000, true);
      return "PSETEX: PTTL at every node";
    },
    async set_px() {
      expect(await r.set(k("spx"), "v", setExp("PX", 60000)), "OK", "SET PX");
      await ttlAll(k("spx"), 1, 60000, true);
      return "SET PX: PTTL at every node";
    },
    async set_nx() {
      expect(await r.set(k("snx"), "a", { ...setExp("EX", 60), NX: true }), "OK", "SET EX NX (absent)");
      expect(await r.set(k("snx"), "b", { ...setExp("EX", 60), NX: true }), null, "SET EX NX (present)");
      expect(await r.get(k("snx")), "a", "GET");
      return "SET EX NX (Django add)";
    },
    async expiry() {
      expect(await r.set(k("short"), "v", setExp("PX", 300)), "OK", "SET PX 300");
      await sleep(600);
      await all((c) => c.get(k("short")), eq(null), "GET after 600 ms");
      await all((c) => c.exists(k("short")), eq(0), "EXISTS after 600 ms");
      return "SET PX 300 is gone after 600 ms at every node";
    },
    async getex() {
      await r.set(k("getex"), "v");
      expect(await r.getEx(k("getex"), getExp("EX", 60)), "v", "GETEX EX 60");
      expectIn(await r.ttl(k("getex")), 1, 60, "TTL");
      expect(await r.getEx(k("getex"), getExp("PERSIST")), "v", "GETEX PERSIST");
      expect(await r.ttl(k("getex")), -1, "TTL");
      return "GETEX EX, PERSIST (Spring time-to-idle)";
    },
    async getdel() {
      await r.set(k("getdel"), "v");
      expect(await r.getDel(k("getdel")), "v", "GETDEL");
      expect(await r.getDel(k("getdel")), null, "GETDEL again");
      return "GETDEL";
    },
    async mset_mget() {
      expect(await r.mSet({ [k("m0")]: "1", [k("m1")]: "2", [k("m2")]: "3" }), "OK", "MSET");
      await all((c) => c.mGet([k("m0"), k("nope"), k("m2")]), eq(["1", null, "3"]), "MGET");
      return "MSET, MGET at every node";
    },
    async incr_decr() {
      expect(await r.incr(k("ctr")), 1, "INCR (new)");
      expect(await r.incrBy(k("ctr"), 5), 6, "INCRBY 5");
      expect(await r.decr(k("ctr")), 5, "DECR");
      expect(await r.decrBy(k("ctr"), 2), 3, "DECRBY 2");
      await all((c) => c.get(k("ctr")), eq("3"), "GET");
      return "INCR, INCRBY, DECR, DECRBY; GET 3 at every node";
    },
    async rails_increment() {
      const step = async () => (await r.multi().incrBy(k("rails"), 1).expire(k("rails"), 60, "NX")
        .execAsPipeline()).map(Number);
      expect(await step(), [1, 1], "INCRBY, EXPIRE NX (new)");
      expect(await step(), [2, 0], "INCRBY, EXPIRE NX (again)");
      return "pipelined INCRBY + EXPIRE NX (Rails increment)";
    },
    async delete() {
      await r.mSet([[k("da"), "1"], [k("db"), "2"], [k("dc"), "3"]]);
      await all((c) => c.exists([k("da"), k("db"), k("dc")]), eq(3), "EXISTS before");
      expect(await r.del([k("da"), k("db"), k("nope")]), 2, "DEL 2 of 3");
      expect(await r.unlink([k("dc"), k("nope")]), 1, "UNLINK");
      await all((c) => c.mGet([k("da"), k("db"), k("dc")]), eq([null, null, null]), "MGET after");
      return "DEL, UNLINK counts; gone at every node";
    },
    async exists() {
      await r.mSet([[k("ea"), "1"], [k("eb"), "2"]]);
      expect(await r.exists([k("ea"), k("eb"), k("nope")]), 2, "EXISTS a b nope");
      expect(await r.exists([k("ea"), k("ea")]), 2, "EXISTS a a");
      return "EXISTS counts";
    },
    async expire_ttl() {
      await r.set(k("exp"), "v");
      expect(await r.ttl(k("exp")), -1, "TTL (no expiry)");
      expect(Number(await r.expire(k("exp"), 100)), 1, "EXPIRE 100");
      await ttlAll(k("exp"), 1, 100);
      expectIn(await r.pTTL(k("exp")), 1, 100000, "PTTL");
      expect(Number(await r.persist(k("exp"))), 1, "PERSIST");
      await all((c) => c.ttl(k("exp")), eq(-1), "TTL after PERSIST");
      expect(await r.ttl(k("nope")), -2, "TTL missing");
      expect(Number(await r.expire(k("nope"), 10)), 0, "EXPIRE missing");
      return "EXPIRE, TTL, PTTL, PERSIST; -1, -2";
    },
    async scan_match() {
      const pat = k("scan:");
      const m = r.multi();
      for (let i = 0; i < 20; i++) m.set(`${pat}${i}`, String(i));
      await m.set(k("other"), "1").execAsPipeline();
      const want = Array.from({ length: 20 }, (_, i) => `${pat}${i}`).sort();
      await all((c) => scanAll(c, `${pat}*`), eq(want), "scanIterator MATCH");
      let n = 0;
      for (const key of await scanAll(r, `${pat}*`)) n += await r.del(key);
      expect(n, 20, "deleted");
      await all((c) => scanAll(c, `${pat}*`), eq([]), "scanIterator after");
      expect(await r.exists(k("other")), 1, "other key kept");
      return "scanIterator MATCH COUNT 7 at every node; delete_matched";
    },
    async pipeline() {
      const v = await r.multi().set(k("pl"), "v").get(k("pl")).exists(k("pl"))
        .del(k("pl")).get(k("pl")).execAsPipeline();
      expect(v, ["OK", "v", 1, 1, null], "pipeline");
      return "multi().execAsPipeline()";
    },
    async transaction() {
      const v = await r.multi().set(k("tx"), "v").get(k("tx")).set(k("tx2"), "w").exec();
      expect(v, ["OK", "v", "OK"], "MULTI..EXEC");
      await all((c) => c.get(k("tx")), eq("v"), "GET");
      return "multi().exec(): MULTI..EXEC";
    },
    async execabort() {
      // node-redis rejects with the queued command's error, not EXEC's
      const e = await expectError(() => r.multi().set(k("abort"), "v")
        .addCommand(["SET", k("abort")]).exec(), "");
      if (!/EXECABORT|wrong number of arguments/.test(e)) throw new Error(`error ${e}`);
      expect(await r.get(k("abort")), null, "GET (nothing applied)");
      return "a queued syntax error aborts EXEC; nothing applied";
    },
    async err_not_integer() {
      await r.set(k("nonint"), "abc");
      return expectError(() => r.incr(k("nonint")), "ERR value is not an integer or out of range");
    },
    async err_arity() {
      return expectError(() => r.sendCommand(["GET"]), "ERR wrong number of arguments for 'get' command");
    },
    async err_unknown() {
      return expectError(() => r.sendCommand(["NOSUCHCMD", "a"]), "ERR unknown command");
    },
    async flushdb() {
      await r.mSet([[k("f0"), "0"], [k("f1"), "1"]]);
      expect(await r.flushDb(), "OK", "FLUSHDB");
      await all((c) => c.dbSize(), eq(0), "DBSIZE after FLUSHDB");
      return "FLUSHDB: DBSIZE 0 at every node";
    },
  };
}

const OPS = Object.keys(ops({}));

async function main(resp) {
  let clients;
  try {
    clients = await Promise.all(args.addrs.map((a) => connect(a, resp)));
  } catch (e) {
    for (const op of OPS) report.emit(resp, op, false, `no client: ${e.message}`);
    return;
  }
  const spare = [];
  const x = {
    r: clients[0], resp,
    k: (n) => `gvm:node-redis:${resp}:${process.pid}:${n}`,
    all: (fn, check, what) => everywhere(clients, args.wait, fn, check, what),
    // a new connection with the client-name option (the others have none:
    // one missing command would fail every check)
    named: async () => {
      const c = await connect(args.addrs[0], resp, { name: NAME });
      spare.push(c);
      return c;
    },
  };
  for (const [op, fn] of Object.entries(ops(x))) await report.run(resp, op, fn);
  for (const c of [...clients, ...spare]) c.destroy?.();
}

async function auth(resp) {
  const a = args.addrs[0];
  const url = (pass) => `redis://:${encodeURIComponent(pass)}@${a.host}:${a.port}`;
  await report.run(resp, "auth", async () => {
    const c = await connect(a, resp, { url: url(args.password) });
    expect(await c.ping(), "PONG", "PING");
    expect(await c.set("gvm:auth", "v"), "OK", "SET");
    expect(await c.get("gvm:auth"), "v", "GET");
    c.destroy?.();
    return `url with password: PING, SET, GET${resp === 3 ? " (HELLO 3 AUTH)" : ""}`;
  });
  await report.run(resp, "auth_noauth", async () =>
    expectError(async () => {
      const c = await connect(a, resp);
      try { return await c.get("gvm:auth"); } finally { c.destroy?.(); }
    }, "NOAUTH"));
  await report.run(resp, "auth_wrongpass", async () =>
    expectError(async () => {
      const c = await connect(a, resp, { url: url(`${args.password}x`) });
      try { return await c.ping(); } finally { c.destroy?.(); }
    }, "WRONGPASS"));
}

for (const resp of hasResp3 ? [2, 3] : [2]) await (args.password ? auth(resp) : main(resp));
report.exit();
