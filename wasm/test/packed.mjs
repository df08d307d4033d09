// The npm package as a user gets it: `npm pack`, installed from the tarball into a fresh temporary
// project.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = fileURLToPath(new URL("../pkg/npm/", import.meta.url));

/** A new project (a temporary directory) with the packed package installed; the tarball's file
 * list too. The caller removes `project`. */
export function installPacked(prefix) {
  const project = mkdtempSync(join(tmpdir(), prefix));
  const [{ filename, files }] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", project], { cwd: pkgDir, encoding: "utf8" }),
  );
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", join(project, filename)], { cwd: project, stdio: "ignore" });
  return { project, installed: join(project, "node_modules", "observer-metrics"), files: files.map((f) => f.path) };
}
