// Runs Python test modules under real MicroPython (the WebAssembly port) and
// prints one line "RESULTS:<json>". Input on stdin: {"files": {path: text}, "modules": [name]}.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const output = [];
const mp = await loadMicroPython({
  heapsize: 16 * 1024 * 1024,
  stdout: (line) => output.push(line),
  stderr: (line) => output.push(line),
});
mp.FS.mkdir("/repo");
for (const [path, text] of Object.entries(request.files)) {
  const parts = path.split("/");
  let dir = "/repo";
  for (const part of parts.slice(0, -1)) {
    dir += "/" + part;
    try { mp.FS.mkdir(dir); } catch (e) { /* exists */ }
  }
  mp.FS.writeFile("/repo/" + path, text);
}
mp.FS.writeFile("/repo/__modules__.json", JSON.stringify(request.modules));

const driver = `
import io, json, sys
sys.path.insert(0, "/repo")
results = {"implementation": "%s %s" % (sys.implementation.name, sys.version), "tests": []}
with open("/repo/__modules__.json") as f:
    modules = json.load(f)
for name in modules:
    try:
        exec("import " + name)
        module = sys.modules[name]
    except Exception as exc:
        buf = io.StringIO()
        sys.print_exception(exc, buf)
        results["tests"].append({"module": name, "name": "<import>", "ok": False, "error": buf.getvalue()})
        continue
    for attr in sorted(dir(module)):
        if not attr.startswith("test_"):
            continue
        try:
            getattr(module, attr)()
            results["tests"].append({"module": name, "name": attr, "ok": True, "error": ""})
        except Exception as exc:
            buf = io.StringIO()
            sys.print_exception(exc, buf)
            results["tests"].append({"module": name, "name": attr, "ok": False, "error": buf.getvalue()})
print("RESULTS:" + json.dumps(results))
`;
try {
  mp.runPython(driver);
} catch (error) {
  console.log("RUNNER-ERROR:" + String(error));
}
for (const line of output) console.log(line);
