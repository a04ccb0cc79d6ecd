import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cli, get, rawRequest, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { accountCount, auditEvents, createInvite, inviteRow, makeAccount, postForm, query, register } from "./invite-helpers.ts";
import { escapeHtml } from "../src/lib/html.ts";

let sb: Sandbox;
let server: TestServer;

beforeAll(async () => {
  // A 1 ms coalescing window writes each refusal as its own row, so a test can read its reason (coalescing itself
  // is tested in registration-abuse.test.ts).
  sb = sandbox('[limits]\nauth_failure_log_window = "1ms"\n[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."strict.test"]\npublic_url = "https://strict.test"\nregister_path = "/signup"\ninvite_path = "/join"\nusername_max_length = 10\npassword_min_length = 12\n');
  server = await startServer(sb);
});
afterAll(async () => {
  await server.stop();
  sb.cleanup();
});

/** The value of the user field in a re-rendered form, as sent (still HTML-escaped). */
function userFieldValue(page: string): string | null {
  return /<input id="user" name="user" value="([^"]*)"/.exec(page)?.[1] ?? null;
}

/** The error message shown above the form, with HTML entities decoded. */
function alertText(page: string): string | null {
  const text = /<div class="alert" role="alert">([^<]*)<\/div>/.exec(page)?.[1];
  if (text === undefined) return null;
  const entities: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" };
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (e) => entities[e]!);
}

describe("GET the form", () => {
  test("shows user, password and a hidden token; no-store and a strict CSP", async () => {
    const { token } = await createInvite(sb);
    const r = await get(`${server.url}/register?t=${token}`);
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(r.headers.get("content-security-policy")).toContain("form-action 'self'");
    expect(r.headers.get("x-robots-tag")).toContain("noindex");
    const page = await r.text();
    expect(page).toContain(`<input type="hidden" name="token" value="${token}">`);
    expect(page).toMatch(/<input id="user" name="user"/);
    expect(page).toMatch(/<input id="password" name="password" type="password"/);
    expect(page).toContain('<form method="post" action="./register"');
    expect(page).toContain("@example.com");
    expect(page).not.toContain("<script");
  });

  test("dead tokens redirect 303 to their landing page", async () => {
    const used = await createInvite(sb);
    expect((await register(server, used.token, "deadused", "long enough pw")).status).toBe(200);
    const revoked = await createInvite(sb);
    expect((await cli(["invite", "revoke", "example.com", revoked.id], { config: sb.config })).code).toBe(0);
    const cases: [string, string][] = [
      [`t=${used.token}`, `./invite?${used.token}`],
      [`t=${revoked.token}`, `./invite?${revoked.token}`],
      ["t=unknownToken123", "./invite?unknownToken123"],
      ["", "./invite?"],
      ["t=%3Cscript%3E", "./invite?"], // never echo junk into a URL
      [`t=a&t=b`, "./invite?"],
    ];
    for (const [query, location] of cases) {
      const r = await get(`${server.url}/register?${query}`);
      expect(`${query} ${r.status} ${r.headers.get("location")}`).toBe(`${query} 303 ${location}`);
    }
    const landing = await get(new URL(`./invite?${used.token}`, `${server.url}/register`).href);
    expect(landing.status).toBe(410);
  });

  test("another method is 405", async () => {
    const r = await get(`${server.url}/register`, { method: "PUT", body: "x" });
    expect(r.status).toBe(405);
  });
});

