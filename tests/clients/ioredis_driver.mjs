// SPDX-License-Identifier: MIT
// ioredis driver of the client matrix (issue 12): what the caches of
// Django, Rails and Spring send, through ioredis's own API. RESP2
// (protocol: 2) and, from ioredis 6 (which has `protocol`), RESP3.
//
//   node ioredis_driver.mjs HOST:PORT[,HOST:PORT...] [--password P]
import {
  parseArgs, load, Report, expect, expectIn, expectError, everywhere, eq, within, sleep,
} from "./matrix.mjs";

const { mod, version } = await load("ioredis");
const Redis = mod.default;
const NAME = "gv-matrix-ioredis";
const args = parseArgs();
const report = new Report("ioredis", version);
const hasResp3 = Number(version.split(".")[0]) >= 6;

async function connect(addr, resp, extra = {}) {
  const c = new Redis({
    host: addr.host, port: addr.port, db: 0,
    ...(hasResp3 ? { protocol: resp } : {}),
    lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null,
    connectTimeout: 5000, commandTimeout: 5000, ...extra,
  });
  // a refused handshake closes the connection: connect() then only says
  // "Connection is closed.", the server's reply comes as an error event
  let why = null;
  c.on("error", (e) => { why = why || e; });
  try {
    await c.connect();
  } catch (e) {
    c.disconnect();
    throw new Error(why && why.message !== e.message ? `${e.message} (${why.message})` : e.message);
  }
  return c;
}

