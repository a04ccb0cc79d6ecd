// End to end with a real directory: Debian's slapd, started by the test with its own slapd.conf and database
// (slapadd loads the base), listening on a free loopback port and on an ldapi:// socket in the temp dir. The ldap
// provider adds the entry, sets the password with Password Modify (the directory hashes it), joins groups, resets,
// disables (ppolicy's pwdAccountLockedTime), enables and deletes; the new user then binds as itself.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client, InvalidCredentialsError } from "ldapts";
import { cli, freePort, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { accountCount, auditEvents, createInvite, inviteRow, query, register } from "./invite-helpers.ts";
import { provisionConfigErrorTests } from "./provision-helpers.ts";
import { listening, spawnDaemon, tempDir, waitReady, watchArgv, type Daemon } from "./downstream-helpers.ts";
import { LdapProvider } from "../src/provisioning/ldap.ts";
import { Browser, alertOf } from "./account-helpers.ts";
import { passwordCheckerFor } from "../src/provisioning/providers.ts";
import { loadConfig } from "../src/config/index.ts";

const SLAPD = Bun.which("slapd") ?? Bun.which("slapd", { PATH: "/usr/sbin:/usr/local/sbin" });
const SLAPADD = Bun.which("slapadd") ?? Bun.which("slapadd", { PATH: "/usr/sbin:/usr/local/sbin" });
const HOST = "example.com";
const SUFFIX = "dc=example,dc=org";
const SERVICE_DN = `cn=invited,ou=services,${SUFFIX}`;
const SERVICE_PASSWORD = "service password 9";

/** {SSHA}: the form slapd.conf's userPassword takes without slappasswd (whose -s would put the password in argv). */
function ssha(password: string): string {
  const salt = randomBytes(8);
  return `{SSHA}${Buffer.concat([createHash("sha1").update(password).update(salt).digest(), salt]).toString("base64")}`;
}

interface Slapd extends Daemon {
  port: number;
  tlsPort: number;
  socket: string;
  ca: string;
}

/** A throw-away CA and a certificate for 127.0.0.1 signed by it (openssl, keys without passphrase, in `dir`). */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const run = (args: string[]) => {
    const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
  };
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=invited test CA", "-keyout", "ca.key", "-out", "ca.pem"]);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]);
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.pem"]);
  return { ca: join(dir, "ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server.key") };
}

async function startSlapd(): Promise<Slapd> {
  const dir = tempDir("invited-slapd-");
  mkdirSync(join(dir, "db"));
  const port = freePort();
  const tlsPort = freePort();
  const socket = join(dir, "ldapi");
  const tls = makeCertificates(dir);
  const conf = join(dir, "slapd.conf");
  writeFileSync(
    conf,
    `# Temporary slapd for invited's LDAP provisioning test.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload ppolicy
TLSCACertificateFile ${tls.ca}
TLSCertificateFile ${tls.cert}
TLSCertificateKeyFile ${tls.key}
pidfile ${join(dir, "slapd.pid")}
argsfile ${join(dir, "slapd.args")}
database mdb
suffix "${SUFFIX}"
# No rootpw: nobody binds as it, but the memberof overlay's internal updates of a member's memberOf run as it.
rootdn "cn=root,${SUFFIX}"
directory ${join(dir, "db")}
maxsize 10485760
overlay memberof
overlay ppolicy
ppolicy_default "cn=default,ou=policies,${SUFFIX}"
# invited's service account may write passwords (Password Modify) and manage entries; users may bind and read themselves.
access to attrs=userPassword
  by dn.exact="${SERVICE_DN}" write
  by anonymous auth
  by * none
access to *
  by dn.exact="${SERVICE_DN}" manage
  by self read
  by * none
`,
  );
  const base = join(dir, "base.ldif");
  writeFileSync(
    base,
    [
      `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example`,
      `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people`,
      `dn: ou=groups,${SUFFIX}\nobjectClass: organizationalUnit\nou: groups`,
      `dn: ou=services,${SUFFIX}\nobjectClass: organizationalUnit\nou: services`,
      `dn: ${SERVICE_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: invited\nuserPassword: ${ssha(SERVICE_PASSWORD)}`,
      `dn: ou=policies,${SUFFIX}\nobjectClass: organizationalUnit\nou: policies`,
      `dn: cn=default,ou=policies,${SUFFIX}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdLockout: TRUE`,
      `dn: cn=staff,ou=groups,${SUFFIX}\nobjectClass: groupOfNames\ncn: staff\nmember: ${SERVICE_DN}`,
    ].join("\n\n") + "\n",
  );
  const add = Bun.spawnSync([SLAPADD!, "-f", conf, "-l", base], { stdout: "pipe", stderr: "pipe" });
  if (add.exitCode !== 0) throw new Error(`slapadd failed: ${add.stderr.toString()}`);
  const d = spawnDaemon([SLAPD!, "-d", "0", "-f", conf, "-h", `ldap://127.0.0.1:${port}/ ldaps://127.0.0.1:${tlsPort}/ ldapi://${encodeURIComponent(socket)}`], dir);
  await waitReady(d, async () => (await listening(port)) && (await listening(tlsPort)), "slapd to listen");
  return { ...d, port, tlsPort, socket, ca: tls.ca };
}

