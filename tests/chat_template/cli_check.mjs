// `vkllm template --model DIR` end to end, against reference.mjs's renderings: the prompt on
// stdout exactly (nothing added), and for requests the template rejects, exit status 1 with the
// template's message on stderr and nothing on stdout.
//
//   node cli_check.mjs VKLLM REFERENCE.json
import { spawnSync } from "node:child_process";
import fs from "node:fs";

const [vkllm, referencePath] = process.argv.slice(2);
if (!vkllm || !referencePath) {
  console.error("usage: node cli_check.mjs VKLLM REFERENCE.json");
  process.exit(2);
}
const { fixed_time_seconds: now, records } = JSON.parse(fs.readFileSync(referencePath, "utf8"));

// One rendering and one raise per template keep the test fast; the library test covers them all.
const picked = [];
for (const model of new Set(records.map((r) => r.model))) {
  const mine = records.filter((r) => r.model === model);
  const rendered = mine.filter((r) => r.output !== undefined);
  picked.push(rendered[rendered.length - 1]);
  const raised = mine.find((r) => r.raised);
  if (raised) picked.push(raised);
}

let failed = 0;
for (const r of picked) {
  const where = `[${r.model} | ${r.case}]`;
  const run = spawnSync(vkllm, ["template", `--model=${r.dir}`, `--now=${now}`], {
    input: JSON.stringify(r.request),
    env: { ...process.env, TZ: "UTC" },
    maxBuffer: 64 << 20,
  });
  const stdout = run.stdout.toString("utf8");
  const stderr = run.stderr.toString("utf8");
  if (r.output !== undefined) {
    if (run.status !== 0 || stdout !== r.output) {
      failed++;
      console.log(`FAIL ${where}: exit ${run.status}\n  expected ${JSON.stringify(r.output)}\n  got      ${JSON.stringify(stdout)}\n  stderr   ${stderr}`);
    }
  } else if (run.status !== 1 || stdout !== "" || !stderr.includes(r.error)) {
    failed++;
    console.log(`FAIL ${where}: expected exit 1 and '${r.error}' on stderr, got exit ${run.status}, stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)}`);
  }
}

// Malformed input is an error with exit status 1, not a crash.
const bad = spawnSync(vkllm, ["template", `--model=${records[0].dir}`], { input: "{not json" });
if (bad.status !== 1 || !bad.stderr.toString().includes("stdin")) {
  failed++;
  console.log(`FAIL malformed request: exit ${bad.status}, stderr ${JSON.stringify(bad.stderr.toString())}`);
}

console.log(`${picked.length + 1 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