function ops(x) {
  const { r, k, all } = x;
  const ttlAll = (key, lo, hi, ms = false) =>
    all((c) => (ms ? c.pttl(key) : c.ttl(key)), within(lo, hi), ms ? "PTTL" : "TTL");
  return {
    async connect() {
      const c = await x.named();
      expect(await c.ping(), "PONG", "PING");
      expect(c.condition.protocol ?? 2, x.resp, "negotiated protocol");
      return `db: 0, connectionName: PING (protocol ${c.condition.protocol ?? 2})`;
    },
    async hello() {
      const v = await r.call("HELLO", String(x.resp));
      const d = Array.isArray(v) ? Object.fromEntries(v.flatMap((e, i) => (i % 2 ? [] : [[e, v[i + 1]]]))) : v;
      expect(d.proto, x.resp, "proto");
      if (!d.server) throw new Error(`no server field in ${JSON.stringify(d)}`);
      if (!String(d.version).startsWith("7.")) throw new Error(`version ${d.version} is not 7.x`);
      return `HELLO ${x.resp}: version ${d.version}`;
    },
    async client_name() {
      const c = await x.named();
      expect(await c.client("GETNAME"), NAME, "GETNAME after connect");
      expect(await c.client("SETNAME", "renamed"), "OK", "SETNAME");
      expect(await c.client("GETNAME"), "renamed", "GETNAME");
      return "connectionName, CLIENT SETNAME/GETNAME";
    },
    async select0() {
      expect(await r.select(0), "OK", "SELECT 0");
      return "SELECT 0";
    },
    async set_get() {
      expect(await r.set(k("sg"), "v1"), "OK", "SET");
      await all((c) => c.get(k("sg")), eq("v1"), "GET");
      expect(await r.get(k("missing")), null, "GET missing");
      return "SET, GET at every node";
    },
    async set_ex() {
      expect(await r.set(k("sex"), "v", "EX", 60), "OK", "SET EX 60");
      await ttlAll(k("sex"), 1, 60);
      return "SET EX 60: TTL 1..60 at every node";
    },
    async setex() {
      expect(await r.setex(k("setex"), 60, "v"), "OK", "SETEX");
      await ttlAll(k("setex"), 1, 60);
      return "SETEX: TTL at every node";
    },
    async psetex() {
      expect(await r.psetex(k("psetex"), 60000, "v"), "OK", "PSETEX");
      await ttlAll(k("psetex"), 1, 60000, true);
      return "PSETEX: PTTL at every node";
    },
    async set_px() {
      expect(await r.set(k("spx"), "v", "PX", 60000), "OK", "SET PX");
      await ttlAll(k("spx"), 1, 60000, true);
      return "SET PX: PTTL at every node";
    },
    async set_nx() {
      expect(await r.set(k("snx"), "a", "EX", 60, "NX"), "OK", "SET EX NX (absent)");
      expect(await r.set(k("snx"), "b", "EX", 60, "NX"), null, "SET EX NX (present)");
      expect(await r.get(k("snx")), "a", "GET");
      return "SET EX NX (Django add)";
    },
    async expiry() {
      expect(await r.set(k("short"), "v", "PX", 300), "OK", "SET PX 300");
      await sleep(600);
      await all((c) => c.get(k("short")), eq(null), "GET after 600 ms");
      await all((c) => c.exists(k("short")), eq(0), "EXISTS after 600 ms");
      return "SET PX 300 is gone after 600 ms at every node";
    },
    async getex() {
      await r.set(k("getex"), "v");
      expect(await r.getex(k("getex"), "EX", 60), "v", "GETEX EX 60");
      expectIn(await r.ttl(k("getex")), 1, 60, "TTL");
      expect(await r.getex(k("getex"), "PERSIST"), "v", "GETEX PERSIST");
      expect(await r.ttl(k("getex")), -1, "TTL");
      return "GETEX EX, PERSIST (Spring time-to-idle)";
    },
    async getdel() {
      await r.set(k("getdel"), "v");
      expect(await r.getdel(k("getdel")), "v", "GETDEL");
      expect(await r.getdel(k("getdel")), null, "GETDEL again");
      return "GETDEL";
    },
    async mset_mget() {
      expect(await r.mset({ [k("m0")]: "1", [k("m1")]: "2", [k("m2")]: "3" }), "OK", "MSET");
      await all((c) => c.mget(k("m0"), k("nope"), k("m2")), eq(["1", null, "3"]), "MGET");
      return "MSET, MGET at every node";
    },
    async incr_decr() {
      expect(await r.incr(k("ctr")), 1, "INCR (new)");
      expect(await r.incrby(k("ctr"), 5), 6, "INCRBY 5");
      expect(await r.decr(k("ctr")), 5, "DECR");
      expect(await r.decrby(k("ctr"), 2), 3, "DECRBY 2");
      await all((c) => c.get(k("ctr")), eq("3"), "GET");
      return "INCR, INCRBY, DECR, DECRBY; GET 3 at every node";
    },
    async rails_increment() {
      const step = () => r.pipeline().incrby(k("rails"), 1).expire(k("rails"), 60, "NX").exec();
      expect(await step(), [[null, 1], [null, 1]], "INCRBY, EXPIRE NX (new)");
      expect(await step(), [[null, 2], [null, 0]], "INCRBY, EXPIRE NX (again)");
      return "pipelined INCRBY + EXPIRE NX (Rails increment)";
    },
    async delete() {
      await r.mset(k("da"), "1", k("db"), "2", k("dc"), "3");
      await all((c) => c.exists(k("da"), k("db"), k("dc")), eq(3), "EXISTS before");
      expect(await r.del(k("da"), k("db"), k("nope")), 2, "DEL 2 of 3");
      expect(await r.unlink(k("dc"), k("nope")), 1, "UNLINK");
      await all((c) => c.mget(k("da"), k("db"), k("dc")), eq([null, null, null]), "MGET after");
      return "DEL, UNLINK counts; gone at every node";
    },
    async exists() {
      await r.mset(k("ea"), "1", k("eb"), "2");
      expect(await r.exists(k("ea"), k("eb"), k("nope")), 2, "EXISTS a b nope");
      expect(await r.exists(k("ea"), k("ea")), 2, "EXISTS a a");
      return "EXISTS counts";
    },
    async expire_ttl() {
      await r.set(k("exp"), "v");
      expect(await r.ttl(k("exp")), -1, "TTL (no expiry)");
      expect(await r.expire(k("exp"), 100), 1, "EXPIRE 100");
      await ttlAll(k("exp"), 1, 100);
      expectIn(await r.pttl(k("exp")), 1, 100000, "PTTL");
      expect(await r.persist(k("exp")), 1, "PERSIST");
      await all((c) => c.ttl(k("exp")), eq(-1), "TTL after PERSIST");
      expect(await r.ttl(k("nope")), -2, "TTL missing");
      expect(await r.expire(k("nope"), 10), 0, "EXPIRE missing");
      return "EXPIRE, TTL, PTTL, PERSIST; -1, -2";
    },
    async scan_match() {
      const pat = k("scan:");
      const p = r.pipeline();
      for (let i = 0; i < 20; i++) p.set(`${pat}${i}`, i);
      await p.set(k("other"), 1).exec();
      const scan = (c) => new Promise((res, rej) => {
        const got = [];
        c.scanStream({ match: `${pat}*`, count: 7 })
          .on("data", (b) => got.push(...b)).on("end", () => res(got.sort())).on("error", rej);
      });
      const want = Array.from({ length: 20 }, (_, i) => `${pat}${i}`).sort();
      await all(scan, eq(want), "scanStream MATCH");
      let n = 0;
      for (const key of await scan(r)) n += await r.del(key);
      expect(n, 20, "deleted");
      await all(scan, eq([]), "scanStream after");
      expect(await r.exists(k("other")), 1, "other key kept");
      return "scanStream MATCH COUNT 7 at every node; delete_matched";
    },
    async pipeline() {
      const v = await r.pipeline().set(k("pl"), "v").get(k("pl")).exists(k("pl"))
        .del(k("pl")).get(k("pl")).exec();
      expect(v, [[null, "OK"], [null, "v"], [null, 1], [null, 1], [null, null]], "pipeline");
      return "pipeline().exec()";
    },
    async transaction() {
      const v = await r.multi().set(k("tx"), "v").get(k("tx")).set(k("tx2"), "w").exec();
      expect(v, [[null, "OK"], [null, "v"], [null, "OK"]], "MULTI..EXEC");
      await all((c) => c.get(k("tx")), eq("v"), "GET");
      return "multi().exec(): MULTI..EXEC";
    },
    async execabort() {
      await expectError(() => r.multi().set(k("abort"), "v").call("SET", k("abort")).exec(),
        "EXECABORT");
      expect(await r.get(k("abort")), null, "GET (nothing applied)");
      return "a queued syntax error aborts EXEC; nothing applied";
    },
    async err_not_integer() {
      await r.set(k("nonint"), "abc");
      return expectError(() => r.incr(k("nonint")), "ERR value is not an integer or out of range");
    },
    async err_arity() {
      return expectError(() => r.call("GET"), "ERR wrong number of arguments for 'get' command");
    },
    async err_unknown() {
      return expectError(() => r.call("NOSUCHCMD", "a"), "ERR unknown command");
    },
    async flushdb() {
      await r.mset(k("f0"), "0", k("f1"), "1");
      expect(await r.flushdb(), "OK", "FLUSHDB");
      await all((c) => c.dbsize(), eq(0), "DBSIZE after FLUSHDB");
      return "FLUSHDB: DBSIZE 0 at every node";
    },
  };
}