describe("POST: success", () => {
  test("a script posting user/password/token creates the account with the invite's roles and groups", async () => {
    const invite = await createInvite(sb, ["--group", "team", "--group", "family", "--role", "member"]);
    const r = await register(server, invite.token, "Alice", "correct horse battery");
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const page = await r.text();
    expect(page).toContain("alice@example.com");
    expect(page).not.toContain("correct horse battery");
    const [account] = query<any>(sb, "SELECT * FROM accounts WHERE username = 'alice'");
    expect(account).toMatchObject({ host: "example.com", invite_id: invite.id, invited_by: "cli" });
    expect(JSON.parse(account.groups)).toEqual(["team", "family"]);
    expect(JSON.parse(account.roles)).toEqual(["member"]);
    expect(account.password_hash).toStartWith("$argon2id$");
    expect(await Bun.password.verify("correct horse battery", account.password_hash)).toBe(true);
    expect(inviteRow(sb, invite.id).uses).toBe(1);
    const ledger = query<any>(sb, "SELECT * FROM redemptions WHERE invite_id = ?", invite.id);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ username: "alice", host: "example.com", kind: "account", invite_created_by: "cli", source: "web" });
    const used = auditEvents(sb, "invite.used").filter((e) => JSON.parse(e.details).invite_id === invite.id);
    expect(used).toHaveLength(1);
    expect(used[0]!.source).toBe("web");
    expect(used[0]!.ip).toBe("127.0.0.1");
    const registered = auditEvents(sb, "account.registered").filter((e) => e.user === "alice");
    expect(registered).toHaveLength(1);
    expect(JSON.parse(registered[0]!.details)).toMatchObject({ invite_id: invite.id, invited_by: "cli", roles: ["member"], groups: ["team", "family"] });
    // The password is nowhere in the database in clear.
    const file = Buffer.from(await Bun.file(sb.db).arrayBuffer());
    const wal = (await Bun.file(`${sb.db}-wal`).exists()) ? Buffer.from(await Bun.file(`${sb.db}-wal`).arrayBuffer()) : Buffer.alloc(0);
    expect(file.includes("correct horse battery")).toBe(false);
    expect(wal.includes("correct horse battery")).toBe(false);
  });

  test("the same link a second time is refused with a 303 to the landing page", async () => {
    const { token } = await createInvite(sb);
    expect((await register(server, token, "bob", "correct horse battery")).status).toBe(200);
    const again = await register(server, token, "bob2", "correct horse battery");
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe(`./invite?${token}`);
    expect(query(sb, "SELECT * FROM accounts WHERE username = 'bob2'")).toHaveLength(0);
  });

  test("multipart/form-data works too, and so does the browser form's password_confirm", async () => {
    const { token } = await createInvite(sb);
    const form = new FormData();
    form.set("token", token);
    form.set("user", "multi");
    form.set("password", "correct horse battery");
    form.set("password_confirm", "correct horse battery");
    const r = await get(`${server.url}/register`, { method: "POST", body: form });
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("multi@example.com");
  });

  test("usernames are normalised: NFKC then lower case", async () => {
    for (const [typed, stored] of [["ÅSA", "åsa"], ["ｆｕｌｌ", "full"], ["Mixed.Case_1", "mixed.case_1"]]) {
      const { token } = await createInvite(sb);
      const r = await register(server, token, typed!, "correct horse battery");
      expect(r.status).toBe(200);
      expect(await r.text()).toContain(`${stored}@example.com`);
      expect(query(sb, "SELECT * FROM accounts WHERE username = ?", stored!)).toHaveLength(1);
    }
  });

  test("a token in the query (?t=) is accepted when the form has none", async () => {
    const { token } = await createInvite(sb);
    const r = await postForm(server, { user: "querytoken", password: "correct horse battery" }, {}, `/register?t=${token}`);
    expect(r.status).toBe(200);
  });
});

