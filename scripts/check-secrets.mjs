// Greps a test run's whole output for the secrets the tests configure (upstream API keys, AWS
// secret keys, master keys, test constants named *SECRET* / *KEY* / MASTER). Any hit means a
// response, a log line or a dashboard payload let a secret out. The secrets are found in the
// test sources themselves, so a new test's secrets are covered without a list to keep.
//
//   node scripts/check-secrets.mjs <output.log>
import fs from "node:fs";
import path from "node:path";

const [log] = process.argv.slice(2);
const output = fs.readFileSync(log, "utf8");
if (!/# pass [1-9]/.test(output)) {
  console.error(`check-secrets: ${log} holds no test results; nothing was checked`);
  process.exit(2);
}

function sources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.(mjs|js|yaml|toml)$/.test(e.name) ? [p] : [];
  });
}

const patterns = [
  /(?:api_key|aws_secret_access_key|master_key):\s*"?([A-Za-z0-9_\-]{6,})"?/g,
  /\b[A-Z_]*(?:SECRET|KEY|MASTER)[A-Z_]*\s*=\s*"([^"$]{6,})"/g,
];
const secrets = new Set();
for (const file of [...sources("tests"), ...sources("examples")]) {
  const text = fs.readFileSync(file, "utf8");
  for (const re of patterns) for (const m of text.matchAll(re)) if (!m[1].startsWith("os") && !/^[A-Z_]+$/.test(m[1])) secrets.add(m[1]);
}
const leaked = [...secrets].filter((s) => output.includes(s));
console.log(`check-secrets: ${secrets.size} test secrets, ${output.length} bytes of test output, ${leaked.length} found`);
if (leaked.length) {
  for (const s of leaked) {
    const at = output.indexOf(s);
    console.error(`LEAK: ${s} in: ${output.slice(Math.max(0, at - 200), at + 100)}`);
  }
  process.exit(1);
}
