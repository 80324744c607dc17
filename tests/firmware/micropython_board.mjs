// The whole board program (firmware/runtime.py and everything it imports, unchanged)
// under real MicroPython 1.27 (WebAssembly port), talking MQTT to a real broker.
//
// The board's MQTT client blocks on recv, and the port runs on this thread, so its
// socket is a synchronous bridge: a worker thread owns the real TCP socket, and the
// two meet in shared memory (Atomics.wait / notify). `machine`, `network` and
// `ntptime` are stand-ins (tests/firmware/mp_host); the physical world is a JSON file
// the test writes (current through the clamp, Wi-Fi up or not), and the board's pins go
// to another, what its agent holds (readings waiting, readings taken) to a third.
// The loop is driven from here, a step at a time, so the port can collect garbage
// between steps as a board would. Usage: node micropython_board.mjs DIR SECONDS; it stops
// after SECONDS or once world.json says {"stop": true}, closing the socket without a
// DISCONNECT, as a board losing power would (the broker then publishes its will).
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";

const [dir, seconds] = [process.argv[2], Number(process.argv[3] || 20)];
const ctrl = new Int32Array(new SharedArrayBuffer(4 * 8)); // 0 req, 1 op, 2-3 args, 4 done, 5 result, 6 length, 7 timeout
const inbuf = new Uint8Array(new SharedArrayBuffer(1 << 20));
const outbuf = new Uint8Array(new SharedArrayBuffer(1 << 20));

const worker = new Worker(`
const { workerData } = require("node:worker_threads");
const net = require("node:net");
const ctrl = new Int32Array(workerData.ctrl), inbuf = new Uint8Array(workerData.inbuf),
  outbuf = new Uint8Array(workerData.outbuf);
let sock = null, pending = Buffer.alloc(0), closed = true, failed = 0, wanted = 0, timer = null;
const respond = (result, length = 0) => {
  ctrl[5] = result; ctrl[6] = length; Atomics.add(ctrl, 4, 1); Atomics.notify(ctrl, 4);
};
const deliver = () => {
  if (!wanted) return;
  if (pending.length) {
    const n = Math.min(wanted, pending.length);
    inbuf.set(pending.subarray(0, n)); pending = pending.subarray(n);
    wanted = 0; clearTimeout(timer); respond(0, n);
  } else if (closed) {
    wanted = 0; clearTimeout(timer); respond(failed, 0); // 0 bytes: the peer closed
  }
};
// Requests are polled each millisecond: Atomics.notify from the main thread does not
// wake an Atomics.waitAsync here on Node 20, and a blocking wait would stop the socket.
let seen = 0;
setInterval(() => {
  while (Atomics.load(ctrl, 0) !== seen) {
    seen = Atomics.load(ctrl, 0);
    handle(ctrl[1]);
  }
}, 1);
function handle(op) {
  {
    if (op === 1) { // connect
      const host = Buffer.from(outbuf.subarray(0, ctrl[2])).toString(), port = ctrl[3];
      if (sock) sock.destroy();
      pending = Buffer.alloc(0); closed = false; failed = 0;
      let settled = false;
      const give = (code) => { if (!settled) { settled = true; clearTimeout(limit); respond(code); } };
      const limit = ctrl[7] >= 0 ? setTimeout(() => { sock.destroy(); give(110); }, ctrl[7]) : null;
      sock = net.connect({ host, port });
      sock.setNoDelay(true);
      sock.on("connect", () => give(0));
      sock.on("data", (data) => { pending = Buffer.concat([pending, data]); deliver(); });
      sock.on("error", (error) => { failed = error.code === "ECONNREFUSED" ? 111 : 104; give(failed); });
      sock.on("close", () => { closed = true; deliver(); });
    } else if (op === 2) { // send
      if (!sock || closed) { respond(failed || 32); return; }
      sock.write(Buffer.from(outbuf.subarray(0, ctrl[2])), (error) => respond(error ? 104 : 0));
    } else if (op === 3) { // recv
      wanted = ctrl[2];
      const limit = ctrl[3];
      deliver();
      if (wanted && limit >= 0) timer = setTimeout(() => { if (wanted) { wanted = 0; respond(limit === 0 ? 11 : 110); } }, limit);
    } else if (op === 4) { // close
      if (sock) sock.destroy();
      sock = null; closed = true; respond(0);
    }
  }
}
`, { eval: true, workerData: { ctrl: ctrl.buffer, inbuf: inbuf.buffer, outbuf: outbuf.buffer } });

function call(op, a, b, timeout = 0) {
  ctrl[1] = op; ctrl[2] = a; ctrl[3] = b; ctrl[7] = timeout;
  const done = Atomics.load(ctrl, 4);
  Atomics.add(ctrl, 0, 1); Atomics.notify(ctrl, 0);
  if (Atomics.wait(ctrl, 4, done, 60000) === "timed-out") return [110, 0];
  return [ctrl[5], ctrl[6]];
}

