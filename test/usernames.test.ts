// Usernames are identifiers, not pictures (issue 14): the PRECIS/XMPP rules, scripts, reserved names, look-alikes
// and names bound to open invites, through real HTTP registration, the JSON API and the CLI; Prosody's own
// nodeprep as the oracle for "a provider is never given a name it would change".
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { ROOT, cli, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { call, createKeyWith, scopeArgs } from "./api-helpers.ts";
import { accountCount, createInvite, postForm, query, register } from "./invite-helpers.ts";
import { checkUsername, normaliseUsername, usernameSkeleton } from "../src/accounts/username.ts";
import { openDatabase } from "../src/db/index.ts";
import { migrations } from "../src/db/migrations.ts";

const PASSWORD = "correct horse battery staple";

// Two hosts: example.com with the defaults (min length 2, the default reserved list plus "example"), and
// short.example that allows one-character names and reserves nothing.
const CONFIG = `[hosts."example.com"]
public_url = "https://example.com"

[hosts."short.example"]
public_url = "https://short.example"
username_min_length = 1
reserved_usernames = []
`;

let sb: Sandbox;
let server: TestServer;
let open: string; // token of an unlimited invite on example.com

beforeAll(async () => {
  // cmd.example creates its accounts with a command that only records the name it was given.
  const dir = mkdtempSync(join(tmpdir(), "invited-usernames-"));
  calls = join(dir, "calls.log");
  sb = sandbox(`${CONFIG}
[hosts."cmd.example"]
public_url = "https://cmd.example"

[hosts."cmd.example".provision]
type = "command"
command = ["sh", "-c", "echo $0 >> ${calls}; cat > /dev/null", "{username}@{host}"]
`);
  server = await startServer(sb);
  open = (await createInvite(sb, ["--unlimited"])).token;
});

let calls = "";

afterAll(async () => {
  await server?.stop();
  sb?.cleanup();
  if (calls) rmSync(dirname(calls), { recursive: true, force: true });
});

/** The names the command provider of cmd.example was called with. */
function provisioned(): string[] {
  return existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n").filter(Boolean) : [];
}

function accountNames(host = "example.com"): string[] {
  return query<{ username: string }>(sb, "SELECT username FROM accounts WHERE host = ? ORDER BY id", host).map((r) => r.username);
}

const INVISIBLE = /invisible or blank characters/;
const MIXED = /can&#39;t mix writing systems|can't mix writing systems/;
const RESERVED = /This name is reserved/;

// [what, typed username, message on the form]
const REFUSED: [string, string, RegExp][] = [
  ["combining grapheme joiner U+034F", "bob\u034F", INVISIBLE],
  ["U+034F first", "\u034Fbob", INVISIBLE],
  ["variation selector U+FE0F", "bob\uFE0F", INVISIBLE],
  ["variation selector U+FE00", "b\uFE00ob", INVISIBLE],
  ["variation selector supplement U+E0100", "bob\u{E0100}", INVISIBLE],
  ["variation selector supplement U+E01EF", "bo\u{E01EF}b", INVISIBLE],
  ["Mongolian free variation selector U+180B", "bo\u180Bb", INVISIBLE],
  ["Mongolian free variation selector U+180D", "bob\u180D", INVISIBLE],
  ["Mongolian vowel separator U+180E", "bo\u180Eb", INVISIBLE],
  ["zero width joiner", "bo\u200Db", INVISIBLE],
  ["zero width non-joiner", "bo\u200Cb", INVISIBLE],
  ["zero width space", "bo\u200Bb", INVISIBLE],
  ["word joiner", "bob\u2060", INVISIBLE],
  ["byte order mark", "\uFEFFbob", INVISIBLE],
  ["soft hyphen", "bo\u00ADb", INVISIBLE],
  ["Hangul choseong filler U+115F", "\u115Fbob", INVISIBLE],
  ["Hangul jungseong filler U+1160", "bob\u1160", INVISIBLE],
  ["Hangul filler U+3164", "bob\u3164", INVISIBLE],
  ["halfwidth Hangul filler U+FFA0", "bob\uFFA0", INVISIBLE],
  ["only U+3164", "\u3164", INVISIBLE],
  ["only U+3164, three times", "\u3164\u3164\u3164", INVISIBLE],
  ["braille blank U+2800", "bob\u2800", INVISIBLE],
  ["only braille blanks", "\u2800\u2800", INVISIBLE],
  ["right-to-left override", "bob\u202E", INVISIBLE],
  ["left-to-right mark", "\u200Ebob", INVISIBLE],
  ["left-to-right isolate", "bo\u2066b", INVISIBLE],
  ["Arabic letter mark", "bob\u061C", INVISIBLE],
  ["tag character", "bob\u{E0041}", INVISIBLE],
  ["ideographic space", "bob\u3000x", /can&#39;t contain spaces|can't contain spaces/],
  ["no-break space", "bob\u00A0x", /can&#39;t contain spaces|can't contain spaces/],
  ["emoji", "bob\u{1F600}", /can&#39;t contain spaces, symbols|can't contain spaces, symbols/],
  ["private use", "bob\uE000", /can&#39;t contain spaces|can't contain spaces/],
  ["math bold letters", "\u{1D41B}\u{1D428}\u{1D41B}", /chat servers rewrite/],
  ["black-letter capital", "\u210Cello", /chat servers rewrite/],
  ["digraph with a compatibility form", "\u01C6x", /chat servers rewrite/],
  ["right-to-left name ending in a digit", "\u0645\u062D\u0645\u062F1", /right-to-left name must begin and end/],
  ["Cyrillic а in a Latin name", "\u0430lice", MIXED],
  ["Cyrillic е at the end", "alic\u0435", MIXED],
  ["Greek α in a Latin name", "p\u03B1ypal", MIXED],
  ["Cyrillic with Greek", "\u0430\u03B1", MIXED],
  ["Hangul with Cyrillic", "\uAE40\u0430", MIXED],
  ["admin", "admin", RESERVED],
  ["Admin (case)", "Admin", RESERVED],
  ["fullwidth ＡＤＭＩＮ", "\uFF21\uFF24\uFF2D\uFF29\uFF2E", RESERVED],
  ["administrator", "administrator", RESERVED],
  ["root", "root", RESERVED],
  ["postmaster", "postmaster", RESERVED],
  ["hostmaster", "hostmaster", RESERVED],
  ["webmaster", "webmaster", RESERVED],
  ["abuse", "abuse", RESERVED],
  ["security", "security", RESERVED],
  ["support", "support", RESERVED],
  ["noc", "noc", RESERVED],
  ["info", "info", RESERVED],
  ["xmpp", "xmpp", RESERVED],
  ["www", "www", RESERVED],
  ["mail", "mail", RESERVED],
  ["ftp", "ftp", RESERVED],
  ["system", "system", RESERVED],
  ["the host's first label", "example", RESERVED],
  ["a look-alike of admin (rn for m)", "adrnin", RESERVED],
  ["a look-alike of root (zeros)", "r00t", RESERVED],
  ["one character", "a", /need at least 2 characters/],
  ["one CJK character", "\u738B", /need at least 2 characters/],
];

describe("web registration refuses names that are pictures, not identifiers", () => {
  for (const [what, typed, message] of REFUSED) {
    test(`${what}: ${JSON.stringify(typed)}`, async () => {
      const before = accountCount(sb);
      const r = await register(server, open, typed, PASSWORD);
      expect(r.status).toBe(400);
      expect(await r.text()).toMatch(message);
      expect(accountCount(sb)).toBe(before);
    });
  }
});

// [what, typed, stored]
const ACCEPTED: [string, string, string][] = [
  ["ASCII with upper case", "Zoe.Smith", "zoe.smith"],
  ["Japanese (Han) with Latin", "\u5C71\u7530taro", "\u5C71\u7530taro"],
  ["Japanese Hiragana with Latin", "\u3084\u307E\u3060hanako", "\u3084\u307E\u3060hanako"],
  ["Japanese Katakana, Han and Latin", "\u30BF\u30ED\u30A6\u5C71\u7530x", "\u30BF\u30ED\u30A6\u5C71\u7530x"],
  ["halfwidth Katakana (width mapping)", "\uFF76\uFF80\uFF76\uFF85", "\u30AB\u30BF\u30AB\u30CA"],
  ["Chinese with Latin", "\u738B\u5C0F\u660Eabc", "\u738B\u5C0F\u660Eabc"],
  ["Chinese with Bopomofo", "\u3105\u3106\u738B", "\u3105\u3106\u738B"],
  ["Korean with Latin", "\uAE40\uCCA0\uC218kim", "\uAE40\uCCA0\uC218kim"],
  ["Korean with Han", "\uAE40\u91D1", "\uAE40\u91D1"],
  ["fullwidth Latin (width mapping)", "\uFF4A\uFF41\uFF4E\uFF45", "jane"],
  ["German sharp s (case folding)", "Stra\u00DFe", "strasse"],
  ["Greek", "\u0391\u0398\u0397\u039D\u0391", "\u03B1\u03B8\u03B7\u03BD\u03B1"],
  ["Cyrillic", "\u0418\u0432\u0430\u043D", "\u0438\u0432\u0430\u043D"],
  ["Arabic", "\u0645\u062D\u0645\u062F", "\u0645\u062D\u0645\u062F"],
  ["Hebrew", "\u05D3\u05D5\u05D3", "\u05D3\u05D5\u05D3"],
  ["decomposed accent (NFC)", "Rene\u0301", "ren\u00E9"],
  ["two characters", "jo", "jo"],
  ["ASCII punctuation", "x;{y}$(z)", "x;{y}$(z)"],
];

describe("web registration accepts names in one script, and Latin with Japanese, Chinese or Korean", () => {
  for (const [what, typed, stored] of ACCEPTED) {
    test(`${what}: ${JSON.stringify(typed)} → ${JSON.stringify(stored)}`, async () => {
      const r = await register(server, open, typed, PASSWORD);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain(`${stored}@example.com`);
      expect(accountNames()).toContain(stored);
      expect(query<{ skeleton: string }>(sb, "SELECT skeleton FROM accounts WHERE username = ?", stored)[0]!.skeleton).toBe(usernameSkeleton(stored));
    });
  }
});

describe("the password rule and the length rules", () => {
  test("1-2 character names: a password containing them is fine; 3+ characters: refused with the right reason", async () => {
    expect((await register(server, open, "jj", "jj-likes-jogging-jj")).status).toBe(200);
    const abc = await register(server, open, "abc", "my abc password");
    expect(abc.status).toBe(400);
    expect(await abc.text()).toMatch(/must not contain your username/);
    // On a host that allows one-character names, "a" registers with a password that contains an "a".
    const short = await createInvite(sb, [], "short.example");
    const a = await register(server, short.token, "a", "a banana password");
    expect(a.status).toBe(200);
    expect(accountNames("short.example")).toEqual(["a"]);
  });

  test("reserved_usernames = [] reserves nothing, not even the defaults", async () => {
    const { token } = await createInvite(sb, [], "short.example");
    expect((await register(server, token, "admin", PASSWORD)).status).toBe(200);
    expect(accountNames("short.example")).toContain("admin");
  });

  test("the form says how long a name may be", async () => {
    const page = await (await fetch(`${server.url}/register?t=${open}`)).text();
    expect(page).toContain('minlength="2" maxlength="64"');
    expect(page).toContain("2 to 64 characters");
  });

  test("config: username_min_length above username_max_length, or an empty reserved name, is a config error", async () => {
    for (const [extra, message] of [
      ["username_min_length = 10\nusername_max_length = 5", /username_min_length' is greater than username_max_length/],
      ['reserved_usernames = [""]', /reserved_usernames' must hold names of 1 to 1023 characters/],
      ["reserved_usernames = [1]", /reserved_usernames' must be a list of strings/],
    ] as const) {
      const bad = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n${extra}\n`);
      try {
        const r = await cli(["invite", "create", "example.com"], { config: bad.config });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
      } finally {
        bad.cleanup();
      }
    }
  });
});

describe("look-alikes: the confusable skeleton decides whether a name is taken", () => {
  test("all-Cyrillic асе next to Latin ace, rnary next to mary, and a digit-one look-alike", async () => {
    expect((await register(server, open, "ace", PASSWORD)).status).toBe(200);
    expect((await register(server, open, "mary", PASSWORD)).status).toBe(200);
    for (const lookalike of ["\u0430\u0441\u0435", "rnary", "ACE"]) {
      const r = await register(server, open, lookalike, PASSWORD);
      expect(r.status).toBe(409);
      expect(await r.text()).toMatch(/already in use/);
    }
    expect(accountNames().filter((n) => n === "ace" || n === "mary")).toEqual(["ace", "mary"]);
    // Cyrillic аlice next to alice: refused (mixed scripts) whether or not alice exists.
    expect((await register(server, open, "alice", PASSWORD)).status).toBe(200);
    expect((await register(server, open, "\u0430lice", PASSWORD)).status).toBe(400);
    expect((await register(server, open, "a1ice", PASSWORD)).status).toBe(409);
  });

  test("concurrent registrations of look-alikes on different invites: exactly one wins", async () => {
    const names = ["molly", "rnolly", "mo1ly", "rno1ly", "MOLLY", "rnol1y"];
    const invites = await Promise.all(names.map(() => createInvite(sb)));
    const results = await Promise.all(names.map((n, i) => register(server, invites[i]!.token, n, PASSWORD)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409]);
    const won = accountNames().filter((n) => usernameSkeleton(n) === usernameSkeleton("molly"));
    expect(won).toHaveLength(1);
    const used = query<{ n: number }>(sb, `SELECT sum(uses) AS n FROM invites WHERE id IN (${invites.map(() => "?").join(",")})`, ...invites.map((i) => i.id))[0]!.n;
    expect(used).toBe(1);
  });
});

describe("a username bound to an open invite is reserved for it", () => {
  test("other invites get 'name taken' (and look-alikes too); the bound invite then registers it", async () => {
    const bound = await createInvite(sb, ["--username", "Carol"]);
    for (const name of ["carol", "CAROL", "caro1"]) {
      const r = await register(server, open, name, PASSWORD);
      expect(r.status).toBe(409);
      expect(await r.text()).toMatch(/already in use/);
    }
    expect(accountNames()).not.toContain("carol");
    expect((await register(server, bound.token, "carol", PASSWORD)).status).toBe(200);
    expect(accountNames()).toContain("carol");
  });

  test("a revoked, expired or used-up invite reserves nothing", async () => {
    const revoked = await createInvite(sb, ["--username", "dave"]);
    expect((await cli(["invite", "revoke", "example.com", revoked.id], { config: sb.config })).code).toBe(0);
    const expired = await createInvite(sb, ["--username", "erin", "--ttl", "1s"]);
    await Bun.sleep(1100);
    expect((await register(server, open, "dave", PASSWORD)).status).toBe(200);
    expect((await register(server, open, "erin", PASSWORD)).status).toBe(200);
    expect(expired.id).toBeTruthy();
  });

  test("CLI: minting a bound invite for an existing account, a look-alike, or a name bound elsewhere is refused", async () => {
    await register(server, open, "frank", PASSWORD);
    const cases: [string, RegExp][] = [
      ["frank", /an account 'frank' already exists on example.com \(to let its owner set a new password, create a reset invite\)/],
      ["FRANK", /an account 'frank' already exists/],
      ["fr\uFF41nk", /an account 'frank' already exists/],
    ];
    for (const [name, message] of cases) {
      const r = await cli(["invite", "create", "example.com", "--username", name], { config: sb.config });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    expect((await register(server, open, "olga", PASSWORD)).status).toBe(200);
    const lookalike = await cli(["invite", "create", "example.com", "--username", "o1ga"], { config: sb.config });
    expect(lookalike.code).toBe(1);
    expect(lookalike.stderr).toMatch(/'o1ga' looks like an existing account's name on example.com/);
    // A reset invite is the way for an existing account.
    expect((await cli(["invite", "create", "example.com", "--reset", "frank"], { config: sb.config })).code).toBe(0);
    // Bound to another open invite: refused until that invite is revoked.
    const first = await createInvite(sb, ["--username", "gwen"]);
    const second = await cli(["invite", "create", "example.com", "--username", "gwen"], { config: sb.config });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/'gwen' \(or a look-alike\) is already reserved by another open invite on example.com/);
    expect((await cli(["invite", "create", "example.com", "--username", "\u0261wen"], { config: sb.config })).code).toBe(1);
    expect((await cli(["invite", "revoke", "example.com", first.id], { config: sb.config })).code).toBe(0);
    expect((await cli(["invite", "create", "example.com", "--username", "gwen"], { config: sb.config })).code).toBe(0);
  });

  const CLI_REFUSED: [string, RegExp][] = [
    ["bob\u034F", /username contains invisible or blank characters/],
    ["\u3164", /username contains invisible or blank characters/],
    ["bob\u{E0100}", /username contains invisible or blank characters/],
    ["\u0430lice", /username mixes writing systems/],
    ["admin", /username is reserved on this host/],
    ["example", /username is reserved on this host/],
    ["a", /username is too short \(at least 2 characters\)/],
    ["\u{1D41B}ob", /username contains characters the XMPP server would rewrite/],
    ["a<b", /forbidden characters/],
  ];
  for (const [name, message] of CLI_REFUSED) {
    test(`CLI: invite create --username ${JSON.stringify(name)} is refused`, async () => {
      const r = await cli(["invite", "create", "example.com", "--username", name], { config: sb.config });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
    });
  }
});

describe("the provider path applies the same rules, before the provider is called", () => {
  test("invisible, reserved, taken, look-alike and bound names never reach the command; a good name reaches it normalised", async () => {
    const pinned = await createInvite(sb, ["--username", "pia"], "cmd.example");
    const { token } = await createInvite(sb, ["--unlimited"], "cmd.example");
    const ok = await register(server, token, "Mona", PASSWORD);
    expect(ok.status).toBe(200);
    expect(provisioned()).toEqual(["mona@cmd.example"]);
    const refused: [string, number][] = [
      ["mona\u034F", 400],
      ["mona\uFE0F", 400],
      ["\u3164", 400],
      ["admin", 400],
      ["cmd", 400], // the host's first label
      ["m\u043Ena", 400], // Cyrillic о
      ["mona", 409],
      ["rnona", 409],
      ["pia", 409], // bound to the pinned invite
      ["p\u0131a", 409], // dotless ı
    ];
    for (const [name, status] of refused) {
      const r = await register(server, token, name, PASSWORD);
      expect({ name, status: r.status }).toEqual({ name, status });
    }
    expect(provisioned()).toEqual(["mona@cmd.example"]);
    expect((await register(server, pinned.token, "pia", PASSWORD)).status).toBe(200);
    expect(provisioned()).toEqual(["mona@cmd.example", "pia@cmd.example"]);
    expect(query<{ n: number }>(sb, "SELECT count(*) AS n FROM provision_reservations")[0]!.n).toBe(0);
  });
});

describe("the JSON API applies the same rules", () => {
  let key: string;
  beforeAll(async () => {
    key = await createKeyWith(sb, scopeArgs(["invite:create", "invite:create:reset", "invite:redeem"]));
  });

  test("create: reserved, invisible and mixed-script names are 422 invalid_username; an existing or bound name is 409 username_taken", async () => {
    await register(server, open, "hanna", PASSWORD);
    const cases: [unknown, number, string, RegExp][] = [
      [{ username: "admin" }, 422, "invalid_username", /username is reserved on this host/],
      [{ username: "bob\u034F" }, 422, "invalid_username", /invisible/],
      [{ username: "\u0430lice" }, 422, "invalid_username", /mixes writing systems/],
      [{ username: "a" }, 422, "invalid_username", /too short/],
      [{ username: "hanna" }, 409, "username_taken", /already exists.*reset invite/],
      [{ username: "HANNA" }, 409, "username_taken", /already exists/],
    ];
    for (const [body, status, code, message] of cases) {
      const r = await call(server.url, "POST", "/api/v1/invites", { key, body });
      expect({ body, status: r.status, code: r.body.error?.code }).toEqual({ body, status, code });
      expect(r.body.error.message).toMatch(message);
    }
    const reset = await call(server.url, "POST", "/api/v1/invites", { key, body: { kind: "reset", username: "Hanna" } });
    expect(reset.status).toBe(201);
    const bound = await call(server.url, "POST", "/api/v1/invites", { key, body: { username: "ivan" } });
    expect(bound.status).toBe(201);
    const again = await call(server.url, "POST", "/api/v1/invites", { key, body: { username: "ivan" } });
    expect({ status: again.status, code: again.body.error?.code }).toEqual({ status: 409, code: "username_taken" });
  });

  test("redeem: invalid names are 422, a name taken by an account or bound to another invite is 409, nothing consumed", async () => {
    await register(server, open, "jules", PASSWORD);
    await createInvite(sb, ["--username", "kira"]);
    const { token, id } = await createInvite(sb);
    const cases: [string, number, string][] = [
      ["bob\u034F", 422, "invalid_username"],
      ["root", 422, "invalid_username"],
      ["jules", 409, "username_taken"],
      ["ju1es", 409, "username_taken"],
      ["kira", 409, "username_taken"],
    ];
    for (const [username, status, code] of cases) {
      const r = await call(server.url, "POST", "/api/v1/invites/redeem", { key, body: { token, username } });
      expect({ username, status: r.status, code: r.body.error?.code }).toEqual({ username, status, code });
    }
    expect(query<{ uses: number }>(sb, "SELECT uses FROM invites WHERE id = ?", id)[0]!.uses).toBe(0);
    const ok = await call(server.url, "POST", "/api/v1/invites/redeem", { key, body: { token, username: "Leo" } });
    expect(ok.status).toBe(200);
    expect(ok.body.username).toBe("leo");
  });

  test("the OpenAPI document lists username_taken", async () => {
    const doc = await (await fetch(`${server.url}/api/v1/openapi.json`)).json();
    expect(JSON.stringify(doc)).toContain("username_taken");
  });
});

describe("accounts made before these rules keep working, and `invited check` lists them", () => {
  test("legacy names: skeletons are filled in at start, look-alikes are taken, reset invites work, check lists them", async () => {
    const legacy = ["bob\u034F", "z", "admin", "\u3164\u3164", "\u0440ete", "gro\u00DF"];
    const db = new Database(sb.db);
    try {
      for (const name of legacy) {
        db.run("INSERT INTO accounts (host, username, password_hash, created_at) VALUES ('example.com', ?, NULL, 1)", [name]);
      }
    } finally {
      db.close();
    }
    // Any command opens the database through the same start-up path as the server, which fills the skeletons.
    const list = await cli(["user", "list", "example.com"], { config: sb.config });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("bob\\u{034F}");
    const rows = query<{ username: string; skeleton: string | null }>(sb, `SELECT username, skeleton FROM accounts WHERE host = 'example.com' AND username IN (${legacy.map(() => "?").join(",")})`, ...legacy);
    expect(rows).toHaveLength(legacy.length);
    for (const r of rows) expect(r.skeleton).toBe(usernameSkeleton(r.username));

    // Whoever holds the invisible-joiner name holds "bob" as far as look-alikes go.
    const bob = await register(server, open, "bob", PASSWORD);
    expect(bob.status).toBe(409);

    // An old "groß" (nodeprep made it "gross" downstream) holds "gross".
    expect((await register(server, open, "Gross", PASSWORD)).status).toBe(409);

    // A reset invite for an account that breaks today's rules can be minted and used.
    for (const name of ["admin", "z", "bob\u034F", "gro\u00DF"]) {
      const made = await cli(["invite", "create", "example.com", "--reset", name], { config: sb.config });
      expect(made.code).toBe(0);
      const token = made.stdout.trim().split("?")[1]!;
      const r = await postForm(server, { token, password: "a brand new password" });
      expect(r.status).toBe(200);
      const [row] = query<{ password_hash: string }>(sb, "SELECT password_hash FROM accounts WHERE host = 'example.com' AND username = ?", name);
      expect(await Bun.password.verify("a brand new password", row!.password_hash)).toBe(true);
    }

    const check = await cli(["check", "--json"], { config: sb.config });
    expect(check.code).toBe(0);
    const item = JSON.parse(check.stdout).checks.find((c: { name: string }) => c.name === "usernames");
    expect(item.status).toBe("warn");
    expect(item.detail).toContain("example.com bob\\u{034F} (username contains invisible or blank characters");
    expect(item.detail).toContain("example.com z (username is too short (at least 2 characters))");
    expect(item.detail).toContain("example.com admin (username is reserved on this host)");
    expect(item.detail).toContain("example.com \\u{3164}\\u{3164} (username contains invisible");
    expect(item.detail).toContain("example.com \u0440ete (username mixes writing systems");
    expect(item.detail).not.toContain("example.com alice (");

    // Two open invites bound to one name (possible before this rule) do not lock each other out.
    const tokens = ["OMAROMAROMA1", "OMAROMAROMA2"].map((id) => `${id}${"x".repeat(22)}`);
    const raw = new Database(sb.db);
    try {
      for (const token of tokens) {
        const hash = new Bun.CryptoHasher("sha256").update(token).digest("hex");
        raw.run("INSERT INTO invites (id, host, kind, token_hash, username, created_at, expires_at, max_uses, created_by, skeleton) VALUES (?, 'example.com', 'account', ?, 'omar', ?, ?, 1, 'cli', 'ornar')", [token.slice(0, 12), hash, Date.now(), Date.now() + 3_600_000]);
      }
    } finally {
      raw.close();
    }
    expect(usernameSkeleton("omar")).toBe("ornar");
    expect((await register(server, open, "omar", PASSWORD)).status).toBe(409);
    expect((await register(server, tokens[1]!, "omar", PASSWORD)).status).toBe(200);

    // `user delete` finds them by their stored name.
    const del = await cli(["user", "delete", "example.com", "z"], { config: sb.config });
    expect(del.code).toBe(0);
    expect(accountNames()).not.toContain("z");
  });
});

test("a database from before the skeleton columns: accounts and bound invites get skeletons at the next start", async () => {
  const old = sandbox();
  try {
    // Every migration before the skeletons' (a later one applied on its own would mark theirs as done).
    const before = openDatabase(old.db, { migrations: migrations.slice(0, migrations.findIndex((m) => m.sql.join("").includes("skeleton"))) });
    before.sqlite.run("INSERT INTO accounts (host, username, password_hash, created_at) VALUES ('example.com', 'rnike', NULL, 1), ('example.com', 'a\u200Db', NULL, 1)");
    before.sqlite.run(
      "INSERT INTO invites (id, host, kind, token_hash, username, created_at, expires_at, max_uses, created_by) VALUES ('AAAAAAAAAAAA', 'example.com', 'account', 'x', 'nina', 1, 99999999999999, 1, 'cli'), ('BBBBBBBBBBBB', 'example.com', 'account', 'y', NULL, 1, 99999999999999, 1, 'cli')",
    );
    before.close();
    const r = await cli(["invite", "create", "example.com", "--username", "mike"], { config: old.config });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/'mike' looks like an existing account's name/);
    const db = new Database(old.db, { readonly: true });
    try {
      expect(db.query("SELECT username, skeleton FROM accounts ORDER BY id").all()).toEqual([
        { username: "rnike", skeleton: "rnike" },
        { username: "a\u200Db", skeleton: "ab" },
      ]);
      expect(db.query("SELECT id, skeleton FROM invites ORDER BY id").all()).toEqual([
        { id: "AAAAAAAAAAAA", skeleton: "nina" },
        { id: "BBBBBBBBBBBB", skeleton: null },
      ]);
    } finally {
      db.close();
    }
    const bound = await cli(["invite", "create", "example.com", "--username", "nina"], { config: old.config });
    expect(bound.code).toBe(1);
    expect(bound.stderr).toMatch(/reserved by another open invite/);
  } finally {
    old.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Prosody's nodeprep as the oracle: a name invited accepts is one Prosody keeps exactly as it is.

const PROSODY = Bun.which("prosody");
const PROSODY_LIB = "/usr/lib/prosody";
const LUA = PROSODY && existsSync(join(PROSODY_LIB, "util/encodings.so")) ? /^#!\s*\S*env\s+(\S+)|^#!\s*(\S+)/.exec(readFileSync(PROSODY, "utf8").split("\n")[0]!) : null;

async function nodeprep(names: string[]): Promise<(string | null)[]> {
  const lua = LUA![1] ?? LUA![2]!;
  const proc = Bun.spawn([lua, join(ROOT, "test/nodeprep-oracle.lua"), PROSODY_LIB], {
    stdin: new TextEncoder().encode(names.map((n) => Buffer.from(n).toString("hex")).join("\n") + "\n"),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`nodeprep oracle failed: ${err}`);
  return out
    .trim()
    .split("\n")
    .map((l) => (l === "-" ? null : Buffer.from(l.slice(1), "hex").toString()));
}

const HOST = { usernameMinLength: 1, usernameMaxLength: 64, reservedUsernames: [], provision: { type: "none" } } as unknown as Parameters<typeof checkUsername>[1];

// Code point ranges where scripts, compatibility forms, case pairs and invisible characters live.
const RANGES: [number, number][] = [
  [0x21, 0x7e], [0xa0, 0x24f], [0x250, 0x36f], [0x370, 0x3ff], [0x400, 0x52f], [0x530, 0x58f], [0x590, 0x5ff], [0x600, 0x6ff],
  [0x700, 0x7ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x10a0, 0x10ff], [0x1100, 0x11ff], [0x13a0, 0x13ff], [0x1800, 0x18af],
  [0x1e00, 0x1fff], [0x2000, 0x2bff], [0x3000, 0x30ff], [0x3100, 0x318f], [0x4e00, 0x4e80], [0xa960, 0xa97f], [0xab70, 0xabbf],
  [0xac00, 0xac40], [0xd7b0, 0xd7ff], [0xfb00, 0xfdff], [0xfe00, 0xfe70], [0xff00, 0xffef], [0x10400, 0x1044f],
  [0x1d400, 0x1d4ff], [0x1f300, 0x1f6ff], [0x20000, 0x20010], [0xe0000, 0xe01ef],
];

if (!LUA) {
  if (process.env.CI) {
    test("prosody's util.encodings is installed (required in CI)", () => {
      throw new Error("prosody not found: .ci/run installs Debian's prosody package");
    });
  } else {
    test.skip("nodeprep oracle (needs prosody)", () => {});
  }
} else {
  describe("Prosody's nodeprep keeps every accepted name as it is", () => {
    test("the table's accepted names, and Prosody rewrites the invisible ones invited refuses", async () => {
      const stored = ACCEPTED.map(([, , s]) => s);
      expect(await nodeprep(stored)).toEqual(stored);
      // The attack of the issue: Prosody maps these to plain "bob", which is why invited refuses them.
      const attacks = ["bob\u034F", "bob\uFE0F", "bo\u180Bb", "bo\u200Db", "bo\u00ADb", "Bob"];
      expect(await nodeprep(attacks)).toEqual(attacks.map(() => "bob"));
      for (const a of attacks.slice(0, -1)) expect(checkUsername(normaliseUsername(a), HOST)).toBe("invisible");
    });

    test("property: any accepted normalised name is a fixed point of nodeprep (60,000 random names over many scripts)", async () => {
      // Mostly one range per name (so some pass the script rules), sometimes two.
      const name = fc
        .tuple(fc.constantFrom(...RANGES), fc.constantFrom(...RANGES), fc.array(fc.tuple(fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 6 }), fc.boolean())
        .map(([a, b, picks, mix]) => picks.map(([second, x]) => {
          const [lo, hi] = mix && second ? b : a;
          return String.fromCodePoint(lo + Math.floor(x * (hi - lo)));
        }).join(""));
      const samples = fc.sample(name, { numRuns: 60_000, seed: 14 });
      const accepted = [...new Set(samples.map(normaliseUsername).filter((n) => checkUsername(n, HOST) === null))];
      expect(accepted.length).toBeGreaterThan(1000);
      const prepped = await nodeprep(accepted);
      const changed = accepted
        .map((n, i) => ({ name: n, codePoints: [...n].map((c) => c.codePointAt(0)!.toString(16)), nodeprep: prepped[i] }))
        .filter((r) => r.nodeprep !== r.name);
      expect(changed).toEqual([]);
    });
  });
}
