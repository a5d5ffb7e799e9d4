// The project-local Python virtualenv (.venv at the repo root).
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const venvDir = join(root, ".venv");
export const venvBin = (name) => join(venvDir, "bin", name);