async function asService<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ url });
  try {
    await c.bind(SERVICE_DN, SERVICE_PASSWORD);
    return await fn(c);
  } finally {
    await c.unbind().catch(() => {});
  }
}

/** "ok", "invalid" (wrong password or no such entry), or the error. */
async function bindAs(url: string, dn: string, password: string): Promise<string> {
  const c = new Client({ url });
  try {
    await c.bind(dn, password);
    return "ok";
  } catch (e) {
    return e instanceof InvalidCredentialsError ? "invalid" : String(e);
  } finally {
    await c.unbind().catch(() => {});
  }
}

const userDn = (name: string) => `uid=${name},ou=people,${SUFFIX}`;

function hostToml(sb: Sandbox, url: string, extra = ""): string {
  writeFileSync(join(sb.dir, "ldap-password"), `${SERVICE_PASSWORD}\n`, { mode: 0o600 });
  return `[hosts."${HOST}"]
public_url = "https://${HOST}"

[hosts."${HOST}".provision]
type = "ldap"
url = ${JSON.stringify(url)}
bind_dn = "${SERVICE_DN}"
bind_password_file = ${JSON.stringify(join(sb.dir, "ldap-password"))}
base_dn = "ou=people,${SUFFIX}"
rdn_attribute = "uid"
object_classes = ["inetOrgPerson"]
attributes = { uid = "{username}", cn = "{username}", sn = "{username}", mail = "{email}" }
group_base_dn = "ou=groups,${SUFFIX}"
disable_attribute = "pwdAccountLockedTime"
disable_value = "000001010000Z"
timeout = "5s"
${extra}
[limits]
registration_rate = "off"
`;
}

