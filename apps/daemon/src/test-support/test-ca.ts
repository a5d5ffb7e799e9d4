// Test helper: a throwaway certificate authority made at test time with the
// openssl CLI (no key is ever committed): a CA, server certificates for
// 127.0.0.1 / ::1 / localhost, and client certificates whose subject CN is an
// API key id (mTLS). Not part of the build.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CertFiles {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

export class TestCa {
  readonly dir: string;
  readonly name: string;
  #serial = 1;

  private constructor(dir: string, name: string) {
    this.dir = dir;
    this.name = name;
  }

  /** A new CA in a temp dir (EC P-256 keys: fast to make). */
  static create(name = "statehouse-test-ca"): TestCa {
    const dir = mkdtempSync(join(tmpdir(), "statehouse-ca-"));
    const ca = new TestCa(dir, name);
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
    return ca;
  }

  get caFile(): string {
    return join(this.dir, "ca.pem");
  }

  get caPem(): Buffer {
    return readFileSync(this.caFile);
  }

  /** A leaf certificate signed by this CA. */
  issue(fileBase: string, commonName: string, ext: string[]): CertFiles {
    const key = join(this.dir, `${fileBase}.key`);
    const csr = join(this.dir, `${fileBase}.csr`);
    const cert = join(this.dir, `${fileBase}.pem`);
    const extFile = join(this.dir, `${fileBase}.ext`);
    writeFileSync(extFile, `${ext.join("\n")}\n`);
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${commonName}`, "-keyout", key, "-out", csr], this.dir);
    openssl(["x509", "-req", "-in", csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", String(this.#serial++ + Math.floor(Math.random() * 1e6)), "-days", "1", "-extfile", extFile, "-out", cert], this.dir);
    return { cert, key };
  }

  /** A server certificate for the loopback names. */
  server(fileBase = "server"): CertFiles {
    return this.issue(fileBase, "localhost", ["subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1", "extendedKeyUsage=serverAuth"]);
  }

  /** A client certificate whose subject CN is `commonName` (an API key id). */
  client(commonName: string, fileBase = `client-${commonName}`): CertFiles {
    return this.issue(fileBase, commonName, ["extendedKeyUsage=clientAuth"]);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
