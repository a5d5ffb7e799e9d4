// Test helper: a throwaway certificate authority made at test time with the
// openssl CLI (no key is ever committed), as the daemon's own TLS tests make
// theirs: EC P-256, a server certificate for 127.0.0.1 / ::1 / localhost, and
// client certificates whose subject CN is an API key id (the daemon's mTLS
// maps that CN to the key). Not part of the package build.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Paths of a certificate and its key, and their PEM text. */
export interface IssuedCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

export class TestCa {
  readonly dir: string;
  #serial = 1;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** A new CA in a temp dir. */
  static create(name = "statehouse-sdk-test-ca"): TestCa {
    const dir = mkdtempSync(join(tmpdir(), "statehouse-sdk-ca-"));
    openssl(
      ["req", "-x509", ...EC, "-days", "2", "-subj", `/CN=${name}`, "-keyout", "ca.key", "-out", "ca.pem"]
        .concat(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
      dir,
    );
    return new TestCa(dir);
  }

  get caFile(): string {
    return join(this.dir, "ca.pem");
  }

  /** The CA certificate (PEM). */
  get caPem(): string {
    return readFileSync(this.caFile, "utf8");
  }

  issue(base: string, commonName: string, extensions: string[]): IssuedCert {
    const [certFile, keyFile, csr, ext] = ["pem", "key", "csr", "ext"].map((suffix) => join(this.dir, `${base}.${suffix}`)) as [
      string,
      string,
      string,
      string,
    ];
    writeFileSync(ext, `${extensions.join("\n")}\n`);
    openssl(["req", ...EC, "-subj", `/CN=${commonName}`, "-keyout", keyFile, "-out", csr], this.dir);
    openssl(
      ["x509", "-req", "-in", csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", String(this.#serial++)]
        .concat(["-days", "1", "-extfile", ext, "-out", certFile]),
      this.dir,
    );
    return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
  }

  /** A server certificate for the loopback names. */
  server(): IssuedCert {
    return this.issue("server", "localhost", ["subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1", "extendedKeyUsage=serverAuth"]);
  }

  /** A client certificate whose subject CN is `commonName` (an API key id). */
  client(commonName: string): IssuedCert {
    return this.issue(`client-${commonName}`, commonName, ["extendedKeyUsage=clientAuth"]);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