function ldapSandbox(url: string, extra = ""): Sandbox {
  const sb = sandbox();
  writeFileSync(sb.config, readFileSync(sb.config, "utf8").replace(/\[hosts\.[\s\S]*$/, "") + hostToml(sb, url, extra));
  return sb;
}

if (!SLAPD || !SLAPADD) {
  if (process.env.CI) {
    test("slapd is installed (required in CI)", () => {
      throw new Error("slapd/slapadd not found: .ci/run installs Debian's slapd and ldap-utils packages");
    });
  } else {
    console.warn("provision-ldap.test.ts: skipped, slapd is not installed (apt-get install -y slapd ldap-utils)");
    test.skip("registration through invited creates a real LDAP entry (needs slapd)", () => {});
  }
} else {
  describe("ldap provider with a real slapd", () => {
    let slapd: Slapd;
    let url: string;
    let sb: Sandbox;
    let server: TestServer;

    beforeAll(async () => {
      slapd = await startSlapd();
      url = `ldap://127.0.0.1:${slapd.port}`;
      sb = ldapSandbox(url);
      server = await startServer(sb);
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
      sb?.cleanup();
      await slapd?.stop();
    });

    test("a web registration adds the entry; the directory hashes the password (Password Modify); the user binds as itself; no password in any argv", async () => {
      const watch = watchArgv();
      const invite = await createInvite(sb, ["--group", "family", "--group", "staff"], HOST);
      const r = await register(server, invite.token, "Alice", "correct horse battery");
      const argv = await watch.stop();
      expect(`${r.status} ${server.output()}`).toStartWith("200");
      expect(await r.text()).toContain(`alice@${HOST}`);
      expect(argv.filter((a) => a.includes("correct horse battery") || a.includes(SERVICE_PASSWORD))).toEqual([]);
      expect(query<{ password_hash: string | null }>(sb, "SELECT password_hash FROM accounts WHERE username = 'alice'")[0]!.password_hash).toBeNull();
      expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });

      expect(await bindAs(url, userDn("alice"), "correct horse battery")).toBe("ok");
      expect(await bindAs(url, userDn("alice"), "wrong horse battery")).toBe("invalid");
      const entry = await asService(url, async (c) => (await c.search(userDn("alice"), { scope: "base", attributes: ["*", "memberOf"] })).searchEntries[0]!);
      expect(entry.objectClass).toEqual("inetOrgPerson");
      expect([entry.uid, entry.cn, entry.sn]).toEqual(["alice", "alice", "alice"]);
      expect(entry.mail).toBeUndefined(); // no address: the {email} attribute is left out
      expect(String(entry.userPassword)).toMatch(/^\{SSHA\}/); // slapd's own scheme, never the clear text
      // Groups: a new group entry for "family", the existing "staff" gains a member; memberof shows both.
      const staff = await asService(url, async (c) => (await c.search(`cn=staff,ou=groups,${SUFFIX}`, { scope: "base" })).searchEntries[0]!);
      expect([staff.member].flat().sort()).toEqual([userDn("alice"), SERVICE_DN].sort());
      expect([entry.memberOf].flat().sort()).toEqual([`cn=family,ou=groups,${SUFFIX}`, `cn=staff,ou=groups,${SUFFIX}`]);
      expect(server.output()).not.toContain("correct horse battery");
    });

    test("a reset invite sets the new password: the old one no longer binds", async () => {
      const invite = await createInvite(sb, [], HOST);
      expect((await register(server, invite.token, "bob", "first password 1")).status).toBe(200);
      const reset = await createInvite(sb, ["--reset", "bob"], HOST);
      expect((await register(server, reset.token, "bob", "second password 2")).status).toBe(200);
      expect(await bindAs(url, userDn("bob"), "second password 2")).toBe("ok");
      expect(await bindAs(url, userDn("bob"), "first password 1")).toBe("invalid");
    });

    test("an entry that already exists (here, or with that uid elsewhere under base_dn) means the name is taken: 409, the invite keeps its use", async () => {
      await asService(url, async (c) => {
        await c.add(userDn("carol"), { objectClass: ["inetOrgPerson"], uid: ["carol"], cn: ["Carol"], sn: ["C"] });
        await c.add(`ou=staff,ou=people,${SUFFIX}`, { objectClass: ["organizationalUnit"], ou: ["staff"] });
        await c.add(`uid=dave,ou=staff,ou=people,${SUFFIX}`, { objectClass: ["inetOrgPerson"], uid: ["dave"], cn: ["Dave"], sn: ["D"] });
      });
      for (const name of ["carol", "dave"]) {
        const invite = await createInvite(sb, [], HOST);
        const r = await register(server, invite.token, name, "a fine passphrase");
        expect(r.status).toBe(409);
        expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
      }
    });

    test("names with DN syntax in them stay one literal RDN value under base_dn", async () => {
      const invite = await createInvite(sb, [], HOST);
      const name = "x,ou=services+cn=y;#\\z";
      const r = await register(server, invite.token, name, "a fine passphrase");
      expect(r.status).toBe(200);
      const found = await asService(url, async (c) => (await c.search(`ou=people,${SUFFIX}`, { scope: "one", filter: `(uid=x,ou=services+cn=y;#\\5cz)` })).searchEntries);
      expect(found).toHaveLength(1);
      expect(found[0]!.dn.toLowerCase()).toEndWith(`,ou=people,${SUFFIX}`);
      const p = passwordCheckerFor(loadConfig(sb.config).hosts[HOST]!)!;
      expect(await p(name, "a fine passphrase")).toEqual({ result: "ok" });
    });

    test("verifyPassword binds as the user: right, wrong, empty (never an anonymous bind), unknown", async () => {
      const invite = await createInvite(sb, [], HOST);
      expect((await register(server, invite.token, "erin", "the sign-in secret")).status).toBe(200);
      const check = passwordCheckerFor(loadConfig(sb.config).hosts[HOST]!)!;
      expect(await check("erin", "the sign-in secret")).toEqual({ result: "ok" });
      expect(await check("erin", "not the sign-in secret")).toEqual({ result: "wrong" });
      expect(await check("erin", "")).toEqual({ result: "wrong" });
      expect(await check("nobody", "the sign-in secret")).toEqual({ result: "wrong" });
    });

    test("the account pages sign in by a bind as the user; user disable locks the entry first (and the sign-in with it), user enable unlocks it", async () => {
      const invite = await createInvite(sb, [], HOST);
      expect((await register(server, invite.token, "lena", "quiet river stones")).status).toBe(200);
      const signIn = async (password: string) => {
        const r = await new Browser(server).signIn("lena", password);
        return `${r.status} ${alertOf(r.text) ?? ""}`.trim();
      };
      expect(await signIn("quiet river stones")).toBe("303");
      expect(await signIn("loud river stones")).toStartWith("401");
      const off = await cli(["user", "disable", HOST, "lena"], { config: sb.config });
      expect(`${off.code} ${off.stderr}`).toStartWith("0 disabled");
      expect(await bindAs(url, userDn("lena"), "quiet river stones")).toBe("invalid"); // locked in the directory itself
      expect(await signIn("quiet river stones")).toStartWith("401");
      const on = await cli(["user", "enable", HOST, "lena"], { config: sb.config });
      expect(`${on.code} ${on.stderr}`).toBe("0 enabled\n");
      expect(await bindAs(url, userDn("lena"), "quiet river stones")).toBe("ok");
      expect(await signIn("quiet river stones")).toBe("303");
    });

    test("the account page's password change goes through Password Modify: the directory then binds with the new one only", async () => {
      const invite = await createInvite(sb, [], HOST);
      expect((await register(server, invite.token, "mona", "first of many")).status).toBe(200);
      const b = new Browser(server);
      expect((await b.signIn("mona", "first of many")).status).toBe(303);
      await b.get("/account/password");
      const r = await b.post("/account/password", { current: "first of many", password: "second of many", password_confirm: "second of many" });
      expect(`${r.status} ${alertOf(r.text) ?? ""}`.trim()).toBe("303");
      expect(await bindAs(url, userDn("mona"), "second of many")).toBe("ok");
      expect(await bindAs(url, userDn("mona"), "first of many")).toBe("invalid");
    });

    test("disable locks the entry (ppolicy pwdAccountLockedTime): binds fail; enable unlocks it", async () => {
      const invite = await createInvite(sb, [], HOST);
      expect((await register(server, invite.token, "frank", "locked secret 1")).status).toBe(200);
      const p = new LdapProvider(loadConfig(sb.config).hosts[HOST]!.provision);
      const target = { host: HOST, username: "frank", groups: [], roles: [] };
      expect(await p.disable(target)).toEqual({ result: "done" });
      expect(await bindAs(url, userDn("frank"), "locked secret 1")).toBe("invalid");
      expect(await p.verifyPassword("frank", "locked secret 1")).toEqual({ result: "wrong" });
      expect(await p.disable(target)).toEqual({ result: "done" }); // twice is fine
      expect(await p.enable(target)).toEqual({ result: "done" });
      expect(await bindAs(url, userDn("frank"), "locked secret 1")).toBe("ok");
      expect(await p.enable(target)).toEqual({ result: "done" }); // not disabled: nothing to do
      expect(await p.disable({ ...target, username: "nobody" })).toMatchObject({ result: "failed", reason: "ldap_32" });
    });

    test("user delete removes the entry and its group memberships first; then invited's row; the bind fails", async () => {
      const invite = await createInvite(sb, ["--group", "staff"], HOST);
      expect((await register(server, invite.token, "gina", "short-lived 1")).status).toBe(200);
      const r = await cli(["user", "delete", HOST, "gina"], { config: sb.config });
      expect(r.stderr).toContain("deleted on the real server (ldap provider)");
      expect(r.code).toBe(0);
      expect(await bindAs(url, userDn("gina"), "short-lived 1")).toBe("invalid");
      const staff = await asService(url, async (c) => (await c.search(`cn=staff,ou=groups,${SUFFIX}`, { scope: "base" })).searchEntries[0]!);
      expect([staff.member].flat()).not.toContain(userDn("gina"));
      expect(query(sb, "SELECT 1 FROM accounts WHERE username = 'gina'")).toHaveLength(0);
    });

    test("over the ldapi:// socket in the temp dir", async () => {
      const sock = ldapSandbox(`ldapi://${encodeURIComponent(slapd.socket)}`);
      const s2 = await startServer(sock);
      try {
        const invite = await createInvite(sock, [], HOST);
        expect((await register(s2, invite.token, "hana", "over the socket")).status).toBe(200);
        expect(await bindAs(url, userDn("hana"), "over the socket")).toBe("ok");
      } finally {
        await s2.stop();
        sock.cleanup();
      }
    });

    test("over ldaps:// and over ldap:// with StartTLS, trusting the directory's CA through ca_file; an untrusted certificate is a failure", async () => {
      for (const [name, target, extra] of [
        ["ivy", `ldaps://127.0.0.1:${slapd.tlsPort}`, ""],
        ["jay", url, "start_tls = true"],
      ] as const) {
        const tlsSb = ldapSandbox(target, `${extra}\nca_file = ${JSON.stringify(slapd.ca)}`);
        const s2 = await startServer(tlsSb);
        try {
          const invite = await createInvite(tlsSb, [], HOST);
          expect(`${target} ${(await register(s2, invite.token, name, "over tls 12345")).status}`).toBe(`${target} 200`);
          expect(await bindAs(url, userDn(name), "over tls 12345")).toBe("ok");
          expect(await passwordCheckerFor(loadConfig(tlsSb.config).hosts[HOST]!)!(name, "over tls 12345")).toEqual({ result: "ok" });
        } finally {
          await s2.stop();
          tlsSb.cleanup();
        }
      }
      // Without ca_file the test CA is not trusted: the registration fails before any password is sent.
      const untrusted = ldapSandbox(url, "start_tls = true");
      const s3 = await startServer(untrusted);
      try {
        const invite = await createInvite(untrusted, [], HOST);
        expect((await register(s3, invite.token, "kai", "over tls 12345")).status).toBe(503);
        expect(JSON.parse(auditEvents(untrusted, "provision.failed").at(-1)!.details)).toMatchObject({ provider: "ldap", reason: "network_error" });
        expect(s3.output()).toMatch(/certificate/i);
        expect(await asService(url, async (c) => (await c.search(`ou=people,${SUFFIX}`, { filter: "(uid=kai)" })).searchEntries)).toHaveLength(0);
      } finally {
        await s3.stop();
        untrusted.cleanup();
      }
    });

    test("a wrong bind password: 'please try again', provision.failed ldap_49, nothing added, the use released", async () => {
      const bad = ldapSandbox(url);
      writeFileSync(join(bad.dir, "ldap-password"), "not it\n");
      const s2 = await startServer(bad);
      try {
        const invite = await createInvite(bad, [], HOST);
        expect((await register(s2, invite.token, "ivan", "never stored")).status).toBe(503);
        expect(inviteRow(bad, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
        expect(JSON.parse(auditEvents(bad, "provision.failed").at(-1)!.details)).toMatchObject({ kind: "account", provider: "ldap", reason: "ldap_49" });
        expect(await asService(url, async (c) => (await c.search(`ou=people,${SUFFIX}`, { filter: "(uid=ivan)" })).searchEntries)).toHaveLength(0);
      } finally {
        await s2.stop();
        bad.cleanup();
      }
    });

    test("a group that cannot be joined rolls the entry back: nothing half-made stays in the directory", async () => {
      // groupOfNames needs cn; a group DN under a parent that does not exist cannot be created.
      const sb2 = sandbox();
      writeFileSync(sb2.config, readFileSync(sb2.config, "utf8").replace(/\[hosts\.[\s\S]*$/, "") + hostToml(sb2, url).replace(`group_base_dn = "ou=groups,${SUFFIX}"`, `group_base_dn = "ou=missing,${SUFFIX}"`));
      const s2 = await startServer(sb2);
      try {
        const invite = await createInvite(sb2, ["--group", "family"], HOST);
        expect((await register(s2, invite.token, "jack", "rolled back")).status).toBe(503);
        expect(JSON.parse(auditEvents(sb2, "provision.failed").at(-1)!.details)).toMatchObject({ reason: "ldap_32" });
        expect(await asService(url, async (c) => (await c.search(`ou=people,${SUFFIX}`, { filter: "(uid=jack)" })).searchEntries)).toHaveLength(0);
        expect(inviteRow(sb2, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
      } finally {
        await s2.stop();
        sb2.cleanup();
      }
    });
  });

  describe("directory down", () => {
    test("nothing listening: 'please try again' (503), the use released, no account recorded", async () => {
      const sb = ldapSandbox(`ldap://127.0.0.1:${freePort()}`);
      const server = await startServer(sb);
      try {
        const invite = await createInvite(sb, [], HOST);
        const r = await register(server, invite.token, "kim", "nobody listens");
        expect(r.status).toBe(503);
        expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
        expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toMatchObject({ provider: "ldap", reason: "network_error" });
        expect(accountCount(sb, HOST)).toBe(0);
      } finally {
        await server.stop();
        sb.cleanup();
      }
    });
  });
}

describe("ldap provider config", () => {
  const pw = "/etc/hostname";
  const base = `type = "ldap"\nbind_dn = "cn=invited,dc=example,dc=com"\nbind_password_file = "${pw}"\nbase_dn = "ou=people,dc=example,dc=com"`;
  provisionConfigErrorTests([
    ["url is required", base, /provision\.url' is required when type = "ldap"/],
    ["plain ldap:// to another machine is a config error", `${base}\nurl = "ldap://ldap.example.com"`, /plain ldap:\/\/ URL to a non-loopback address sends passwords in clear/],
    ["start_tls only with ldap://", `${base}\nurl = "ldaps://ldap.example.com"\nstart_tls = true`, /start_tls' only applies to ldap:\/\/ URLs/],
    ["another scheme", `${base}\nurl = "http://ldap.example.com"`, /must be an ldap:\/\/, ldaps:\/\/ or ldapi:\/\/ URL/],
    ["bind_dn is required", `type = "ldap"\nurl = "ldapi:///"\nbind_password_file = "${pw}"\nbase_dn = "dc=x"`, /bind_dn' is required/],
    ["bind_password_file must be readable", `type = "ldap"\nurl = "ldapi:///"\nbind_dn = "cn=x"\nbind_password_file = "/nonexistent/pw"\nbase_dn = "dc=x"`, /cannot read "\/nonexistent\/pw": ENOENT/],
    ["base_dn is required", `type = "ldap"\nurl = "ldapi:///"\nbind_dn = "cn=x"\nbind_password_file = "${pw}"`, /base_dn' is required/],
    ["no {password} in attributes", `${base}\nurl = "ldapi:///"\nattributes = { cn = "{password}" }`, /must not contain \{password\}/],
    ["no userPassword attribute", `${base}\nurl = "ldapi:///"\nattributes = { userPassword = "x" }`, /cannot be set: the directory sets and hashes the password itself/],
    ["an attribute name must be one", `${base}\nurl = "ldapi:///"\nrdn_attribute = "uid,x"`, /rdn_attribute' must be an attribute name/],
    ["unknown settings", `${base}\nurl = "ldapi:///"\nbind_password = "x"`, /bind_password' is not a known setting/],
  ]);

  test("ldap://localhost, ldap://[::1], ldaps:// and ldap:// + start_tls are accepted", async () => {
    for (const url of ["ldap://localhost:389", "ldap://[::1]", "ldaps://ldap.example.com", "ldap://ldap.example.com"]) {
      const sb = sandbox(`[hosts."${HOST}"]\npublic_url = "https://${HOST}"\n[hosts."${HOST}".provision]\n${base}\nurl = "${url}"\n${url === "ldap://ldap.example.com" ? "start_tls = true" : ""}\n`);
      try {
        const r = await cli(["invite", "list", HOST], { config: sb.config });
        expect(`${url}: ${r.code} ${r.stderr}`).not.toMatch(/: 2 |config error/);
      } finally {
        sb.cleanup();
      }
    }
  });
});
