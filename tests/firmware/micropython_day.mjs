// A simulated day of the board's core under real MicroPython (WebAssembly port), driven
// from here a minute at a time. The port can collect garbage only between calls from
// JavaScript (the WebAssembly stack cannot be scanned), so the live heap is measured at
// each minute's end, as a collection on the board would find it. Prints "RESULT:<json>".
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";

const [outageFromS, outageToS] = JSON.parse(process.argv[2] || "[43200, 46800]");
const output = [];
const mp = await loadMicroPython({
  heapsize: 8 * 1024 * 1024,
  stdout: (line) => output.push(line),
  stderr: (line) => output.push(line),
});
const files = ["firmware/__init__.py", "firmware/ticks.py"];
for (const name of fs.readdirSync("firmware/core")) if (name.endsWith(".py")) files.push("firmware/core/" + name);
for (const dir of ["/repo", "/repo/firmware", "/repo/firmware/core"]) mp.FS.mkdir(dir);
for (const file of files) mp.FS.writeFile(path.posix.join("/repo", file), fs.readFileSync(file, "utf8"));

mp.runPython(`
import gc, sys
sys.path.insert(0, "/repo")
from firmware.core import config
from firmware.core.agent import Agent

EPOCH_MS = 1795000000000
settings, errors = config.validate({"site": "aktobe", "device": "solder-1", "power_sensor": "pzem",
    "telemetry_period_s": 10, "min_dwell_s": 5, "buffer_size": 500, "batch_size": 50})
board = Agent(settings, ["pzem"])
import json
delivered = {"readings": 0, "state": 0, "resent": 0, "last_seq": -1}
offline = [False]

def publish(topic, payload, retain):
    if offline[0]:
        raise OSError(113)  # EHOSTUNREACH: the broker is away
    if topic.endswith("/telemetry"):
        body = json.loads(payload)
        for reading in body.get("readings", [body]):  # in order: a seq not above the last is sent again
            if reading["seq"] > delivered["last_seq"]:
                delivered["readings"] += 1
                delivered["last_seq"] = reading["seq"]
            else:
                delivered["resent"] += 1
    elif topic.endswith("/state"):
        delivered["state"] += 1

def power_at(second):
    hour, minute = second // 3600, (second // 60) % 60
    if hour < 9 or hour >= 19:
        return 0.0
    return 45.0 if minute < 20 else (4.0 if minute < 50 else 0.0)

def minute(m, is_offline):
    offline[0] = is_offline
    for second in range(m * 60, (m + 1) * 60):
        board.sample(second * 1000, EPOCH_MS + second * 1000, power_at(second))
        if second % 10 == 0:
            try:
                board.drain(publish, second * 1000)
            except OSError:
                board.connection_lost()  # as the runtime does; buffered until the broker is back
`);
mp.runPython("gc.collect()");  // between calls from JavaScript, where the port can collect
mp.runPython("base = gc.mem_alloc()");
let peak = 0;
for (let m = 0; m < 24 * 60; m++) {
  const isOffline = m * 60 >= outageFromS && m * 60 < outageToS;
  mp.runPython(`minute(${m}, ${isOffline ? "True" : "False"})`);
  mp.runPython("gc.collect()");
  mp.runPython("live = gc.mem_alloc() - base");
  peak = Math.max(peak, mp.globals.get("live"));
}
mp.runPython("offline[0] = False\nboard.drain(publish, 86400000)");
mp.runPython(`import json
result = json.dumps({"peak_live_bytes": ${peak}, "readings": board.seq, "delivered": delivered["readings"],
  "states": delivered["state"], "resent": delivered["resent"], "dropped": board.readings.dropped, "waiting": len(board.readings),
  "implementation": "%s %s" % (sys.implementation.name, sys.version)})`);
console.log(output.join("\n"));
console.log("RESULT:" + mp.globals.get("result"));
