// Validate custom resources (JSON array on stdin) against prometheus-operator's CRD schemas.
// Prints one JSON object {"results": [{kind, name, valid, error}]}; exit 1 if any is invalid.
import { readFileSync } from "node:fs";

const manifests = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const manifest of manifests) {
  const { apiVersion, kind } = manifest;
  const name = manifest.metadata?.name;
  let Model;
  try {
    const module = await import(`@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`);
    Model = module[kind];
  } catch {
    results.push({ kind, name, valid: false, error: `no schema for ${apiVersion} ${kind}` });
    continue;
  }
  try {
    new Model(manifest).validate();
    results.push({ kind, name, valid: true, error: null });
  } catch (error) {
    results.push({ kind, name, valid: false, error: String(error.message ?? error) });
  }
}
process.stdout.write(JSON.stringify({ results }));
process.exit(results.every((r) => r.valid) ? 0 : 1);