describe("POST: refusals re-render the form, keep the typed username and consume nothing", () => {
  const long = "x".repeat(65);
  const cases: [string, Record<string, string>, number, RegExp][] = [
    ["missing user", { password: "correct horse battery" }, 400, /choose a username/],
    ["empty user", { user: "", password: "correct horse battery" }, 400, /choose a username/],
    ["missing password", { user: "nopass" }, 400, /choose a password/],
    ["space", { user: "has space", password: "correct horse battery" }, 400, /can't contain spaces/],
    ["tab", { user: "has\ttab", password: "correct horse battery" }, 400, /can't contain spaces/],
    ["newline", { user: "new\nline", password: "correct horse battery" }, 400, /can't contain spaces/],
    ["control", { user: "ctl\u0001x", password: "correct horse battery" }, 400, /can't contain spaces/],
    ["nul", { user: "nul\u0000x", password: "correct horse battery" }, 400, /can't contain spaces/],
    ["zero-width", { user: "zero\u200bwidth", password: "correct horse battery" }, 400, /invisible or blank characters/],
    ["too long", { user: long, password: "correct horse battery" }, 400, /at most 64 characters/],
    ["very long", { user: "y".repeat(50_000), password: "correct horse battery" }, 400, /at most 64 characters/],
    ["short password", { user: "shorty", password: "1234567" }, 400, /at least 8 characters/],
    ["password has name", { user: "dana", password: "my-DANA-password" }, 400, /must not contain your username/],
    ["password control char", { user: "ctlpw", password: "correct\u0007horse" }, 400, /control characters/],
    ["password too long", { user: "longpw", password: "p".repeat(1025) }, 400, /too long/],
    ["very long password", { user: "longpw2", password: "p".repeat(60_000) }, 400, /too long/],
    ["confirm differs", { user: "confirm", password: "correct horse battery", password_confirm: "correct horse batterY" }, 400, /don't match/],
  ];
  for (const ch of ["@", "/", ":", '"', "'", "&", "<", ">"]) cases.push([`char ${ch}`, { user: `a${ch}b`, password: "correct horse battery" }, 400, /can't contain spaces/]);

  for (const [name, fields, status, message] of cases) {
    test(name, async () => {
      const invite = await createInvite(sb);
      const before = auditEvents(sb, "registration.refused").length;
      const r = await postForm(server, { token: invite.token, ...fields });
      expect(r.status).toBe(status);
      expect(r.headers.get("cache-control")).toBe("no-store");
      const page = await r.text();
      expect(alertText(page)).toMatch(message);
      const typed = (fields.user ?? "").replace(/[\x00-\x1f\x7f]/g, "").slice(0, 256);
      expect(userFieldValue(page)).toBe(escapeHtml(typed));
      expect(page).toContain(`name="token" value="${invite.token}"`);
      if (fields.password) expect(page).not.toContain(fields.password.slice(0, 40));
      expect(inviteRow(sb, invite.id).uses).toBe(0);
      const refused = auditEvents(sb, "registration.refused");
      expect(refused.length).toBe(before + 1);
      const details = JSON.parse(refused.at(-1)!.details);
      expect(details.reason).toMatch(/^[a-z_]+$/);
      expect(details.invite_id).toBe(invite.id);
      expect(refused.at(-1)!.details).not.toContain("password\":");
      if (fields.password) expect(JSON.stringify(refused.at(-1))).not.toContain(fields.password.slice(0, 40));
    });
  }

  test("HTML in the username is escaped, never rendered", async () => {
    const invite = await createInvite(sb);
    const evil = `"><img src=x onerror=alert(1)><script>alert(2)</script>`;
    const r = await register(server, invite.token, evil, "correct horse battery");
    expect(r.status).toBe(400);
    const page = await r.text();
    expect(page).not.toContain("<img src=x");
    expect(page).not.toContain("<script>");
    expect(userFieldValue(page)).toBe(escapeHtml(evil));
    expect(inviteRow(sb, invite.id).uses).toBe(0);
  });

  test("an existing username (any case) is 'already in use' and the invite stays unused", async () => {
    await makeAccount(sb, server, "taken");
    const invite = await createInvite(sb);
    const r = await register(server, invite.token, "TAKEN", "correct horse battery");
    expect(r.status).toBe(409);
    const page = await r.text();
    expect(alertText(page)).toMatch(/already in use/);
    expect(userFieldValue(page)).toBe("TAKEN");
    expect(inviteRow(sb, invite.id).uses).toBe(0);
    const refused = auditEvents(sb, "registration.refused").at(-1)!;
    expect(JSON.parse(refused.details).reason).toBe("username_taken");
    expect(refused.user).toBe("taken");
    // The same invite still works for a free name.
    expect((await register(server, invite.token, "nottaken", "correct horse battery")).status).toBe(200);
  });

  test("undecodable bytes in the username are refused", async () => {
    const invite = await createInvite(sb);
    const r = await get(`${server.url}/register`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: `token=${invite.token}&user=ab%FF%FEcd&password=correct+horse+battery`,
    });
    expect(r.status).toBe(400);
    expect(alertText(await r.text())).toMatch(/can't contain/);
    expect(inviteRow(sb, invite.id).uses).toBe(0);
  });
});

describe("username-bound invites", () => {
  test("accept only their username (in any case), refuse others", async () => {
    const invite = await createInvite(sb, ["--username", "erin"]);
    const form = await (await get(`${server.url}/register?t=${invite.token}`)).text();
    expect(userFieldValue(form)).toBe("erin");
    expect(form).toMatch(/<input id="user" name="user" value="erin" readonly/);
    const wrong = await register(server, invite.token, "frank", "correct horse battery");
    expect(wrong.status).toBe(403);
    expect(alertText(await wrong.text())).toContain("only be used for the username “erin”");
    expect(inviteRow(sb, invite.id).uses).toBe(0);
    expect(query(sb, "SELECT * FROM accounts WHERE username = 'frank'")).toHaveLength(0);
    const right = await register(server, invite.token, "ERIN", "correct horse battery");
    expect(right.status).toBe(200);
    expect(await right.text()).toContain("erin@example.com");
  });
});

describe("cross-site posts", () => {
  const refusedHeaders: Record<string, string>[] = [
    { Origin: "https://evil.example" },
    { Origin: "null" },
    { Origin: "https://example.com.evil.example" },
    { "Sec-Fetch-Site": "cross-site" },
    { "Sec-Fetch-Site": "same-site" },
    { "Sec-Fetch-Site": "cross-site", Origin: "https://example.com" },
  ];
  for (const headers of refusedHeaders) {
    test(`refused: ${JSON.stringify(headers)}`, async () => {
      const invite = await createInvite(sb);
      const before = auditEvents(sb, "registration.refused").length;
      const r = await register(server, invite.token, "csrf", "correct horse battery", headers);
      expect(r.status).toBe(403);
      expect(await r.text()).toContain("sent from another site");
      expect(inviteRow(sb, invite.id).uses).toBe(0);
      expect(query(sb, "SELECT * FROM accounts WHERE username = 'csrf'")).toHaveLength(0);
      const refused = auditEvents(sb, "registration.refused");
      expect(refused.length).toBe(before + 1);
      expect(JSON.parse(refused.at(-1)!.details).reason).toBe("cross_site");
    });
  }

  const acceptedHeaders: Record<string, string>[] = [
    {},
    { Origin: "https://example.com" }, // the public URL
    { Origin: "SELF" }, // the origin the request was addressed to
    { "Sec-Fetch-Site": "same-origin" },
    { "Sec-Fetch-Site": "same-origin", Origin: "null" }, // Referrer-Policy no-referrer makes browsers send null
    { "Sec-Fetch-Site": "none" },
  ];
  acceptedHeaders.forEach((headers, i) => {
    test(`accepted: ${JSON.stringify(headers)}`, async () => {
      const invite = await createInvite(sb);
      const h = { ...headers };
      if (h.Origin === "SELF") h.Origin = server.url;
      const r = await register(server, invite.token, `sameorigin${i}`, "correct horse battery", h);
      expect(r.status).toBe(200);
    });
  });
});

describe("bodies: parsed defensively, 4xx never 500", () => {
  const cases: [string, RequestInit, number][] = [
    ["json", { headers: { "Content-Type": "application/json" }, body: '{"user":"a"' }, 415],
    ["text", { headers: { "Content-Type": "text/plain" }, body: "user=a" }, 415],
    ["no type", { body: new Uint8Array([1, 2, 3]) }, 415],
    ["huge urlencoded", { headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "user=" + "a".repeat(200_000) }, 413],
    ["multipart without boundary", { headers: { "Content-Type": "multipart/form-data" }, body: "user=a" }, 400],
    ["broken multipart", { headers: { "Content-Type": "multipart/form-data; boundary=zz" }, body: "--zz\r\nContent-Disposition: form-data\r\n\r\nx" }, 400],
    ["duplicate field", { headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "user=a&user=b&password=x&token=y" }, 400],
    ["too many fields", { headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: Array.from({ length: 40 }, (_, i) => `f${i}=1`).join("&") }, 400],
    ["binary junk", { headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new Uint8Array([0xff, 0xfe, 0x00, 0x25, 0x25, 0xc3, 0x28]) }, 303],
    ["empty", { headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "" }, 303],
  ];
  for (const [name, init, status] of cases) {
    test(name, async () => {
      const r = await get(`${server.url}/register`, { method: "POST", ...init });
      expect(r.status).toBe(status);
      await r.arrayBuffer();
    });
  }

  test("a file upload is refused", async () => {
    const { token, id } = await createInvite(sb);
    const form = new FormData();
    form.set("token", token);
    form.set("user", new File(["abc"], "user.txt"));
    form.set("password", "correct horse battery");
    const r = await get(`${server.url}/register`, { method: "POST", body: form });
    expect(r.status).toBe(400);
    expect(inviteRow(sb, id).uses).toBe(0);
  });

  test("raw requests: lying or invalid Content-Length, chunked junk", async () => {
    const requests = [
      `POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999999\r\nConnection: close\r\n\r\nuser=a`,
      `POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: abc\r\nConnection: close\r\n\r\nuser=a`,
      `POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nuser\r\n`,
      `POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${"b".repeat(5000)}\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd`,
    ];
    for (const req of requests) {
      const head = await rawRequest(server.port, req, 3000);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      expect(`${status === 0 || (status >= 300 && status < 500)}`).toBe("true");
    }
    expect((await get(`${server.url}/healthz`)).status).toBe(200);
    expect(server.output()).not.toMatch(/unhandled error|request failed/);
  });
});

describe("reset invites", () => {
  test("show a set-new-password form and change the password once", async () => {
    await makeAccount(sb, server, "gina", "old password one");
    const invite = await createInvite(sb, ["--reset", "gina"]);
    const form = await (await get(`${server.url}/register?t=${invite.token}`)).text();
    expect(form).toContain("Set a new password");
    expect(form).toContain("gina@example.com");
    expect(form).toMatch(/<input id="user" name="user" value="gina" readonly/);

    const weak = await postForm(server, { token: invite.token, password: "short" });
    expect(weak.status).toBe(400);
    expect(inviteRow(sb, invite.id).uses).toBe(0);
    const other = await postForm(server, { token: invite.token, user: "someone", password: "new password two" });
    expect(other.status).toBe(403);

    const ok = await postForm(server, { token: invite.token, user: "gina", password: "new password two" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toBe("no-store");
    const page = await ok.text();
    expect(page).toContain("Your new password is set");
    expect(page).toContain("gina@example.com");
    expect(page).not.toContain("new password two");
    const [account] = query<any>(sb, "SELECT * FROM accounts WHERE username = 'gina'");
    expect(await Bun.password.verify("new password two", account.password_hash)).toBe(true);
    expect(await Bun.password.verify("old password one", account.password_hash)).toBe(false);
    expect(accountCount(sb)).toBeGreaterThan(0);
    expect(auditEvents(sb, "account.password_reset").filter((e) => e.user === "gina")).toHaveLength(1);
    expect(query<any>(sb, "SELECT * FROM redemptions WHERE invite_id = ?", invite.id)).toMatchObject([{ username: "gina", kind: "reset" }]);

    const again = await postForm(server, { token: invite.token, password: "third password" });
    expect(again.status).toBe(303);
  });

  test("a reset for an account deleted meanwhile is refused and consumes nothing", async () => {
    await makeAccount(sb, server, "henry");
    const invite = await createInvite(sb, ["--reset", "henry"]);
    expect((await cli(["user", "delete", "example.com", "henry"], { config: sb.config })).code).toBe(0);
    const r = await postForm(server, { token: invite.token, password: "new password two" });
    expect(r.status).toBe(410);
    expect(alertText(await r.text())).toMatch(/no longer exists/);
    expect(inviteRow(sb, invite.id).uses).toBe(0);
  });
});

describe("host settings", () => {
  test("register_path, invite_path, username_max_length and password_min_length are honoured", async () => {
    const invite = await createInvite(sb, [], "strict.test");
    expect(invite.url).toStartWith("https://strict.test/join?");
    const landing = await (await get(`${server.url}/join?${invite.token}`)).text();
    expect(landing).toContain(`href="./signup?t=${invite.token}"`);
    expect((await get(`${server.url}/signup?t=${invite.token}`)).status).toBe(200);
    const post = (user: string, password: string) => postForm(server, { token: invite.token, user, password }, {}, "/signup");
    expect(alertText(await (await post("elevenchars", "twelve chars!")).text())).toMatch(/at most 10 characters/);
    expect(alertText(await (await post("ten", "elevenchars")).text())).toMatch(/at least 12 characters/);
    const ok = await post("tenletters", "twelve chars!");
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("tenletters@strict.test");
    expect(query(sb, "SELECT host FROM accounts WHERE username = 'tenletters'")).toEqual([{ host: "strict.test" }]);
    // A dead token on /signup goes to /join.
    const dead = await post("another", "twelve chars!");
    expect(dead.status).toBe(303);
    expect(dead.headers.get("location")).toBe(`./join?${invite.token}`);
  });
});

describe("the success page says only what is true for the host", () => {
  test("without a provider the account lives in invited alone: no app list, a link to sign in here", async () => {
    const invite = await createInvite(sb);
    const r = await register(server, invite.token, "onlyhere", "correct horse battery");
    expect(r.status).toBe(200);
    const page = await r.text();
    expect(page).toContain("no chat server has it yet");
    expect(page).toContain('href="./account/login"');
    expect(page).not.toContain("Next: sign in from an app");
  });

  test("with a provider the apps are offered", async () => {
    const other = sandbox('[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".provision]\ntype = "command"\ncommand = ["true"]\n');
    const s = await startServer(other);
    try {
      const invite = await createInvite(other);
      const r = await register(s, invite.token, "downstream", "correct horse battery");
      expect(r.status).toBe(200);
      const page = await r.text();
      expect(page).toContain("Next: sign in from an app");
      expect(page).not.toContain("no chat server has it yet");
    } finally {
      await s.stop();
      other.cleanup();
    }
  });
});
