// SPDX-License-Identifier: MIT
// matrix.mjs - what the Node drivers of the client matrix share: the
// command line, one JSON line per check, expectations, reads retried at
// every node of a replicated cluster, and a bounded run of each check.
//
//   node DRIVER.mjs HOST:PORT[,HOST:PORT...] [--password P] [--wait S]
//
// A driver writes at the first address and reads back at all of them. It
// exits 1 if any check failed, 77 if its client package cannot be loaded.
import { createRequire } from "node:module";
import { setTimeout as sleep } from "node:timers/promises";

const require = createRequire(import.meta.url);
export const CHECK_TIMEOUT_MS = 15000;

export function parseArgs() {
  const argv = process.argv.slice(2);
  const out = { addrs: [], password: null, wait: 5 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--password") out.password = argv[++i];
    else if (argv[i] === "--wait") out.wait = Number(argv[++i]);
    else out.addrs = argv[i].split(",");
  }
  if (!out.addrs.length) {
    console.error("usage: DRIVER HOST:PORT[,HOST:PORT...] [--password P] [--wait S]");
    process.exit(2);
  }
  out.addrs = out.addrs.map((a) => {
    const i = a.lastIndexOf(":");
    return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
  });
  return out;
}

// Import a package from tests/clients/node_modules; exit 77 saying why
// when it is not there (bootstrap could not reach the npm registry).
// The latest clients may want a newer node than Debian's (ioredis 6 and
// node-redis 6 declare node >= 20; bookworm has 18): say so when it fails.
export async function load(pkg) {
  let meta = null;
  try {
    meta = require(`${pkg}/package.json`);
    const mod = await import(pkg);
    return { mod, version: meta.version };
  } catch (e) {
    const needs = meta?.engines?.node ? `; ${pkg} ${meta.version} wants node ` +
      `${meta.engines.node}, this is ${process.version}` : "";
    console.log(`${pkg} cannot be loaded (${e.code || e.message}${needs}): ` +
      (meta ? "" : "run tools/bootstrap.sh with the npm registry reachable " +
        "(it installs into tests/clients/node_modules)"));
    process.exit(77);
  }
}

export class Report {
  constructor(client, version) {
    this.client = client;
    this.version = version;
    this.failed = 0;
  }

  emit(resp, op, ok, detail) {
    if (!ok) this.failed++;
    console.log(JSON.stringify({ client: this.client, version: this.version, resp, op, ok,
      detail: String(detail).slice(0, 300) }));
  }

  // Run fn (async, returns a detail string or throws) within the bound.
  async run(resp, op, fn) {
    let timer;
    const bound = new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)),
        CHECK_TIMEOUT_MS);
    });
    try {
      this.emit(resp, op, true, await Promise.race([fn(), bound]));
    } catch (e) {
      this.emit(resp, op, false, `${e.name}: ${e.message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  exit() {
    process.exit(this.failed ? 1 : 0);
  }
}

// JSON, with errors (in pipeline results) as their message
const show = (v) => JSON.stringify(v, (_, x) => {
  if (typeof x === "bigint") return `${x}n`;
  if (x instanceof Error) return `<${x.message}>`;
  return x;
});

export function expect(got, want, what) {
  if (show(got) !== show(want)) {
    throw new Error(`${what}: got ${show(got)}, want ${show(want)}`);
  }
}

export function expectIn(got, lo, hi, what) {
  if (typeof got !== "number" || got < lo || got > hi) {
    throw new Error(`${what}: got ${show(got)}, want ${lo}..${hi}`);
  }
}

// await fn(); it must reject with a message containing text.
export async function expectError(fn, text, what = "") {
  let v;
  try {
    v = await fn();
  } catch (e) {
    if (!String(e.message).includes(text)) {
      throw new Error(`${what}error ${show(e.message)} lacks ${show(text)}`);
    }
    return e.message;
  }
  throw new Error(`${what}no error: got ${show(v)}, want an error with ${show(text)}`);
}

// check(await fn(client)) at every node (clients[0] first, at once; the
// others retried for waitS seconds: replication is eventual).
export async function everywhere(clients, waitS, fn, check, what) {
  for (let i = 0; i < clients.length; i++) {
    const deadline = Date.now() + (i ? waitS * 1000 : 0);
    for (;;) {
      const got = await fn(clients[i]);
      try {
        check(got);
        break;
      } catch (e) {
        if (Date.now() >= deadline) throw new Error(`node ${i + 1}: ${what}: ${e.message}`);
        await sleep(50);
      }
    }
  }
}

export const eq = (want) => (got) => expect(got, want, "");
export const within = (lo, hi) => (got) => expectIn(got, lo, hi, "");
export { sleep };