// the op names, in order, for the cells of a client that did not connect
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
    k: (n) => `gvm:ioredis:${resp}:${process.pid}:${n}`,
    all: (fn, check, what) => everywhere(clients, args.wait, fn, check, what),
    // a new connection with the client-name option (the others have none:
    // one missing command would fail every check)
    named: async () => {
      const c = await connect(args.addrs[0], resp, { connectionName: NAME });
      spare.push(c);
      return c;
    },
  };
  for (const [op, fn] of Object.entries(ops(x))) await report.run(resp, op, fn);
  [...clients, ...spare].forEach((c) => c.disconnect());
}

async function auth(resp) {
  const a = args.addrs[0];
  await report.run(resp, "auth", async () => {
    const c = await connect(a, resp, { password: args.password });
    expect(await c.ping(), "PONG", "PING");
    expect(await c.set("gvm:auth", "v"), "OK", "SET");
    expect(await c.get("gvm:auth"), "v", "GET");
    c.disconnect();
    return "password: PING, SET, GET";
  });
  await report.run(resp, "auth_noauth", async () => {
    // without a password the handshake itself (HELLO, CLIENT SETNAME) may be refused
    return expectError(async () => {
      const c = await connect(a, resp);
      try { return await c.get("gvm:auth"); } finally { c.disconnect(); }
    }, "NOAUTH");
  });
  await report.run(resp, "auth_wrongpass", async () =>
    expectError(async () => {
      const c = await connect(a, resp, { password: `${args.password}x` });
      try { return await c.ping(); } finally { c.disconnect(); }
    }, "WRONGPASS"));
}

for (const resp of hasResp3 ? [2, 3] : [2]) await (args.password ? auth(resp) : main(resp));
report.exit();