const hostnet = {
  connect: (host, port, timeoutMs) => { const b = Buffer.from(host); outbuf.set(b); return call(1, b.length, port, timeoutMs)[0]; },
  send: (hex) => { const b = Buffer.from(hex, "hex"); outbuf.set(b); return call(2, b.length, 0)[0]; },
  recv: (n, timeoutMs) => {
    const [result, length] = call(3, n, timeoutMs);
    return result ? result : Buffer.from(inbuf.subarray(0, length)).toString("hex");
  },
  close: () => call(4, 0, 0)[0],
};
const pins = {};
let feeds = 0;
const world = () => { try { return JSON.parse(fs.readFileSync(path.join(dir, "world.json"), "utf8")); } catch { return {}; } };
const hostboard = {
  current_a: () => world().current_a ?? 0,
  wifi_up: () => world().wifi_up ?? true,
  // Inputs rest high (pull-up); the button (any input never driven) reads low while pressed.
  pin_level: (pin) => pins[pin] ?? (world().button_down ? 0 : 1),
  set_pin: (pin, level) => { pins[pin] = level; },
  feed: () => { feeds += 1; },
  // The card in the reader's field: its UID in hex and how many times it was presented.
  card: () => { const c = world().card; return c ? `${c.uid}:${c.n ?? 1}` : ""; },
  reader_absent: () => world().reader_absent ?? false, // the reader unplugged from its bus
};

const output = [];
const mp = await loadMicroPython({
  heapsize: 8 * 1024 * 1024,
  stdout: (line) => output.push(line),
  stderr: (line) => output.push(line),
});
mp.registerJsModule("hostnet", hostnet);
mp.registerJsModule("hostboard", hostboard);
const put = (from, to) => mp.FS.writeFile(to, fs.readFileSync(from, "utf8"));
for (const d of ["/repo", "/repo/firmware", "/repo/firmware/core", "/repo/firmware/drivers", "/repo/host"]) mp.FS.mkdir(d);
for (const sub of ["firmware", "firmware/core", "firmware/drivers"]) {
  for (const name of fs.readdirSync(sub)) if (name.endsWith(".py")) put(path.join(sub, name), `/repo/${sub}/${name}`);
}
for (const name of fs.readdirSync("tests/firmware/mp_host")) put(path.join("tests/firmware/mp_host", name), `/repo/host/${name}`);
put("tests/firmware/core/mfrc522_chip.py", "/repo/host/mfrc522_chip.py"); // the card reader's chip
mp.FS.writeFile("/repo/settings.json", fs.readFileSync(path.join(dir, "settings.json"), "utf8"));

mp.runPython(`
import gc, sys
sys.path.insert(0, "/repo/host")
sys.path.insert(0, "/repo")
import os
os.chdir("/repo")

def boot():
    # What /main.py does at every boot, from the deployed firmware's own loader.
    global board
    board = None
    sys.path[:] = [p for p in sys.path if not p.startswith("ota/")]  # a power cycle's sys.path
    for name in list(sys.modules):
        if name == "firmware" or name.startswith("firmware."):
            del sys.modules[name]
    from firmware.core.update import enter_slot
    enter_slot()
    from firmware import runtime
    settings, problems = runtime.load_settings()
    board = runtime.Board(settings, problems)

boot()
`);
// machine.reset() (tests/firmware/mp_host/machine.py) raises SystemExit: the board
// restarts, as after a power cycle: its connection gone, its program loaded afresh.
let boots = 1;
const step = () => {
  try {
    mp.runPython("delay = board.step()");
  } catch (error) {
    if (error.name !== "PythonError" || error.type !== "SystemExit") throw error;
    hostnet.close();
    boots += 1;
    mp.runPython("boot()\ndelay = 0");
  }
};
const started = Date.now();
let peak = 0, steps = 0;
// The test reads these files while the loop runs: each is replaced whole (a rename),
// never seen half written.
function writeWhole(name, text) {
  fs.writeFileSync(path.join(dir, name + ".tmp"), text);
  fs.renameSync(path.join(dir, name + ".tmp"), path.join(dir, name));
}
mp.runPython("gc.collect()");
mp.runPython("base = gc.mem_alloc()");
while (Date.now() - started < seconds * 1000 && !world().stop) {
  step();
  steps += 1;
  mp.runPython("gc.collect()"); // between calls from JavaScript, where the port can collect
  mp.runPython("live = gc.mem_alloc() - base");
  peak = Math.max(peak, mp.globals.get("live"));
  writeWhole("pins.json", JSON.stringify(pins));
  mp.runPython("waiting = len(board.agent.readings)\ntaken = board.agent.seq\n" +
    "taps = len(board.cards.taps) if board.cards is not None else 0");
  writeWhole("agent.json", JSON.stringify({
    waiting: mp.globals.get("waiting"), taken: mp.globals.get("taken"),
    taps_waiting: mp.globals.get("taps") }));
  const delay = Math.max(0, Math.min(Number(mp.globals.get("delay")) || 0, 100));
  await new Promise((resolve) => setTimeout(resolve, delay));
}
mp.runPython("implementation = '%s %s' % (sys.implementation.name, sys.version)");
// Every file the board wrote (its flash, beside the firmware), for the test to search.
mp.runPython(`
import binascii, json
def written(folder, found):
    for name in os.listdir(folder):
        path = folder + "/" + name
        if path in ("/repo/firmware", "/repo/host"):
            continue
        try:
            os.listdir(path)
            written(path, found)
        except OSError:
            with open(path, "rb") as f:
                found[path] = binascii.hexlify(f.read()).decode()
    return found
board_files = json.dumps(written("/repo", {}))
`);
fs.writeFileSync(path.join(dir, "files.json"), mp.globals.get("board_files"));
console.log(output.join("\n"));
console.log("RESULT:" + JSON.stringify({
  steps, boots, peak_live_bytes: peak, feeds, implementation: mp.globals.get("implementation"),
}));
await worker.terminate();
